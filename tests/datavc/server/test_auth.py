"""Authorization: a matrix built from the app's route table, token lifecycle, bootstrap, audit, secrets."""

from __future__ import annotations

import os
import re
import stat
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from fastapi.routing import APIRoute
from sqlalchemy import update

from datavc import accounts, audit, errors
from datavc.accounts import ROLE_RANK
from datavc.client import Client
from datavc.context import now
from datavc.db.models import ApiToken
from datavc.server.app import check_permissions, create_app, route_permission
from datavc.server.errors import STATUS
from datavc.server.serve import bootstrap
from tests.datavc.server.conftest import Server

IDENTITIES = ("anonymous", "reader", "writer", "owner", "admin", "other_owner", "expired", "revoked")
SAMPLE = {
    "repo": "r1",
    "branch": "main",
    "commit": "main",
    "ref": "main",
    "tag": "v1",
    "user": "nobody",
    "token": "0000000000000000",
    "key": "DVCNOSUCHKEY0000000",  # an S3 access key id
    "job": "0123456789abcdef0123456789abcdef",
    "datum": "0123456789abcdef",
    "commit_set": "0123456789abcdef0123456789abcdef",
    "path": "f.txt",
    "hook": "h1",
}


def expected_denial(identity: str, route: APIRoute) -> int | None:
    """401 or 403 when ``identity`` must be refused by ``route``'s declared permission, else None."""
    perm = route_permission(route)
    assert perm is not None
    if perm.kind == "public":
        return None
    if identity in ("anonymous", "expired", "revoked"):
        return 401
    if perm.kind == "job":  # worker routes: only the token of the path's job, never a user's
        return 403
    if perm.kind == "authenticated" or identity == "admin":
        return None
    if perm.kind == "admin":
        return 403
    have = {"reader": "reader", "writer": "writer", "owner": "owner"}.get(identity)
    assert perm.role is not None
    return None if have is not None and ROLE_RANK[have] >= ROLE_RANK[perm.role] else 403


def set_up_identities(srv: Server) -> dict[str, str | None]:
    ctx = srv.direct.context
    srv.direct.create_repo("r1")
    srv.direct.put_file("r1", "main", "/f.txt", b"data")
    srv.direct.create_repo("r2")
    tokens: dict[str, str | None] = {"anonymous": None, "admin": srv.admin_token}
    for who in ("reader", "writer", "owner", "other_owner", "expired", "revoked"):
        tokens[who] = srv.user(who)
    for who in ("reader", "writer", "owner"):
        accounts.grant_role(ctx, "r1", who, who)
    accounts.grant_role(ctx, "r2", "other_owner", "owner")
    for who in ("expired", "revoked"):  # owners of r1: only their token's state refuses them
        accounts.grant_role(ctx, "r1", who, "owner")
    with ctx.db.write() as s:
        s.execute(
            update(ApiToken)
            .where(ApiToken.token_hash == accounts.hash_token(tokens["expired"] or ""))
            .values(expires_at=now() - timedelta(seconds=1))
        )
    revoked = [t for t in accounts.list_tokens(ctx, "revoked")]
    accounts.revoke_token(ctx, revoked[0].id)
    return tokens


def test_authorization_matrix_from_the_route_table(server: Server) -> None:
    tokens = set_up_identities(server)
    routes = [r for r in server._server.config.app.routes if isinstance(r, APIRoute)]  # type: ignore[attr-defined]
    assert len(routes) >= 35
    checked = 0
    with httpx.Client(base_url=server.url) as http:
        for route in routes:
            assert route_permission(route) is not None, f"{route.path} declares no permission"
            url = re.sub(r"\{(\w+)(:path)?\}", lambda m: SAMPLE[m.group(1)], route.path)
            for method in sorted(route.methods or ()):
                for who in IDENTITIES:
                    tok = tokens[who]
                    headers = {"Authorization": f"Bearer {tok}"} if tok else {}
                    resp = http.request(method, url, headers=headers)
                    want = expected_denial(who, route)
                    got = resp.status_code
                    where = f"{method} {route.path} as {who}: {got} {resp.text[:200]}"
                    if want is None:
                        assert got not in (401, 403) and got < 500, where
                    else:
                        assert got == want, where
                        body = resp.json()["error"]
                        assert body["category"] == ("unauthenticated" if want == 401 else "forbidden"), where
                        if want == 403:
                            assert "needs" in body["message"], where
                    checked += 1
    assert checked == len(IDENTITIES) * sum(len(r.methods or ()) for r in routes)


