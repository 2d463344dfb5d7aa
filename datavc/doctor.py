"""``datavc doctor``: check the database, the object store and (when used) Kubernetes, and say
in plain words what is wrong and how to fix it."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from datavc import config as _config
from datavc.errors import DatavcError
from datavc.info import _Info


@dataclass(frozen=True, slots=True)
class Check(_Info):
    name: str
    ok: bool
    detail: str
    fix: str = ""


@dataclass(frozen=True, slots=True)
class DoctorInfo(_Info):
    checks: tuple[Check, ...]

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks)


def _store_config(home: str | None) -> tuple[_config.StoreConfig | None, Check]:
    db, objects = os.environ.get("DATAVC_DB"), os.environ.get("DATAVC_OBJECTS")
    if not home and db and objects:
        cfg = _config.StoreConfig(Path("/nonexistent/.datavc"), db, objects, os.environ.get("DATAVC_CACHE"))
        return cfg, Check("store", True, "from DATAVC_DB and DATAVC_OBJECTS")
    try:
        cfg = _config.find(home)
    except DatavcError as err:
        return None, Check(
            "store",
            False,
            str(err),
            "run 'datavc init' (or set DATAVC_HOME, or DATAVC_DB and DATAVC_OBJECTS)",
        )
    return cfg, Check("store", True, f"{cfg.home}")


def _check_db(cfg: _config.StoreConfig) -> Check:
    from datavc import identity

    url = cfg.db
    try:
        # Checks the pair too (same store id in both halves); never creates a schema.
        db, store = identity.open_pair(cfg)
        store.close()
    except identity.StoreMismatch as err:
        return Check("database", False, str(err), "restore the store's database and objects together")
    except DatavcError as err:
        fix = (
            "start PostgreSQL or fix the URL (host, port, user; password from the URL or PGPASSWORD)"
            if "postgres" in url
            else "check that the SQLite file's directory exists and is writable"
        )
        return Check("database", False, str(err), fix)
    try:
        from sqlalchemy import text

        with db.read() as s:
            s.execute(text("SELECT 1 FROM repos LIMIT 1"))
        return Check("database", True, f"{db.url_for_display} ({db.dialect}), schema up to date")
    finally:
        db.dispose()


def _check_objects(cfg: _config.StoreConfig) -> Check:
    from storage import errors as serr
    from storage.store import ObjectStore

    try:
        store = ObjectStore.open(cfg.objects, cache_dir=cfg.cache)
    except serr.StorageError as err:
        fix = (
            "check AWS_ENDPOINT_URL, the bucket and AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"
            if cfg.objects.startswith("s3://")
            else "check that the objects directory exists and is readable"
        )
        if isinstance(err, serr.StoreConfigError):
            fix = "run 'datavc init' with this object store, or point the config at the right one"
        return Check("object store", False, str(err), fix)
    try:
        with store.writer() as w:
            entry = w.put_bytes(b"datavc doctor: write probe\n", "probe")
        store.read_bytes(entry)
        return Check("object store", True, f"{cfg.objects} ({store.algorithm.name}): write and read back ok")
    except serr.StorageError as err:
        return Check(
            "object store",
            False,
            f"{cfg.objects}: {err}",
            "check write permissions on the bucket or directory",
        )
    finally:
        store.close()


_K8S_NEEDS = [
    ("batch", "jobs", "create"),
    ("batch", "jobs", "get"),
    ("batch", "jobs", "list"),
    ("batch", "jobs", "watch"),
    ("batch", "jobs", "delete"),
    ("", "pods", "list"),
    ("", "pods", "get"),
    ("", "pods/log", "get"),
]
_K8S_SECRET_NEEDS = [("", "secrets", "create"), ("", "secrets", "delete")]
"""With a server (``DATAVC_K8S_SERVER``): each job's token goes into a Secret of its own."""


