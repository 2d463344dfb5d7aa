"""Console sessions and permissions: cookies, CSRF, log-in/out, and the route matrix (over HTTP)."""

from __future__ import annotations

import re
from contextlib import closing
from datetime import timedelta

import httpx
from fastapi.routing import APIRoute

from datavc import accounts, audit
from datavc.accounts import ROLE_RANK
from datavc.server.app import route_permission
from datavc.server.console import create_console
from datavc.server.console.sessions import COOKIE
from tests.datavc.server.console.conftest import Console, csrf_of, login

IDENTITIES = ("anonymous", "stranger", "reader", "writer", "admin")


def expected(identity: str, route: APIRoute, method: str) -> int | None:
    """The refusal ``identity`` must get (303 to the log-in page, 401, 403), or None."""
    perm = route_permission(route)
    assert perm is not None, f"{route.path} declares no permission"
    if perm.kind == "public":
        return None
    if identity == "anonymous":
        return 303 if method == "GET" else 401
    if identity == "admin":
        return None
    if perm.kind == "admin":
        return 403
    needed = perm.role
    if perm.kind == "authenticated":
        # Job pages check reader on the job's pipeline inside the route, as the API does.
        needed = "reader" if "{job}" in route.path else None
    if needed is None:
        return None
    have = identity if identity in ROLE_RANK else None
    return None if have is not None and ROLE_RANK[have] >= ROLE_RANK[needed] else 403


def test_every_console_route_declares_and_enforces_its_permission(console: Console) -> None:
    c = console.srv.direct
    job = c.list_jobs("upper")[0].id
    datum = next(iter(c.list_datums(job))).id
    sample = {
        "repo": "raw",
        "ref": "main",
        "commit": "main",
        "path": "labels.csv",
        "job": job,
        "datum": datum,
    }
    routes = [r for r in create_console(c).routes if isinstance(r, APIRoute)]
    assert len(routes) >= 18
    routes.sort(key=lambda r: r.path == "/logout")  # last: it ends the sessions
    clients = {who: console.session(who) for who in IDENTITIES if who != "anonymous"}
    clients["anonymous"] = httpx.Client(base_url=console.url)
    tokens = {who: csrf_of(h.get("/").text) if who != "anonymous" else "" for who, h in clients.items()}
    checked = 0
    try:
        for route in routes:
            if route.path == "/login":
                continue  # public; its CSRF and refusals have their own tests below
            url = re.sub(r"\{(\w+)(:path)?\}", lambda m: sample[m.group(1)], route.path)
            if "{repo}" in route.path and "pipelines" in route.path:
                url = url.replace("/raw", "/upper")
            for method in sorted(route.methods or ()):
                for who in IDENTITIES:
                    data = None
                    if method == "POST":
                        data = {"csrf": tokens[who], "name": f"b{checked}", "from_ref": "main"}
                    resp = clients[who].request(method, url, data=data)
                    want = expected(who, route, method)
                    where = f"{method} {route.path} as {who}: {resp.status_code} {resp.text[:300]}"
                    if want is None:
                        assert resp.status_code not in (401, 403) and resp.status_code < 500, where
                        if route.path != "/logout":  # its success is a redirect to the log-in page
                            assert not resp.headers.get("location", "").startswith("/ui/login"), where
                    else:
                        assert resp.status_code == want, where
                        if want == 303:
                            assert resp.headers["location"].startswith("/ui/login?next="), where
                    checked += 1
    finally:
        for h in clients.values():
            h.close()
    assert checked >= 5 * 18


def test_the_session_cookie_is_httponly_samesite_and_never_the_token(console: Console) -> None:
    with httpx.Client(base_url=console.url) as http:
        resp = login(http, console.tokens["reader"], next="/ui/repos/raw")
        assert resp.status_code == 303 and resp.headers["location"] == "/ui/repos/raw"
        cookie = next(v for k, v in resp.headers.multi_items() if k == "set-cookie" and v.startswith(COOKIE))
        assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/ui" in cookie
        assert console.tokens["reader"] not in cookie
        assert http.get("/repos/raw").status_code == 200
        page = http.get("/").text
        assert console.tokens["reader"] not in page
        # Log out (POST with the CSRF token): the session is gone server-side.
        sid = http.cookies[COOKIE]
        assert http.post("/logout", data={"csrf": csrf_of(page)}).status_code == 303
    with httpx.Client(base_url=console.url, cookies={COOKIE: sid}) as replay:
        assert replay.get("/repos/raw").status_code == 303


def test_log_in_refuses_bad_tokens_forged_forms_and_open_redirects(console: Console) -> None:
    with httpx.Client(base_url=console.url) as http:
        resp = login(http, "not-a-token")
        assert resp.status_code == 401 and "not valid" in resp.text
        assert COOKIE not in http.cookies
        # No log-in CSRF cookie/field pair: refused (a page elsewhere cannot log you in as someone).
        resp = http.post("/login", data={"token": console.tokens["reader"], "csrf": "x"})
        assert resp.status_code == 403
        resp = login(http, console.tokens["reader"], next="https://evil.example/")
        assert resp.status_code == 303 and resp.headers["location"] == "/ui/"


def test_a_revoked_token_ends_its_console_session(console: Console) -> None:
    ctx = console.srv.direct.context
    accounts.create_user(ctx, "brief")
    accounts.grant_role(ctx, "raw", "brief", "reader")
    tok = accounts.create_token(ctx, "brief", expires_in=timedelta(hours=1))
    assert tok.secret is not None
    with httpx.Client(base_url=console.url) as http:
        login(http, tok.secret)
        assert http.get("/repos/raw").status_code == 200
        accounts.revoke_token(ctx, tok.id)
        resp = http.get("/repos/raw")
        assert resp.status_code == 303 and resp.headers["location"].startswith("/ui/login")


def test_forms_need_the_sessions_csrf_token(console: Console) -> None:
    with closing(console.session("writer")) as http, closing(console.session("admin")) as other:
        for data in ({}, {"csrf": "forged"}, {"csrf": csrf_of(other.get("/").text)}):
            resp = http.post("/pipelines/upper/stop", data=data)
            assert resp.status_code == 403 and "CSRF" in resp.text
        assert console.srv.direct.inspect_pipeline("upper").state == "running"
        resp = http.post("/pipelines/upper/stop", data={"csrf": csrf_of(http.get("/").text)})
        assert resp.status_code == 303
        assert console.srv.direct.inspect_pipeline("upper").state == "stopped"
        resp = http.post("/pipelines/upper/start", data={"csrf": csrf_of(http.get("/").text)})
        assert console.srv.direct.inspect_pipeline("upper").state == "running"
    entries = [e for e in audit.list_entries(console.srv.direct.context, user="writer") if "stop" in e.path]
    assert [e.status for e in entries][-4:] == [403, 403, 403, 303]
    assert "CSRF" in entries[-2].result and entries[-1].repo == "upper"


def test_the_server_root_leads_to_the_console_and_errors_are_pages(console: Console) -> None:
    with httpx.Client(base_url=console.srv.url) as http:
        assert http.get("/").headers["location"] == "/ui/"
    with closing(console.session("admin")) as http:
        resp = http.get("/repos/nope")
        assert resp.status_code == 404 and "repo &#39;nope&#39; not found" in resp.text
        assert resp.headers["content-type"].startswith("text/html")
        assert "frame-ancestors 'none'" in resp.headers["content-security-policy"]
        assert http.get("/repos/raw/commits/zzzz").status_code in (400, 404)
        assert http.get("/repos/raw/tree/main/..%2F..%2Fetc").status_code in (400, 404)