def test_a_route_without_a_declared_permission_is_refused(tmp_path: Path) -> None:
    with Client.init(tmp_path / "s") as c:
        app = create_app(c)
        check_permissions(app)
        app.add_api_route("/api/v1/undeclared", lambda: {"ok": True}, methods=["GET"])
        with pytest.raises(RuntimeError, match="undeclared declares no permission"):
            check_permissions(app)


def test_error_statuses_come_from_one_table() -> None:
    assert STATUS[errors.Unauthenticated] == 401 and STATUS[errors.Forbidden] == 403
    assert {cls for cls in errors.CATEGORIES} <= set(STATUS)
    assert (errors.Unauthenticated.exit_code, errors.Forbidden.exit_code) == (9, 10)


def test_tokens_are_random_hashed_shown_once_and_revocable(server: Server) -> None:
    ctx = server.direct.context
    accounts.create_user(ctx, "bob")
    a = accounts.create_token(ctx, "bob", name="laptop")
    b = accounts.create_token(ctx, "bob")
    assert a.secret and b.secret and a.secret != b.secret
    assert len(a.secret) >= 4 + 43  # 32 random bytes, URL-safe base64
    with ctx.db.read() as s:
        stored = {t.token_hash for t in s.query(ApiToken)}
    assert accounts.hash_token(a.secret) in stored and a.secret not in stored
    assert all(t.secret is None for t in accounts.list_tokens(ctx, "bob"))
    bob = server.client(a.secret)
    assert bob.whoami()["user"] == "bob"
    bob.revoke_token(a.id)
    with pytest.raises(errors.Unauthenticated, match="revoked"):
        bob.whoami()
    assert server.client(b.secret).whoami()["user"] == "bob"
    with pytest.raises(errors.Unauthenticated, match="invalid token"):
        server.client("dvc_" + "A" * 43).whoami()
    with pytest.raises(errors.Unauthenticated, match="authentication required"):
        server.client(None).list_repos()
    short = accounts.create_token(ctx, "bob", expires_in=timedelta(days=1))
    assert short.expires_at is not None and short.expires_at > now()
    used = next(t for t in accounts.list_tokens(ctx, "bob") if t.id == b.id)
    assert used.last_used_at is not None


def test_roles_limit_what_a_user_can_do(server: Server) -> None:
    admin = server.client(server.admin_token)
    admin.create_repo("shared")
    admin.create_repo("private")
    admin.put_file("shared", "main", "/a", b"a")
    admin.create_user("carol")
    tok = admin.create_token("carol").secret
    carol = server.client(tok)
    admin.grant_role("shared", "carol", "reader")
    assert carol.get_file("shared", "main", "/a") == b"a"
    assert [r.name for r in carol.list_repos()] == ["shared"]
    with pytest.raises(errors.Forbidden, match="needs role 'writer' on repo 'shared'"):
        carol.put_file("shared", "main", "/b", b"b")
    with pytest.raises(errors.Forbidden, match="needs role 'reader' on repo 'private'"):
        carol.get_file("private", "main", "/a")
    with pytest.raises(errors.Forbidden, match="admin"):
        carol.create_user("eve")
    own = carol.create_repo("carols")  # any user may create a repo and owns it
    assert own.name == "carols" and carol.whoami()["roles"] == {"carols": "owner", "shared": "reader"}
    carol.grant_role("carols", "admin", "reader")
    admin.revoke_role("shared", "carol")
    with pytest.raises(errors.Forbidden):
        carol.inspect_repo("shared")
    assert [r.user for r in carol.list_roles("carols")] == ["admin", "carol"]


def test_bootstrap_writes_a_private_token_file_once(tmp_path: Path) -> None:
    with Client.init(tmp_path / "s") as c:
        path = bootstrap(c)
        assert path is not None and path == tmp_path / "s" / ".datavc" / "admin-token"
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
        secret = path.read_text().strip()
        assert accounts.authenticate(c.context, secret).is_admin
        assert bootstrap(c) is None  # users exist: nothing is created again
        assert [u.name for u in accounts.list_users(c.context)] == ["admin"]