def _check_kubernetes(settings: dict[str, Any]) -> list[Check]:
    from datavc.pipelines.executors import kubernetes_executor
    from datavc.pipelines.executors.kubernetes import EXTRA_HINT

    try:
        from kubernetes import client
    except ImportError:
        return [Check("kubernetes", False, "the kubernetes package is not installed", EXTRA_HINT)]
    try:
        ex = kubernetes_executor(settings)
        batch, _ = ex.apis()
    except DatavcError as err:
        return [
            Check(
                "kubernetes",
                False,
                str(err),
                "set KUBECONFIG, or run inside the cluster with a ServiceAccount",
            )
        ]
    ns = ex.namespace
    checks = []
    try:
        batch.list_namespaced_job(ns, limit=1)
        checks.append(Check("kubernetes", True, f"API reachable, namespace {ns}"))
    except Exception as err:
        return [
            Check(
                "kubernetes",
                False,
                f"cannot list Jobs in namespace {ns}: {err}",
                "check the kubeconfig context and the namespace",
            )
        ]
    auth = client.AuthorizationV1Api(batch.api_client)
    missing = []
    for group, resource, verb in _K8S_NEEDS + (_K8S_SECRET_NEEDS if ex.server else []):
        sub = resource.split("/")
        review = client.V1SelfSubjectAccessReview(
            spec=client.V1SelfSubjectAccessReviewSpec(
                resource_attributes=client.V1ResourceAttributes(
                    namespace=ns,
                    group=group,
                    resource=sub[0],
                    subresource=sub[1] if len(sub) > 1 else None,
                    verb=verb,
                )
            )
        )
        try:
            if not auth.create_self_subject_access_review(review).status.allowed:
                missing.append(f"{verb} {resource}")
        except Exception:
            checks.append(
                Check("kubernetes permissions", True, "cannot verify (no SelfSubjectAccessReview API)")
            )
            return checks
    if missing:
        checks.append(
            Check(
                "kubernetes permissions",
                False,
                "missing: " + ", ".join(missing),
                "apply deploy/kubernetes/role.yaml and rolebinding.yaml to the daemon's ServiceAccount",
            )
        )
    else:
        checks.append(
            Check(
                "kubernetes permissions",
                True,
                "jobs create/get/list/watch/delete, pods get/list, pods/log get",
            )
        )
    if ex.server:
        checks.append(
            Check(
                "kubernetes secret",
                True,
                f"worker pods get a job token in a Secret per job and reach the store through {ex.server}",
            )
        )
        return checks
    secret = os.environ.get("DATAVC_K8S_SECRET") or settings.get("secret") or "datavc-credentials"
    checks.append(
        Check("kubernetes secret", True, f"worker pods read credentials from Secret {secret!r} (envFrom)")
    )
    return checks


#: The check a bad token fails; the CLI exits 9 (not 7) when it is the only failure.
TOKEN_CHECK = "server token"