def test_audit_records_mutations_and_refusals_without_secrets(server: Server) -> None:
    admin = server.client(server.admin_token)
    admin.create_repo("r")
    info = admin.put_file("r", "main", "/x", b"x")
    tok = server.user("dave")
    dave = server.client(tok)
    with pytest.raises(errors.Forbidden):
        dave.put_file("r", "main", "/y", b"y")
    with pytest.raises(errors.Unauthenticated):
        server.client("dvc_forged").get_file("r", "main", "/x")
    with pytest.raises(errors.AlreadyExists):
        admin.create_repo("r")
    entries = audit.list_entries(server.direct.context)
    rows = [(e.user, e.action, e.repo, e.status) for e in entries]
    assert ("admin", "create_repo", "r", 201) in rows
    assert ("admin", "put_file", "r", 200) in rows
    assert ("dave", "put_file", "r", 403) in rows
    assert (None, "get_file", "r", 401) in rows
    assert ("admin", "create_repo", "r", 409) in rows
    put = next(e for e in entries if e.action == "put_file" and e.status == 200)
    assert (put.branch, put.commit) == ("main", info.id)
    refused = next(e for e in entries if e.status == 403)
    assert "needs role 'writer'" in refused.result
    assert all(e.method in ("POST", "PUT", "DELETE") or e.status in (401, 403) for e in entries)
    text = repr(entries) + repr(admin.audit())
    for secret in (server.admin_token, tok, "dvc_forged"):
        assert secret not in text


def test_range_requests(server: Server) -> None:
    admin = server.client(server.admin_token)
    admin.create_repo("r")
    admin.put_file("r", "main", "/f", bytes(range(100)))
    url = f"{server.url}/api/v1/repos/r/refs/main/files/f"
    h = {"Authorization": f"Bearer {server.admin_token}"}
    with httpx.Client() as http:
        full = http.get(url, headers=h)
        assert (full.status_code, full.content, full.headers["accept-ranges"]) == (
            200,
            bytes(range(100)),
            "bytes",
        )
        part = http.get(url, headers={**h, "Range": "bytes=10-19"})
        assert (part.status_code, part.content) == (206, bytes(range(10, 20)))
        assert part.headers["content-range"] == "bytes 10-19/100"
        tail = http.get(url, headers={**h, "Range": "bytes=-5"})
        assert tail.content == bytes(range(95, 100))
        open_end = http.get(url, headers={**h, "Range": "bytes=98-"})
        assert open_end.content == b"\x62\x63"
        bad = http.get(url, headers={**h, "Range": "bytes=100-"})
        assert bad.status_code == 416 and bad.headers["content-range"] == "bytes */100"
        assert bad.json()["error"]["category"] == "invalid argument"


def test_health_readiness_and_openapi(server: Server) -> None:
    with httpx.Client(base_url=server.url) as http:
        assert http.get("/healthz").json()["status"] == "ok"
        assert http.get("/readyz").json()["status"] == "ready"
        doc = http.get("/openapi.json").json()
        assert all(p.startswith(("/api/v1/", "/healthz", "/readyz")) for p in doc["paths"])
        missing = http.get("/api/v1/nothing-here")
        assert missing.status_code == 404 and missing.json()["error"]["category"] == "not found"
        bad = http.post("/api/v1/repos", headers={"Authorization": f"Bearer {server.admin_token}"}, json={})
        assert bad.status_code == 400 and bad.json()["error"]["category"] == "invalid argument"


def test_pipelines_and_jobs_follow_the_output_repos_roles(server: Server) -> None:
    admin = server.client(server.admin_token)
    admin.create_repo("in")
    admin.put_file("in", "main", "/a", b"a")
    admin.create_pipeline(name="out", input={"pfs": {"repo": "in", "glob": "/"}}, transform={"cmd": ["true"]})
    server.direct.run()
    job = admin.list_jobs("out")[0]
    viewer, stranger = server.client(server.user("viewer")), server.client(server.user("stranger"))
    admin.grant_role("out", "viewer", "reader")
    assert viewer.inspect_job(job.id).state == "success"
    assert [p.name for p in viewer.list_pipelines()] == ["out"]
    assert [j.id for j in viewer.list_jobs()] == [job.id]
    with pytest.raises(errors.Forbidden, match="needs role 'writer' on repo 'out'"):
        viewer.stop_pipeline("out")
    # Creating a pipeline needs reader on its inputs (issue 11); viewer has no role on "in".
    with pytest.raises(errors.Forbidden, match="needs role 'reader' on repo 'in'"):
        viewer.create_pipeline(
            name="mine", input={"pfs": {"repo": "in", "glob": "/"}}, transform={"cmd": ["true"]}
        )
    with pytest.raises(errors.Forbidden, match="needs role 'reader' on repo 'out'"):
        stranger.inspect_job(job.id)
    with pytest.raises(errors.Forbidden):
        list(stranger.list_datums(job.id))
    assert stranger.list_jobs() == [] and stranger.list_pipelines() == []