def _check_server(url: str, token: str | None) -> list[Check]:
    """``DATAVC_SERVER``: reachable, TLS verified, ready, and the token valid (who it belongs to).

    Stops at the first failure: a token cannot be checked on a server that does not answer.
    """
    import ssl

    try:
        import httpx
    except ImportError:
        return [Check("server", False, "the remote client is not installed", "pip install 'datavc[server]'")]
    url = url.strip().rstrip("/")
    if not url.startswith(("http://", "https://")):
        return [
            Check(
                "server", False, f"{url!r} is not an http(s) URL", "set DATAVC_SERVER to http(s)://host:port"
            )
        ]
    ca = os.environ.get("DATAVC_CA_BUNDLE")
    try:
        verify: bool | ssl.SSLContext = ssl.create_default_context(cafile=ca) if ca else True
    except (OSError, ssl.SSLError) as err:
        return [
            Check(
                "server TLS",
                False,
                f"cannot load DATAVC_CA_BUNDLE {ca}: {err}",
                "point DATAVC_CA_BUNDLE at a PEM CA file",
            )
        ]
    checks: list[Check] = []
    try:
        with httpx.Client(base_url=url, verify=verify, timeout=10) as http:
            health = http.get("/healthz")
            ready = http.get("/readyz")
    except httpx.ConnectError as err:
        if "CERTIFICATE_VERIFY_FAILED" in str(err) or "SSL" in str(err):
            return [
                Check(
                    "server TLS",
                    False,
                    f"{url}: the certificate is not trusted ({err})",
                    "set DATAVC_CA_BUNDLE to the CA certificate that signed the server's certificate",
                )
            ]
        return [
            Check(
                "server",
                False,
                f"cannot reach {url}: {err}",
                "start 'datavc serve' there, or fix the host and port in DATAVC_SERVER",
            )
        ]
    except httpx.TransportError as err:
        return [Check("server", False, f"{url}: {err}", "check that DATAVC_SERVER is a datavc server")]
    if health.status_code != 200:
        return [
            Check(
                "server",
                False,
                f"{url}/healthz answered HTTP {health.status_code}",
                "check that DATAVC_SERVER points at a datavc server (not a proxy or another service)",
            )
        ]
    version = health.json().get("version", "?") if "json" in health.headers.get("content-type", "") else "?"
    checks.append(Check("server", True, f"{url} answers (datavc {version})"))
    if url.startswith("https://"):
        checks.append(Check("server TLS", True, "certificate verified" + (f" against {ca}" if ca else "")))
    else:
        checks.append(
            Check("server TLS", True, "plain HTTP: use https:// (serve --tls-cert/--tls-key) off this host")
        )
    if ready.status_code != 200:
        return [
            *checks,
            Check(
                "server backends",
                False,
                f"{url}/readyz answered HTTP {ready.status_code}",
                "the server cannot reach its database or object store: run 'datavc doctor' on the server",
            ),
        ]
    checks.append(Check("server backends", True, "database and object store ready"))
    try:
        with httpx.Client(base_url=url, verify=verify, timeout=10) as http:
            resp = http.get(
                "/api/v1/auth/whoami", headers={"Authorization": f"Bearer {token}"} if token else {}
            )
    except httpx.TransportError as err:
        return [*checks, Check(TOKEN_CHECK, False, f"{url}: {err}", "try again; check the server's log")]
    if resp.status_code != 200:
        try:
            message = str(resp.json()["error"]["message"])
        except (ValueError, KeyError, TypeError):
            message = f"server answered HTTP {resp.status_code}"
        fix = (
            "run 'datavc login URL' with a valid token, or set DATAVC_TOKEN "
            "(an admin makes one with 'datavc auth token create --user NAME')"
            if resp.status_code == 401
            else "check the server's log"
        )
        return [*checks, Check(TOKEN_CHECK, False, message, fix)]
    who: dict[str, Any] = resp.json()
    roles = ", ".join(f"{r} on {repo}" for repo, r in sorted(who.get("roles", {}).items())) or "no repo roles"
    role_text = "admin" if who.get("admin") else roles
    checks.append(Check(TOKEN_CHECK, True, f"valid: user {who.get('user')} ({role_text})"))
    return checks


def doctor(home: str | None = None, *, server: str | None = None, token: str | None = None) -> DoctorInfo:
    """Run every check that applies: the server's (with ``token``) if ``server`` is set, else the store's."""
    if server:
        return DoctorInfo(tuple(_check_server(server, token)))
    cfg, found = _store_config(home)
    checks = [found]
    if cfg is None:
        return DoctorInfo(tuple(checks))
    checks.append(_check_db(cfg))
    checks.append(_check_objects(cfg))
    kind = os.environ.get("DATAVC_EXECUTOR") or cfg.executor.get("kind") or "local"
    if kind == "kubernetes":
        checks.extend(_check_kubernetes(cfg.executor))
    else:
        checks.append(Check("executor", True, "local (datums run as processes on this machine)"))
    return DoctorInfo(tuple(checks))
