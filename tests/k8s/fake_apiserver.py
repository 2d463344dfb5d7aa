"""A fake Kubernetes API server for tests: real HTTP, real apiserver semantics, local processes.

``FakeApiServer`` is a ``ThreadingHTTPServer`` on 127.0.0.1 (random port) that speaks enough of
the Kubernetes REST API for a Job-based executor, driven by the official ``kubernetes`` client:

- ``batch/v1`` Jobs: create, get, list, patch (merge), delete (propagationPolicy), watch.
- ``v1`` Pods: get, list, watch, delete, ``pods/{name}/log``.
- ``v1`` Secrets, ConfigMaps, Namespaces: create, get, list, delete, watch.

Every object received is validated against the official OpenAPI schema (``kubernetes-validate``,
strict) plus the apiserver rules the schema lacks; errors are real ``Status`` bodies.

It also plays the Job controller and the kubelet: each pod's containers run as LOCAL
SUBPROCESSES (``command`` + ``args``; ``image`` is ignored) with the pod's environment.

Test hooks (Python only, not over HTTP): ``jobs``, ``jobs_in()``, ``pods``, ``created_jobs``,
``pause()``/``resume()``, ``env_overrides``, ``kill_pods()``, ``compact()``, ``wait_for()``.
"""

from __future__ import annotations

import base64
import contextlib
import copy
import json
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.k8s import pod_security, validation

Obj = dict[str, Any]
TERMINAL = ("Succeeded", "Failed")
INDEX_LABEL = "batch.kubernetes.io/job-completion-index"
MAX_INT32 = 2**31 - 1
_RAND_CHARS = "bcdfghjklmnpqrstvwxz2456789"  # k8s.io/apimachinery/pkg/util/rand alphabet


def _now_str(t: float | None = None) -> str:
    return datetime.fromtimestamp(time.time() if t is None else t, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _rand5() -> str:
    return "".join(random.choice(_RAND_CHARS) for _ in range(5))


def format_indexes(indexes: set[int]) -> str:
    """``{0,1,2,5}`` -> ``"0-2,5"`` (the format of completedIndexes / failedIndexes)."""
    out: list[str] = []
    run: list[int] = []
    for i in sorted(indexes):
        if run and i == run[-1] + 1:
            run.append(i)
            continue
        if run:
            out.append(str(run[0]) if len(run) == 1 else f"{run[0]}-{run[-1]}")
        run = [i]
    if run:
        out.append(str(run[0]) if len(run) == 1 else f"{run[0]}-{run[-1]}")
    return ",".join(out)


# --- errors ---------------------------------------------------------------------------------------


class ApiError(Exception):
    def __init__(self, code: int, reason: str, message: str, details: Obj | None = None) -> None:
        super().__init__(message)
        self.code, self.reason, self.message, self.details = code, reason, message, details

    def status(self) -> Obj:
        body: Obj = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        }
        if self.details is not None:
            body["details"] = self.details
        return body


@dataclass(frozen=True)
class Kind:
    resource: str
    group: str
    version: str
    kind: str
    namespaced: bool = True

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def qualified(self) -> str:  # "jobs.batch", "pods"
        return f"{self.resource}.{self.group}" if self.group else self.resource

    @property
    def kind_qualified(self) -> str:  # "Job.batch", "Pod"
        return f"{self.kind}.{self.group}" if self.group else self.kind


KINDS = {
    "jobs": Kind("jobs", "batch", "v1", "Job"),
    "pods": Kind("pods", "", "v1", "Pod"),
    "secrets": Kind("secrets", "", "v1", "Secret"),
    "configmaps": Kind("configmaps", "", "v1", "ConfigMap"),
    "namespaces": Kind("namespaces", "", "v1", "Namespace", namespaced=False),
}


def not_found(kind: Kind, name: str) -> ApiError:
    return ApiError(
        404,
        "NotFound",
        f'{kind.qualified} "{name}" not found',
        {"name": name, "group": kind.group, "kind": kind.resource},
    )


def invalid(kind: Kind, name: str, errors: list[validation.FieldError]) -> ApiError:
    msg = "; ".join(str(e) for e in errors)
    return ApiError(
        422,
        "Invalid",
        f'{kind.kind_qualified} "{name}" is invalid: [{", ".join(map(str, errors))}]'
        if len(errors) > 1
        else f'{kind.kind_qualified} "{name}" is invalid: {msg}',
        {
            "name": name,
            "group": kind.group,
            "kind": kind.kind,
            "causes": [{"reason": e.reason, "message": e.message, "field": e.field} for e in errors],
        },
    )


def bad_request(message: str) -> ApiError:
    return ApiError(400, "BadRequest", message)


# --- label / field selectors ---------------------------------------------------------------------

_SEL_SET = re.compile(r"^\s*(!?)\s*([^\s!=]+)\s+(in|notin)\s+\(([^)]*)\)\s*$")
_SEL_EQ = re.compile(r"^\s*([^\s!=]+)\s*(==|=|!=)\s*([^\s]*)\s*$")
_SEL_EXISTS = re.compile(r"^\s*(!?)\s*([^\s!=(),]+)\s*$")


def parse_selector(text: str | None) -> Callable[[dict[str, str]], bool]:
    """Label selector (``a=b,c!=d,e in (x,y),f notin (z),g,!h``) -> predicate over a label dict."""
    if not text:
        return lambda labels: True
    parts, depth, cur = [], 0, ""
    for ch in text:
        depth += ch == "("
        depth -= ch == ")"
        if ch == "," and depth == 0:
            parts.append(cur)
            cur = ""
        else:
            cur += ch
    parts.append(cur)
    tests: list[Callable[[dict[str, str]], bool]] = []
    for part in parts:
        if m := _SEL_SET.match(part):
            if m.group(1):
                raise bad_request(f"unable to parse requirement: {part!r}")
            key, op = m.group(2), m.group(3)
            values = {v.strip() for v in m.group(4).split(",")}
            if op == "in":
                tests.append(lambda lb, k=key, vs=values: lb.get(k) in vs)
            else:
                tests.append(lambda lb, k=key, vs=values: lb.get(k) not in vs)
        elif m := _SEL_EQ.match(part):
            key, op, value = m.groups()
            if op == "!=":
                tests.append(lambda lb, k=key, v=value: lb.get(k) != v)
            else:
                tests.append(lambda lb, k=key, v=value: lb.get(k) == v)
        elif m := _SEL_EXISTS.match(part):
            neg, key = m.groups()
            tests.append((lambda lb, k=key: k not in lb) if neg else (lambda lb, k=key: k in lb))
        else:
            raise bad_request(f"unable to parse requirement: found '{part}', expected: identifier")
    return lambda labels: all(t(labels) for t in tests)


def _field_value(obj: Obj, path: str) -> str | None:
    cur: Any = obj
    for p in path.split("."):
        if not isinstance(cur, dict):
            return None
        cur = cur.get(p)
    return None if cur is None else str(cur)


def parse_field_selector(text: str | None, kind: Kind) -> Callable[[Obj], bool]:
    if not text:
        return lambda obj: True
    allowed = {"metadata.name", "metadata.namespace"}
    if kind.resource == "pods":
        allowed |= {"status.phase", "spec.nodeName", "spec.restartPolicy"}
    if kind.resource == "jobs":
        allowed |= {"status.successful"}
    tests = []
    for part in text.split(","):
        m = _SEL_EQ.match(part)
        if not m or m.group(1) not in allowed:
            raise bad_request(
                f'"{part.split("=")[0]}" is not a known field selector: only "'
                + '", "'.join(sorted(allowed))
                + '"'
            )
        key, op, value = m.groups()
        if key == "status.successful":
            key = "status.succeeded"
        tests.append((key, op != "!=", value))
    return lambda obj: all((_field_value(obj, k) == v) == eq for k, eq, v in tests)


# --- runtime state (not part of the API objects) --------------------------------------------------


@dataclass
class ContainerRun:
    name: str
    proc: subprocess.Popen[bytes] | None = None
    log_path: Path | None = None
    previous_log: Path | None = None
    started_at: float = 0.0
    finished_at: float = 0.0
    exit_code: int | None = None
    reason: str = ""
    restart_count: int = 0
    last_state: Obj = field(default_factory=dict)


@dataclass
class PodRun:
    workdir: Path
    containers: dict[str, ContainerRun] = field(default_factory=dict)
    config_error: str = ""
    kill_at: float | None = None
    by_controller: bool = False  # deleted by the Job controller: not a failure of the index


@dataclass
class JobRun:
    counted: set[str] = field(default_factory=set)  # pod uids already counted
    succeeded: int = 0
    failed: int = 0
    succeeded_indexes: set[int] = field(default_factory=set)
    failed_indexes: set[int] = field(default_factory=set)
    index_failures: dict[int, int] = field(default_factory=dict)
    outcome: tuple[str, str, str] | None = None  # (final condition type, reason, message)
    finished_at: float | None = None


@dataclass
class Event:
    rv: int
    kind: Kind
    namespace: str
    type: str
    obj: Obj
    prev: Obj | None


class _Httpd(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    fake: FakeApiServer

    def process_request(self, request: Any, client_address: Any) -> None:
        with self.fake._lock:
            self.fake._connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self.fake._lock:
            self.fake._connections.discard(request)
        super().shutdown_request(request)


class FakeApiServer:
    """Fake apiserver + Job controller + kubelet. Use as a context manager or ``start()``/``stop()``."""

    def __init__(
        self,
        *,
        namespaces: tuple[str, ...] = ("default",),
        event_history: int = 1000,
        max_grace_seconds: float = 2.0,
        tick: float = 0.02,
    ) -> None:
        self.env_overrides: dict[str, str] = {}
        self.inherit_env = False  # pods start from an empty env (+PATH, HOME, HOSTNAME), like a container
        self.created_jobs: list[Obj] = []
        # Pods the PodSecurity admission refused (namespaces labelled enforce=restricted).
        self.forbidden_pods: list[str] = []
        self.max_grace_seconds = max_grace_seconds
        self.requests: list[tuple[str, str]] = []  # (method, path?query) of every request
        self._tick = tick
        self._lock = threading.RLock()
        self._cond = threading.Condition(self._lock)
        self._rv = 0
        self._compacted_rv = 0
        self._events: deque[Event] = deque(maxlen=event_history)
        self._store: dict[str, dict[tuple[str, str], Obj]] = {r: {} for r in KINDS}
        self._job_runs: dict[str, JobRun] = {}
        self._pod_runs: dict[str, PodRun] = {}
        self._connections: set[socket.socket] = set()
        self._httpd: _Httpd | None = None
        self._serve_thread: threading.Thread | None = None
        self._controller: threading.Thread | None = None
        self._stopping = threading.Event()
        self._wake = threading.Event()
        self._root = Path(tempfile.mkdtemp(prefix="fake-k8s-"))
        self.port = 0
        self.kubeconfig_path: Path | None = None
        for ns in ("default", "kube-system", "kube-public", "kube-node-lease", *namespaces):
            self.add_namespace(ns)

    # --- lifecycle ---------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> FakeApiServer:
        self._listen()
        self._controller = threading.Thread(
            target=self._control_loop, name="fake-k8s-controller", daemon=True
        )
        self._controller.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        with self._cond:
            self._cond.notify_all()
        self._close_listener()
        if self._controller is not None:
            self._controller.join(timeout=10)
        self.kill_pods(include_orphans=True)
        with self._lock:
            for run in self._pod_runs.values():
                for c in run.containers.values():
                    if c.proc is not None:
                        with contextlib.suppress(ProcessLookupError):
                            os.killpg(c.proc.pid, signal.SIGKILL)
                        c.proc.wait()
        shutil.rmtree(self._root, ignore_errors=True)

    def __enter__(self) -> FakeApiServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def pause(self) -> None:
        """Simulate an unreachable apiserver: stop listening (connections are refused) and drop every
        open connection, including watches. The controller and the pods keep running."""
        self._close_listener()

    def resume(self) -> None:
        """Listen again on the same port."""
        self._listen()

    def _listen(self) -> None:
        httpd = _Httpd(("127.0.0.1", self.port), _Handler)
        httpd.fake = self
        self.port = httpd.server_address[1]
        self._httpd = httpd
        self._serve_thread = threading.Thread(
            target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, name="fake-k8s-http", daemon=True
        )
        self._serve_thread.start()

    def _close_listener(self) -> None:
        httpd, self._httpd = self._httpd, None
        if httpd is None:
            return
        httpd.shutdown()
        httpd.server_close()
        with self._lock:
            conns = list(self._connections)
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        if self._serve_thread is not None:
            self._serve_thread.join(timeout=5)

    def kubeconfig(self, path: str | os.PathLike[str], namespace: str = "default") -> Path:
        """Write a kubeconfig for this server (plain http, no auth) and return its path."""
        p = Path(path)
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "preferences": {},
            "clusters": [{"name": "fake", "cluster": {"server": self.url}}],
            "users": [{"name": "fake", "user": {}}],
            "contexts": [
                {"name": "fake", "context": {"cluster": "fake", "user": "fake", "namespace": namespace}}
            ],
            "current-context": "fake",
        }
        p.write_text(json.dumps(config, indent=2))  # JSON is YAML
        return p

    # --- test hooks --------------------------------------------------------------------------------

    @property
    def jobs(self) -> dict[str, Obj]:
        """Current Jobs of every namespace by name (copies). Use ``jobs_in(ns)`` if names repeat."""
        with self._lock:
            return {name: copy.deepcopy(o) for (_, name), o in sorted(self._store["jobs"].items())}

    def jobs_in(self, namespace: str) -> dict[str, Obj]:
        with self._lock:
            return {
                n: copy.deepcopy(o) for (ns, n), o in sorted(self._store["jobs"].items()) if ns == namespace
            }

    @property
    def pods(self) -> dict[str, Obj]:
        with self._lock:
            return {name: copy.deepcopy(o) for (_, name), o in sorted(self._store["pods"].items())}

    def add_namespace(self, name: str, labels: dict[str, str] | None = None) -> None:
        """Add a namespace; ``labels`` such as ``pod-security.kubernetes.io/enforce=restricted``."""
        with self._lock:
            if ("", name) not in self._store["namespaces"]:
                obj = self._new_meta_obj(KINDS["namespaces"], name, "")
                if labels:
                    obj["metadata"].setdefault("labels", {}).update(labels)
                self._put(KINDS["namespaces"], obj, "ADDED")

    def _pod_security_refusal(self, namespace: str, name: str, spec: Obj) -> str | None:
        """The PodSecurity admission plugin: in a namespace enforcing ``restricted``, a pod
        that violates it is not created (the Job controller keeps trying, as it does)."""
        ns = self._store["namespaces"].get(("", namespace)) or {}
        if (ns.get("metadata", {}).get("labels") or {}).get(pod_security.ENFORCE_LABEL) != "restricted":
            return None
        violations = pod_security.restricted_violations(spec)
        return pod_security.forbidden_message(name, violations) if violations else None

    def compact(self) -> None:
        """Forget the event history, like etcd compaction: older resourceVersions get 410 Gone."""
        with self._cond:
            self._events.clear()
            self._compacted_rv = self._rv
            self._cond.notify_all()

    def kill_pods(
        self, job_name: str | None = None, *, sig: int = signal.SIGKILL, include_orphans: bool = False
    ) -> int:
        """Send ``sig`` to the processes of running pods (all, or those of Job ``job_name``): the pods
        fail as if their node killed them. Returns how many processes were signalled."""
        n = 0
        with self._lock:
            for (_, _), pod in self._store["pods"].items():
                labels = pod["metadata"].get("labels", {})
                if job_name is not None and labels.get("batch.kubernetes.io/job-name") != job_name:
                    continue
                if not include_orphans and not pod["metadata"].get("ownerReferences"):
                    continue
                run = self._pod_runs.get(pod["metadata"]["uid"])
                for c in run.containers.values() if run else ():
                    if c.proc is not None and c.proc.poll() is None:
                        with contextlib.suppress(ProcessLookupError):
                            os.killpg(c.proc.pid, sig)
                        n += 1
        self._wake.set()
        return n

    def wait_for(self, predicate: Callable[[FakeApiServer], bool], timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while not predicate(self):
            if time.monotonic() > deadline:
                raise TimeoutError("condition not reached")
            time.sleep(0.02)

    # --- store -------------------------------------------------------------------------------------

    def _new_meta_obj(self, kind: Kind, name: str, namespace: str) -> Obj:
        meta: Obj = {"name": name, "uid": str(uuid.uuid4()), "creationTimestamp": _now_str()}
        if kind.namespaced:
            meta["namespace"] = namespace
        obj: Obj = {"apiVersion": kind.api_version, "kind": kind.kind, "metadata": meta}
        if kind.resource == "namespaces":
            meta["labels"] = {"kubernetes.io/metadata.name": name}
            obj["spec"] = {"finalizers": ["kubernetes"]}
            obj["status"] = {"phase": "Active"}
        return obj

    def _put(self, kind: Kind, obj: Obj, etype: str) -> Obj:
        """Store (or remove, for DELETED) ``obj`` with a new resourceVersion and record the event."""
        meta = obj["metadata"]
        key = (meta.get("namespace", ""), meta["name"])
        prev = self._store[kind.resource].get(key)
        self._rv += 1
        meta["resourceVersion"] = str(self._rv)
        if etype == "DELETED":
            self._store[kind.resource].pop(key, None)
        else:
            self._store[kind.resource][key] = obj
        if self._events.maxlen is not None and len(self._events) == self._events.maxlen:
            self._compacted_rv = self._events[0].rv
        self._events.append(
            Event(
                self._rv,
                kind,
                key[0],
                etype,
                copy.deepcopy(obj),
                copy.deepcopy(prev) if prev is not None else None,
            )
        )
        self._cond.notify_all()
        self._wake.set()
        return obj

    def _update(self, kind: Kind, new: Obj) -> bool:
        """Store ``new`` if it differs from the stored object (ignoring resourceVersion)."""
        meta = new["metadata"]
        old = self._store[kind.resource].get((meta.get("namespace", ""), meta["name"]))
        if old is not None:
            meta["resourceVersion"] = old["metadata"]["resourceVersion"]
            if old == new:
                return False
        self._put(kind, new, "MODIFIED")
        return True

    def _get(self, kind: Kind, namespace: str, name: str) -> Obj:
        obj = self._store[kind.resource].get((namespace if kind.namespaced else "", name))
        if obj is None:
            raise not_found(kind, name)
        return obj

    def _check_namespace(self, namespace: str) -> None:
        if ("", namespace) not in self._store["namespaces"]:
            raise not_found(KINDS["namespaces"], namespace)

    # --- API: create -------------------------------------------------------------------------------

    def _decode(
        self, kind: Kind, body: bytes, namespace: str, query: dict[str, str]
    ) -> tuple[Obj, list[str]]:
        try:
            obj = json.loads(body or b"null")
        except ValueError as e:
            raise bad_request(f"the body of the request was in an unknown format: {e}") from None
        if not isinstance(obj, dict):
            raise bad_request(f'{kind.kind} in version "{kind.version}" cannot be handled as a {kind.kind}')
        obj.setdefault("apiVersion", kind.api_version)
        obj.setdefault("kind", kind.kind)
        if obj["apiVersion"] != kind.api_version or obj["kind"] != kind.kind:
            raise bad_request(
                f"the API version in the data ({obj['apiVersion']}) does not match the expected "
                f"API version ({kind.api_version})"
                if obj["apiVersion"] != kind.api_version
                else f"the kind in the data ({obj['kind']}) does not match the expected kind ({kind.kind})"
            )
        meta = obj.setdefault("metadata", {})
        if not isinstance(meta, dict):
            raise bad_request("metadata must be an object")
        if kind.namespaced:
            if meta.get("namespace") not in (None, "", namespace):
                raise bad_request(
                    "the namespace of the provided object does not match the namespace sent on the request"
                )
            meta["namespace"] = namespace
        mode = query.get("fieldValidation", "Strict")
        if mode not in ("Strict", "Warn", "Ignore"):
            raise bad_request(f"fieldValidation {mode} is not a valid option")
        warnings: list[str] = []
        try:
            errors = validation.schema_errors(obj, strict=mode == "Strict")
        except validation.DecodeError as e:
            raise bad_request(
                f'{kind.kind} in version "{kind.version}" cannot be handled as a {kind.kind}: {e}'
            ) from None
        if not meta.get("name") and meta.get("generateName"):
            prefix = meta["generateName"][:58]
            meta["name"] = prefix + _rand5()
        if errors:
            raise invalid(kind, meta.get("name", ""), errors)
        return obj, warnings

    def _server_meta(self, obj: Obj) -> None:
        meta = obj["metadata"]
        for key in (
            "uid",
            "resourceVersion",
            "creationTimestamp",
            "deletionTimestamp",
            "managedFields",
            "selfLink",
            "deletionGracePeriodSeconds",
        ):
            meta.pop(key, None)
        meta["uid"] = str(uuid.uuid4())
        meta["creationTimestamp"] = _now_str()
        meta["generation"] = 1

    def _create(self, kind: Kind, namespace: str, body: bytes, query: dict[str, str]) -> Obj:
        if kind.resource == "pods":
            raise ApiError(405, "MethodNotAllowed", "the fake apiserver creates pods only through Jobs")
        obj, _ = self._decode(kind, body, namespace, query)
        name = obj["metadata"].get("name", "")
        if kind.resource == "jobs":
            errors = validation.job_errors(self._default_job(obj))
        elif kind.resource == "namespaces":
            errors = validation.metadata_errors(obj["metadata"], max_name_len=63)
            obj.pop("status", None)
        else:
            errors = validation.data_errors(obj)
        if errors:
            raise invalid(kind, name, errors)
        if kind.resource == "secrets":
            data = dict(obj.get("data") or {})
            for k, v in data.items():
                try:
                    base64.b64decode(v, validate=True)
                except ValueError:
                    raise bad_request(
                        f'Secret in version "v1" cannot be handled as a Secret: illegal base64 '
                        f"data in data[{k}]"
                    ) from None
            for k, v in (obj.pop("stringData", None) or {}).items():
                data[k] = base64.b64encode(v.encode()).decode()
            obj["data"] = data
            obj.setdefault("type", "Opaque")
        dry_run = "dryRun" in query
        with self._lock:
            if kind.namespaced:
                self._check_namespace(namespace)
            key = (namespace if kind.namespaced else "", name)
            if key in self._store[kind.resource]:
                raise ApiError(
                    409,
                    "AlreadyExists",
                    f'{kind.qualified} "{name}" already exists',
                    {"name": name, "group": kind.group, "kind": kind.resource},
                )
            self._server_meta(obj)
            if kind.resource == "jobs":
                self._finish_job_defaults(obj)
            elif kind.resource == "namespaces":
                obj["metadata"].setdefault("labels", {})["kubernetes.io/metadata.name"] = name
                obj["spec"] = {"finalizers": ["kubernetes"]}
                obj["status"] = {"phase": "Active"}
            if kind.resource != "jobs":
                obj["metadata"].pop("generation", None)
            if dry_run:
                return obj
            self._put(kind, obj, "ADDED")
            if kind.resource == "jobs":
                self._job_runs[obj["metadata"]["uid"]] = JobRun()
                self.created_jobs.append(copy.deepcopy(obj))
            return copy.deepcopy(obj)

    @staticmethod
    def _default_job(job: Obj) -> Obj:
        """Apply the apiserver's defaults for a batch/v1 Job (before validation)."""
        spec = job.setdefault("spec", {})
        job.pop("status", None)
        if spec.get("completions") is None and spec.get("parallelism") is None:
            spec["completions"] = 1
            spec["parallelism"] = 1
        spec.setdefault("parallelism", 1)
        spec.setdefault("completionMode", "NonIndexed")
        if spec.get("backoffLimitPerIndex") is not None:
            spec.setdefault("backoffLimit", MAX_INT32)
        spec.setdefault("backoffLimit", 6)
        spec.setdefault("suspend", False)
        spec.setdefault(
            "podReplacementPolicy", "Failed" if spec.get("podFailurePolicy") else "TerminatingOrFailed"
        )
        template = spec.setdefault("template", {})
        tmeta = template.setdefault("metadata", {})
        tmeta.pop("creationTimestamp", None)
        pod = template.setdefault("spec", {})
        pod.setdefault("dnsPolicy", "ClusterFirst")
        pod.setdefault("schedulerName", "default-scheduler")
        pod.setdefault("securityContext", {})
        pod.setdefault("terminationGracePeriodSeconds", 30)
        for c in [*(pod.get("initContainers") or []), *(pod.get("containers") or [])]:
            c.setdefault("terminationMessagePath", "/dev/termination-log")
            c.setdefault("terminationMessagePolicy", "File")
            image = c.get("image", "")
            c.setdefault(
                "imagePullPolicy",
                "Always"
                if image and (":" not in image.rsplit("/", 1)[-1] or image.endswith(":latest"))
                else "IfNotPresent",
            )
            c.setdefault("resources", {})
        return job

    @staticmethod
    def _finish_job_defaults(job: Obj) -> None:
        meta, spec = job["metadata"], job["spec"]
        uid, name = meta["uid"], meta["name"]
        if not spec.get("manualSelector"):
            spec["selector"] = {"matchLabels": {"batch.kubernetes.io/controller-uid": uid}}
        labels = spec["template"]["metadata"].setdefault("labels", {})
        labels.update(
            {
                "batch.kubernetes.io/controller-uid": uid,
                "batch.kubernetes.io/job-name": name,
                "controller-uid": uid,
                "job-name": name,
            }
        )
        job["status"] = {}

    # --- API: patch --------------------------------------------------------------------------------

    _MUTABLE_JOB_SPEC = frozenset(
        {
            "parallelism",
            "activeDeadlineSeconds",
            "suspend",
            "ttlSecondsAfterFinished",
            "backoffLimit",
            "maxFailedIndexes",
        }
    )

    def _patch(self, kind: Kind, namespace: str, name: str, body: bytes, content_type: str) -> Obj:
        if kind.resource != "jobs" and kind.resource not in ("secrets", "configmaps"):
            raise ApiError(405, "MethodNotAllowed", f"PATCH of {kind.resource} is not supported by the fake")
        if "json-patch+json" in content_type:
            raise ApiError(415, "UnsupportedMediaType", "the fake apiserver supports merge patches only")
        try:
            patch = json.loads(body)
        except ValueError as e:
            raise bad_request(f"invalid patch: {e}") from None

        def merge(target: Any, p: Any) -> Any:
            if not isinstance(p, dict):
                return copy.deepcopy(p)
            out = dict(target) if isinstance(target, dict) else {}
            for k, v in p.items():
                if v is None:
                    out.pop(k, None)
                else:
                    out[k] = merge(out.get(k), v)
            return out

        with self._lock:
            old = self._get(kind, namespace, name)
            new = merge(copy.deepcopy(old), patch)
            new.pop("status", None)
            new["status"] = copy.deepcopy(old.get("status", {}))
            for key in ("uid", "creationTimestamp", "name", "namespace", "generation"):
                if old["metadata"].get(key) != new["metadata"].get(key):
                    new["metadata"][key] = old["metadata"].get(key)
            check = copy.deepcopy(new)
            check.pop("status")
            for key in (
                "uid",
                "resourceVersion",
                "creationTimestamp",
                "generation",
                "deletionTimestamp",
                "finalizers",
                "ownerReferences",
            ):
                check["metadata"].pop(key, None)
            try:
                errors = validation.schema_errors(check)
            except validation.DecodeError as e:
                raise bad_request(f"{kind.kind} cannot be handled: {e}") from None
            if kind.resource == "jobs":
                changed = {
                    k for k in set(old["spec"]) | set(new["spec"]) if old["spec"].get(k) != new["spec"].get(k)
                }
                errors += [
                    validation.FieldError(
                        f"spec.{k}", "FieldValueInvalid", "Invalid value: field is immutable"
                    )
                    for k in sorted(changed - self._MUTABLE_JOB_SPEC)
                ]
                errors += [e for e in validation.job_errors(check) if e.field != "spec.selector"]
                if changed:
                    new["metadata"]["generation"] = old["metadata"].get("generation", 1) + 1
            if errors:
                raise invalid(kind, name, errors)
            self._update(kind, new)
            return copy.deepcopy(new)

    # --- API: delete -------------------------------------------------------------------------------

    def _delete(self, kind: Kind, namespace: str, name: str, query: dict[str, str], body: bytes) -> Obj:
        opts: Obj = {}
        if body.strip():
            try:
                opts = json.loads(body)
            except ValueError as e:
                raise bad_request(f"invalid DeleteOptions: {e}") from None
        policy = query.get("propagationPolicy") or opts.get("propagationPolicy")
        orphan = query.get("orphanDependents", opts.get("orphanDependents"))
        if policy is None and orphan is not None:
            policy = "Orphan" if str(orphan).lower() == "true" else "Background"
        if policy not in (None, "Background", "Foreground", "Orphan"):
            raise ApiError(
                422,
                "Invalid",
                f'DeleteOptions.propagationPolicy: Unsupported value: "{policy}": '
                'supported values: "Background", "Foreground", "Orphan"',
            )
        grace = query.get("gracePeriodSeconds", opts.get("gracePeriodSeconds"))
        with self._lock:
            obj = self._get(kind, namespace, name)
            uid = obj["metadata"]["uid"]
            precond = (opts.get("preconditions") or {}).get("uid")
            if precond and precond != uid:
                raise ApiError(
                    409,
                    "Conflict",
                    f"Precondition failed: UID in precondition: {precond}, UID in object meta: {uid}",
                )
            details = {"name": name, "group": kind.group, "kind": kind.resource, "uid": uid}
            success: Obj = {
                "kind": "Status",
                "apiVersion": "v1",
                "metadata": {},
                "status": "Success",
                "details": details,
            }
            if kind.resource == "jobs":
                # batch/v1 keeps the historical default: dependents (pods) are orphaned.
                policy = policy or "Orphan"
                if policy == "Foreground":
                    if not obj["metadata"].get("deletionTimestamp"):
                        new = copy.deepcopy(obj)
                        new["metadata"]["deletionTimestamp"] = _now_str()
                        new["metadata"]["deletionGracePeriodSeconds"] = 0
                        new["metadata"]["finalizers"] = ["foregroundDeletion"]
                        self._update(kind, new)
                    return copy.deepcopy(self._get(kind, namespace, name))
                self._delete_job(obj, policy)
                return success
            if kind.resource == "pods":
                g = int(grace) if grace is not None else obj["spec"].get("terminationGracePeriodSeconds", 30)
                gone = self._delete_pod(obj, g, by_controller=False)
                return success if gone else copy.deepcopy(self._get(kind, namespace, name))
            if kind.resource == "namespaces":
                for res in ("jobs", "pods", "secrets", "configmaps"):
                    for (ns, _), o in list(self._store[res].items()):
                        if ns == name:
                            if res == "jobs":
                                self._delete_job(o, "Background")
                            elif res == "pods":
                                self._delete_pod(o, 0, by_controller=True)
                            else:
                                self._put(KINDS[res], copy.deepcopy(o), "DELETED")
            self._put(kind, copy.deepcopy(obj), "DELETED")
            return success

    def _delete_job(self, job: Obj, policy: str) -> None:
        uid = job["metadata"]["uid"]
        self._put(KINDS["jobs"], copy.deepcopy(job), "DELETED")
        self._job_runs.pop(uid, None)
        for pod in self._owned_pods(uid):
            if policy == "Orphan":
                new = copy.deepcopy(pod)
                new["metadata"].pop("ownerReferences", None)
                self._update(KINDS["pods"], new)
            else:
                self._delete_pod(
                    pod, pod["spec"].get("terminationGracePeriodSeconds", 30), by_controller=True
                )

    def _delete_pod(self, pod: Obj, grace: int, *, by_controller: bool) -> bool:
        """Graceful pod deletion: SIGTERM now, SIGKILL after the grace period; True if already gone."""
        uid = pod["metadata"]["uid"]
        run = self._pod_runs.get(uid)
        alive = [
            c
            for c in (run.containers.values() if run else ())
            if c.proc is not None and c.proc.poll() is None
        ]
        if run is not None:
            run.by_controller = run.by_controller or by_controller
        if not alive:
            self._remove_pod(pod)
            return True
        if pod["metadata"].get("deletionTimestamp"):
            return False
        assert run is not None
        for c in alive:
            assert c.proc is not None
            with contextlib.suppress(ProcessLookupError):
                os.killpg(c.proc.pid, signal.SIGTERM if grace > 0 else signal.SIGKILL)
        run.kill_at = time.monotonic() + min(grace, self.max_grace_seconds)
        new = copy.deepcopy(pod)
        new["metadata"]["deletionTimestamp"] = _now_str(time.time() + grace)
        new["metadata"]["deletionGracePeriodSeconds"] = grace
        self._update(KINDS["pods"], new)
        return False

    def _remove_pod(self, pod: Obj) -> None:
        uid = pod["metadata"]["uid"]
        run = self._pod_runs.pop(uid, None)
        owner = self._owner_uid(pod)
        jrun = self._job_runs.get(owner) if owner else None
        if jrun is not None and uid not in jrun.counted and not (run and run.by_controller):
            # A pod that disappears before finishing counts as failed (job tracking finalizers).
            self._count_pod(jrun, pod, succeeded=pod["status"].get("phase") == "Succeeded")
        self._put(KINDS["pods"], copy.deepcopy(pod), "DELETED")
        if run is not None:
            shutil.rmtree(run.workdir, ignore_errors=True)

    # --- API: read ---------------------------------------------------------------------------------

    def _list(self, kind: Kind, namespace: str | None, query: dict[str, str]) -> Obj:
        label_sel = parse_selector(query.get("labelSelector"))
        field_sel = parse_field_selector(query.get("fieldSelector"), kind)
        with self._lock:
            items = [
                copy.deepcopy(o)
                for (ns, _), o in sorted(self._store[kind.resource].items())
                if (namespace is None or ns == namespace)
                and label_sel(o["metadata"].get("labels") or {})
                and field_sel(o)
            ]
            rv = str(self._rv)
        for o in items:
            o.pop("apiVersion", None)
            o.pop("kind", None)
        meta: Obj = {"resourceVersion": rv}
        start = 0
        if query.get("continue"):
            try:
                start = int(base64.b64decode(query["continue"]).decode())
            except ValueError:
                raise bad_request("continue key is not valid") from None
        if query.get("limit") and int(query["limit"]) > 0:
            end = start + int(query["limit"])
            if end < len(items):
                meta["continue"] = base64.b64encode(str(end).encode()).decode()
                meta["remainingItemCount"] = len(items) - end
            items = items[start:end]
        else:
            items = items[start:]
        return {"kind": f"{kind.kind}List", "apiVersion": kind.api_version, "metadata": meta, "items": items}

    def _watch(self, handler: _Handler, kind: Kind, namespace: str | None, query: dict[str, str]) -> None:
        label_sel = parse_selector(query.get("labelSelector"))
        field_sel = parse_field_selector(query.get("fieldSelector"), kind)

        def match(o: Obj | None) -> bool:
            return o is not None and label_sel(o["metadata"].get("labels") or {}) and field_sel(o)

        timeout = float(query.get("timeoutSeconds") or 1800)
        deadline = time.monotonic() + timeout
        rv = query.get("resourceVersion") or "0"
        initial: list[Obj] = []
        with self._lock:
            try:
                last = int(rv)
            except ValueError:
                raise bad_request(f'invalid resource version: "{rv}"') from None
            if last == 0:
                initial = [
                    copy.deepcopy(o)
                    for (ns, _), o in sorted(self._store[kind.resource].items())
                    if (namespace is None or ns == namespace) and match(o)
                ]
                last = self._rv
            expired = last < self._compacted_rv
            compacted = self._compacted_rv
        handler.start_chunked("application/json")

        def send(etype: str, obj: Obj) -> None:
            handler.write_chunk(json.dumps({"type": etype, "object": obj}).encode() + b"\n")

        def send_gone() -> None:
            send(
                "ERROR", ApiError(410, "Expired", f"too old resource version: {last} ({compacted})").status()
            )

        try:
            if expired:
                send_gone()
                handler.end_chunked()
                return
            for o in initial:
                send("ADDED", o)
            while True:
                with self._cond:
                    if last < self._compacted_rv and (not self._events or self._events[0].rv > last + 1):
                        compacted = self._compacted_rv
                        expired = True
                        events: list[Event] = []
                    else:
                        events = [e for e in self._events if e.rv > last]
                    if not events and not expired:
                        remaining = deadline - time.monotonic()
                        if remaining <= 0 or self._stopping.is_set() or handler.server is not self._httpd:
                            break
                        self._cond.wait(min(remaining, 0.25))
                        continue
                if expired:
                    send_gone()
                    break
                for e in events:
                    last = e.rv
                    if e.kind is not kind or (namespace is not None and e.namespace != namespace):
                        continue
                    now_ok, prev_ok = match(e.obj), match(e.prev)
                    if e.type == "DELETED":
                        if now_ok:
                            send("DELETED", e.obj)
                    elif now_ok and (prev_ok or e.type == "ADDED"):
                        send(e.type, e.obj)
                    elif now_ok:
                        send("ADDED", e.obj)
                    elif prev_ok and e.type == "MODIFIED":
                        send("DELETED", e.obj)
            handler.end_chunked()
        except OSError:
            handler.close_connection = True

    def _log(self, handler: _Handler, namespace: str, name: str, query: dict[str, str]) -> None:
        with self._lock:
            pod = self._get(KINDS["pods"], namespace, name)
            names = [c["name"] for c in pod["spec"]["containers"]]
            container = query.get("container")
            if not container:
                if len(names) > 1:
                    raise bad_request(
                        f"a container name must be specified for pod {name}, choose one of: "
                        f"[{' '.join(names)}]"
                    )
                container = names[0]
            if container not in names:
                raise bad_request(f"container {container} is not valid for pod {name}")
            run = self._pod_runs.get(pod["metadata"]["uid"])
            crun = run.containers.get(container) if run else None
            previous = query.get("previous", "").lower() in ("true", "1")
            path = (crun.previous_log if previous else crun.log_path) if crun else None
            if path is None:
                if previous:
                    raise bad_request(
                        f'previous terminated container "{container}" in pod "{name}" not found'
                    )
                reason = (run.config_error and "CreateContainerConfigError") if run else ""
                raise bad_request(
                    f'container "{container}" in pod "{name}" is waiting to start: '
                    f"{reason or 'ContainerCreating'}"
                )
        follow = query.get("follow", "").lower() in ("true", "1") and not previous
        tail = int(query["tailLines"]) if query.get("tailLines") else None
        limit = int(query["limitBytes"]) if query.get("limitBytes") else None

        def read_all() -> bytes:
            try:
                return path.read_bytes()
            except FileNotFoundError:
                return b""

        if not follow:
            data = read_all()
            if tail is not None:
                data = b"".join(data.splitlines(keepends=True)[-tail:]) if tail > 0 else b""
            if limit is not None:
                data = data[:limit]
            handler.send_body(200, data, "text/plain")
            return
        handler.start_chunked("text/plain")
        sent = 0
        data = read_all()
        if tail is not None:
            sent = (
                len(data) - len(b"".join(data.splitlines(keepends=True)[-tail:])) if tail > 0 else len(data)
            )
        try:
            while True:
                assert crun is not None
                done = crun.proc is None or crun.proc.poll() is not None
                data = read_all()
                if len(data) > sent:
                    handler.write_chunk(data[sent:])
                    sent = len(data)
                if done or self._stopping.is_set() or handler.server is not self._httpd:
                    break
                time.sleep(0.05)
            handler.end_chunked()
        except OSError:
            handler.close_connection = True

    # --- Job controller ----------------------------------------------------------------------------

    @staticmethod
    def _owner_uid(pod: Obj) -> str | None:
        for ref in pod["metadata"].get("ownerReferences") or []:
            if ref.get("controller") and ref.get("kind") == "Job":
                return str(ref["uid"])
        return None

    def _owned_pods(self, uid: str) -> list[Obj]:
        return [p for p in self._store["pods"].values() if self._owner_uid(p) == uid]

    @staticmethod
    def _index(pod: Obj) -> int | None:
        value = (pod["metadata"].get("annotations") or {}).get(INDEX_LABEL)
        return int(value) if value is not None else None

    def _count_pod(self, jrun: JobRun, pod: Obj, *, succeeded: bool) -> None:
        jrun.counted.add(pod["metadata"]["uid"])
        index = self._index(pod)
        if succeeded:
            jrun.succeeded += 1
            if index is not None:
                jrun.succeeded_indexes.add(index)
            return
        jrun.failed += 1
        if index is not None:
            jrun.index_failures[index] = jrun.index_failures.get(index, 0) + 1

    def _control_loop(self) -> None:
        while not self._stopping.is_set():
            self._wake.wait(self._tick)
            self._wake.clear()
            with self._lock:
                if self._stopping.is_set():
                    break
                try:
                    for pod in list(self._store["pods"].values()):
                        self._kubelet_sync(pod)
                    for job in list(self._store["jobs"].values()):
                        self._sync_job(job)
                except Exception:  # keep the controller alive; surface the error to tests
                    import traceback

                    traceback.print_exc()

    def _condition(self, ctype: str, reason: str, message: str) -> Obj:
        now = _now_str()
        return {
            "type": ctype,
            "status": "True",
            "lastProbeTime": now,
            "lastTransitionTime": now,
            "reason": reason,
            "message": message,
        }

    def _sync_job(self, job: Obj) -> None:
        kind = KINDS["jobs"]
        meta, spec = job["metadata"], job["spec"]
        uid = meta["uid"]
        jrun = self._job_runs.setdefault(uid, JobRun())
        pods = self._owned_pods(uid)
        if meta.get("deletionTimestamp"):  # foreground deletion: dependents first
            for pod in pods:
                self._delete_pod(pod, 0, by_controller=True)
            if not self._owned_pods(uid):
                self._put(kind, copy.deepcopy(job), "DELETED")
                self._job_runs.pop(uid, None)
            return
        if jrun.finished_at is not None:
            ttl = spec.get("ttlSecondsAfterFinished")
            if ttl is not None and time.time() >= jrun.finished_at + ttl:
                self._delete_job(job, "Background")
            return
        new = copy.deepcopy(job)
        status = new.setdefault("status", {})
        indexed = spec.get("completionMode") == "Indexed"
        completions = spec.get("completions")
        for pod in pods:
            phase = pod["status"].get("phase")
            if phase in TERMINAL and pod["metadata"]["uid"] not in jrun.counted:
                self._count_pod(jrun, pod, succeeded=phase == "Succeeded")
        per_index = spec.get("backoffLimitPerIndex")
        if per_index is not None:
            jrun.failed_indexes |= {
                i for i, n in jrun.index_failures.items() if n > per_index and i not in jrun.succeeded_indexes
            }
        active = [
            p
            for p in pods
            if p["status"].get("phase") not in TERMINAL and not p["metadata"].get("deletionTimestamp")
        ]
        terminating = [p for p in pods if p["metadata"].get("deletionTimestamp")]
        suspended = bool(spec.get("suspend"))
        now = time.time()
        if not suspended and not status.get("startTime"):
            status["startTime"] = _now_str(now)
            jrun_start = now
        else:
            jrun_start = (
                datetime.strptime(status["startTime"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC).timestamp()
                if status.get("startTime")
                else now
            )
        conditions: list[Obj] = status.setdefault("conditions", [])
        if jrun.outcome is None:
            restarts = sum(
                cs.get("restartCount", 0) for p in active for cs in p["status"].get("containerStatuses") or []
            )
            max_failed = spec.get("maxFailedIndexes")
            ads = spec.get("activeDeadlineSeconds")
            if jrun.failed + restarts > spec.get("backoffLimit", 6):
                jrun.outcome = (
                    "Failed",
                    "BackoffLimitExceeded",
                    "Job has reached the specified backoff limit",
                )
            elif max_failed is not None and len(jrun.failed_indexes) > max_failed:
                jrun.outcome = (
                    "Failed",
                    "MaxFailedIndexesExceeded",
                    "Job has exceeded the specified maximal number of failed indexes",
                )
            elif ads is not None and not suspended and now - jrun_start >= ads:
                jrun.outcome = ("Failed", "DeadlineExceeded", "Job was active longer than specified deadline")
            elif indexed:
                done = jrun.succeeded_indexes | jrun.failed_indexes
                still = {self._index(p) for p in active} - done
                if len(done) >= completions and not still:
                    jrun.outcome = (
                        ("Failed", "FailedIndexes", "Job has failed indexes")
                        if jrun.failed_indexes
                        else ("Complete", "CompletionsReached", "Reached expected number of succeeded pods")
                    )
            elif completions is not None:
                if jrun.succeeded >= completions:
                    jrun.outcome = (
                        "Complete",
                        "CompletionsReached",
                        "Reached expected number of succeeded pods",
                    )
            elif jrun.succeeded >= 1 and not active:
                jrun.outcome = ("Complete", "CompletionsReached", "Reached expected number of succeeded pods")
            if jrun.outcome is not None:
                target = "FailureTarget" if jrun.outcome[0] == "Failed" else "SuccessCriteriaMet"
                conditions.append(self._condition(target, jrun.outcome[1], jrun.outcome[2]))
        if jrun.outcome is not None or suspended:
            for pod in active:
                self._delete_pod(
                    pod, pod["spec"].get("terminationGracePeriodSeconds", 30), by_controller=True
                )
            active = []
            terminating = [p for p in self._owned_pods(uid) if p["metadata"].get("deletionTimestamp")]
        else:
            self._create_pods(job, jrun, active)
            active = [
                p
                for p in self._owned_pods(uid)
                if p["status"].get("phase") not in TERMINAL and not p["metadata"].get("deletionTimestamp")
            ]
        if jrun.outcome is not None and not terminating:
            ctype = jrun.outcome[0]
            conditions.append(self._condition(ctype, jrun.outcome[1], jrun.outcome[2]))
            if ctype == "Complete":
                status["completionTime"] = _now_str(now)
            jrun.finished_at = now
        if not conditions:
            status.pop("conditions")
        for key, value in (("active", len(active)), ("succeeded", jrun.succeeded), ("failed", jrun.failed)):
            if value:
                status[key] = value
            else:
                status.pop(key, None)
        status["ready"] = sum(1 for p in active if p["status"].get("phase") == "Running")
        status["terminating"] = len(terminating)
        status["uncountedTerminatedPods"] = {}
        if indexed:
            if jrun.succeeded_indexes:
                status["completedIndexes"] = format_indexes(jrun.succeeded_indexes)
            if per_index is not None:
                status["failedIndexes"] = format_indexes(jrun.failed_indexes)
        self._update(kind, new)

    def _create_pods(self, job: Obj, jrun: JobRun, active: list[Obj]) -> None:
        spec = job["spec"]
        parallelism = spec.get("parallelism", 1)
        completions = spec.get("completions")
        room = parallelism - len(active)
        if room <= 0:
            return
        if spec.get("completionMode") == "Indexed":
            busy = {self._index(p) for p in active} | jrun.succeeded_indexes | jrun.failed_indexes
            todo = [i for i in range(completions) if i not in busy][:room]
            for i in todo:
                self._new_pod(job, i)
            return
        if completions is not None:
            want = min(parallelism, completions - jrun.succeeded) - len(active)
        else:
            want = room if jrun.succeeded == 0 else 0
        for _ in range(max(0, want)):
            self._new_pod(job, None)

    def _new_pod(self, job: Obj, index: int | None) -> Obj:
        jmeta = job["metadata"]
        template = copy.deepcopy(job["spec"]["template"])
        tmeta = template.get("metadata") or {}
        labels = dict(tmeta.get("labels") or {})
        annotations = dict(tmeta.get("annotations") or {})
        prefix = f"{jmeta['name']}-" if index is None else f"{jmeta['name']}-{index}-"
        prefix = prefix[:58]
        while True:
            name = prefix + _rand5()
            if (jmeta["namespace"], name) not in self._store["pods"]:
                break
        pod_spec = template["spec"]
        refusal = self._pod_security_refusal(jmeta["namespace"], name, pod_spec)
        if refusal is not None:
            self.forbidden_pods.append(refusal)
            return template  # not stored: no pod exists
        if index is not None:
            labels[INDEX_LABEL] = str(index)
            annotations[INDEX_LABEL] = str(index)
            pod_spec.setdefault("hostname", f"{jmeta['name']}-{index}"[:63])
            for c in [*(pod_spec.get("initContainers") or []), *pod_spec["containers"]]:
                env = c.setdefault("env", [])
                if not any(e.get("name") == "JOB_COMPLETION_INDEX" for e in env):
                    env.insert(
                        0,
                        {
                            "name": "JOB_COMPLETION_INDEX",
                            "valueFrom": {
                                "fieldRef": {
                                    "apiVersion": "v1",
                                    "fieldPath": f"metadata.labels['{INDEX_LABEL}']",
                                }
                            },
                        },
                    )
        pod_spec.setdefault("nodeName", "fake-node")
        pod_spec.setdefault("enableServiceLinks", True)
        pod_spec.setdefault("serviceAccountName", "default")
        meta: Obj = {
            "name": name,
            "generateName": prefix,
            "namespace": jmeta["namespace"],
            "uid": str(uuid.uuid4()),
            "creationTimestamp": _now_str(),
            "labels": labels,
            "annotations": annotations,
            "ownerReferences": [
                {
                    "apiVersion": "batch/v1",
                    "kind": "Job",
                    "name": jmeta["name"],
                    "uid": jmeta["uid"],
                    "controller": True,
                    "blockOwnerDeletion": True,
                }
            ],
        }
        if not annotations:
            del meta["annotations"]
        pod: Obj = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": meta,
            "spec": pod_spec,
            "status": {
                "phase": "Pending",
                "qosClass": "BestEffort",
                "conditions": [
                    {
                        "type": "PodScheduled",
                        "status": "True",
                        "lastProbeTime": None,
                        "lastTransitionTime": _now_str(),
                    }
                ],
            },
        }
        workdir = self._root / "pods" / name
        workdir.mkdir(parents=True, exist_ok=True)
        self._pod_runs[meta["uid"]] = PodRun(workdir=workdir)
        self._put(KINDS["pods"], pod, "ADDED")
        return pod

    # --- kubelet -----------------------------------------------------------------------------------

    def _resolve_field(self, pod: Obj, path: str) -> str:
        m = re.fullmatch(r"metadata\.(labels|annotations)\['([^']+)'\]", path)
        if m:
            return str((pod["metadata"].get(m.group(1)) or {}).get(m.group(2), ""))
        simple = {
            "metadata.name": pod["metadata"]["name"],
            "metadata.namespace": pod["metadata"]["namespace"],
            "metadata.uid": pod["metadata"]["uid"],
            "spec.nodeName": pod["spec"].get("nodeName", ""),
            "spec.serviceAccountName": pod["spec"].get("serviceAccountName", ""),
            "status.podIP": "127.0.0.1",
            "status.hostIP": "127.0.0.1",
            "status.podIPs": "127.0.0.1",
        }
        return simple.get(path, "")

    def _lookup_data(self, pod: Obj, ref_kind: str, ref: Obj, key: str | None) -> dict[str, str] | str | None:
        res = "secrets" if ref_kind == "Secret" else "configmaps"
        obj = self._store[res].get((pod["metadata"]["namespace"], ref.get("name", "")))
        if obj is None:
            if ref.get("optional"):
                return None
            raise ValueError(f'{ref_kind.lower()} "{ref.get("name")}" not found')
        if res == "secrets":
            data = {
                k: base64.b64decode(v).decode(errors="replace") for k, v in (obj.get("data") or {}).items()
            }
        else:
            data = dict(obj.get("data") or {})
        if key is None:
            return data
        if key not in data:
            if ref.get("optional"):
                return None
            raise ValueError(
                f"couldn't find key {key} in {ref_kind} {pod['metadata']['namespace']}/{ref.get('name')}"
            )
        return data[key]

    def _container_env(self, pod: Obj, container: Obj) -> dict[str, str]:
        env: dict[str, str] = {}
        for src in container.get("envFrom") or []:
            for ref_kind, field_name in (("Secret", "secretRef"), ("ConfigMap", "configMapRef")):
                if src.get(field_name) is not None:
                    data = self._lookup_data(pod, ref_kind, src[field_name], None)
                    for k, v in (data or {}).items() if isinstance(data, dict) else ():
                        name = src.get("prefix", "") + k
                        if validation.ENV_VAR_NAME.match(name):
                            env[name] = v
        for var in container.get("env") or []:
            source = var.get("valueFrom")
            if source is None:
                env[var["name"]] = _expand(var.get("value", ""), env)
                continue
            value: Any = ""
            if source.get("fieldRef"):
                value = self._resolve_field(pod, source["fieldRef"]["fieldPath"])
            elif source.get("secretKeyRef"):
                value = self._lookup_data(
                    pod, "Secret", source["secretKeyRef"], source["secretKeyRef"]["key"]
                )
            elif source.get("configMapKeyRef"):
                value = self._lookup_data(
                    pod, "ConfigMap", source["configMapKeyRef"], source["configMapKeyRef"]["key"]
                )
            if value is not None:
                env[var["name"]] = str(value)
        return env

    def _start_container(self, pod: Obj, run: PodRun, container: Obj, env: dict[str, str]) -> ContainerRun:
        crun = run.containers.get(container["name"]) or ContainerRun(container["name"])
        run.containers[crun.name] = crun
        argv = [_expand(a, env) for a in [*(container.get("command") or []), *(container.get("args") or [])]]
        cwd = Path(container.get("workingDir") or run.workdir)
        cwd.mkdir(parents=True, exist_ok=True)
        base = dict(os.environ) if self.inherit_env else {"PATH": os.environ.get("PATH", os.defpath)}
        base.update(
            {"HOME": str(run.workdir), "HOSTNAME": pod["spec"].get("hostname") or pod["metadata"]["name"]}
        )
        full_env = {**base, **env, **self.env_overrides}
        if crun.log_path is not None:
            crun.previous_log = crun.log_path
        crun.log_path = run.workdir / f"{crun.name}.{crun.restart_count}.log"
        crun.started_at, crun.exit_code, crun.reason, crun.proc = time.time(), None, "", None
        with open(crun.log_path, "wb") as log:
            try:
                if not argv:
                    raise OSError("no command specified (the fake kubelet ignores the image's entrypoint)")
                crun.proc = subprocess.Popen(
                    argv,
                    cwd=cwd,
                    env=full_env,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            except OSError as e:
                log.write(f"failed to start container: {e}\n".encode())
                crun.exit_code, crun.reason, crun.finished_at = 128, "StartError", time.time()
        return crun

    def _container_statuses(self, pod: Obj, run: PodRun) -> list[Obj]:
        out = []
        for c in pod["spec"]["containers"]:
            crun = run.containers.get(c["name"])
            status: Obj = {
                "name": c["name"],
                "image": c.get("image", ""),
                "imageID": "",
                "ready": False,
                "restartCount": 0,
                "started": False,
            }
            if crun is None:
                reason = "CreateContainerConfigError" if run.config_error else "ContainerCreating"
                state: Obj = {"reason": reason}
                if run.config_error:
                    state["message"] = run.config_error
                status["state"] = {"waiting": state}
            else:
                status["containerID"] = f"fake://{pod['metadata']['uid']}/{crun.name}/{crun.restart_count}"
                status["restartCount"] = crun.restart_count
                status["lastState"] = crun.last_state
                if crun.exit_code is None:
                    status.update(ready=True, started=True)
                    status["state"] = {"running": {"startedAt": _now_str(crun.started_at)}}
                else:
                    status["state"] = {
                        "terminated": {
                            "exitCode": crun.exit_code,
                            "reason": crun.reason,
                            "startedAt": _now_str(crun.started_at),
                            "finishedAt": _now_str(crun.finished_at),
                            "containerID": status["containerID"],
                        }
                    }
            out.append(status)
        return out

    def _kubelet_sync(self, pod: Obj) -> None:
        uid = pod["metadata"]["uid"]
        run = self._pod_runs.get(uid)
        if run is None:
            return
        for crun in run.containers.values():
            if crun.proc is not None and crun.exit_code is None and (rc := crun.proc.poll()) is not None:
                crun.exit_code = rc if rc >= 0 else 128 - rc
                crun.reason = "Completed" if rc == 0 else "Error"
                crun.finished_at = time.time()
        if pod["metadata"].get("deletionTimestamp"):
            alive = [c for c in run.containers.values() if c.proc is not None and c.proc.poll() is None]
            if alive and run.kill_at is not None and time.monotonic() >= run.kill_at:
                for c in alive:
                    assert c.proc is not None
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(c.proc.pid, signal.SIGKILL)
            if not alive:
                self._remove_pod(pod)
            return
        new = copy.deepcopy(pod)
        status = new["status"]
        phase = status.get("phase")
        if phase in TERMINAL:
            return
        if phase == "Pending":
            try:
                envs = [self._container_env(pod, c) for c in pod["spec"]["containers"]]
            except ValueError as e:
                run.config_error = str(e)
            else:
                run.config_error = ""
                for c, env in zip(pod["spec"]["containers"], envs, strict=True):
                    self._start_container(pod, run, c, env)
                status["phase"] = "Running"
                status["startTime"] = _now_str()
                status["hostIP"] = status["podIP"] = "127.0.0.1"
                status["podIPs"] = [{"ip": "127.0.0.1"}]
        elif phase == "Running":
            restart_on_failure = pod["spec"].get("restartPolicy") == "OnFailure"
            for c in pod["spec"]["containers"]:
                crun = run.containers[c["name"]]
                if crun.exit_code not in (None, 0) and restart_on_failure:
                    crun.last_state = {
                        "terminated": {
                            "exitCode": crun.exit_code,
                            "reason": crun.reason,
                            "startedAt": _now_str(crun.started_at),
                            "finishedAt": _now_str(crun.finished_at),
                        }
                    }
                    crun.restart_count += 1
                    self._start_container(pod, run, c, self._container_env(pod, c))
            codes = [run.containers[c["name"]].exit_code for c in pod["spec"]["containers"]]
            if all(code is not None for code in codes):
                status["phase"] = "Succeeded" if all(code == 0 for code in codes) else "Failed"
        status["containerStatuses"] = self._container_statuses(new, run)
        running = status["phase"] == "Running" and all(cs.get("ready") for cs in status["containerStatuses"])
        status["conditions"] = [
            status["conditions"][0],
            *[
                {
                    "type": t,
                    "status": "True" if running else "False",
                    "lastProbeTime": None,
                    "lastTransitionTime": _now_str(),
                }
                for t in ("Initialized", "ContainersReady", "Ready")
            ],
        ]
        if status["phase"] != "Pending":
            status["conditions"][1]["status"] = "True"
        old_conditions = {c["type"]: c for c in pod["status"].get("conditions", [])}
        for cond in status["conditions"]:  # keep lastTransitionTime when the status did not change
            old = old_conditions.get(cond["type"])
            if old is not None and old["status"] == cond["status"]:
                cond["lastTransitionTime"] = old["lastTransitionTime"]
        self._update(KINDS["pods"], new)


def _expand(text: str, env: dict[str, str]) -> str:
    """Kubernetes ``$(VAR)`` expansion (``$$`` escapes; unknown references are kept)."""

    def sub(m: re.Match[str]) -> str:
        if m.group(0) == "$$":
            return "$"
        return env.get(m.group(1), m.group(0))

    return re.sub(r"\$\$|\$\(([-._a-zA-Z][-._a-zA-Z0-9]*)\)", sub, text)


# --- HTTP -------------------------------------------------------------------------------------------

_NS_PATH = re.compile(
    r"^/(?:api/v1|apis/(?P<group>[a-z0-9.]+)/v1)(?:/namespaces/(?P<ns>[^/]+))?/(?P<res>[a-z]+)"
    r"(?:/(?P<name>[^/]+)(?:/(?P<sub>[a-z]+))?)?$"
)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Httpd

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def send_body(
        self, code: int, data: bytes, content_type: str, headers: dict[str, str] | None = None
    ) -> None:
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def send_json(self, code: int, obj: Obj) -> None:
        self.send_body(code, json.dumps(obj).encode(), "application/json")

    def start_chunked(self, content_type: str) -> None:
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        self.wfile.flush()

    def write_chunk(self, data: bytes) -> None:
        if data:
            self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
            self.wfile.flush()

    def end_chunked(self) -> None:
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_PUT(self) -> None:
        self._dispatch("PUT")

    def do_PATCH(self) -> None:
        self._dispatch("PATCH")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    def _dispatch(self, method: str) -> None:
        fake = self.server.fake
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        parts = urlsplit(self.path)
        query = {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
        fake.requests.append((method, self.path))
        try:
            self._route(fake, method, parts.path.rstrip("/"), query, body)
        except ApiError as e:
            self.send_json(e.code, e.status())
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def _route(self, fake: FakeApiServer, method: str, path: str, query: dict[str, str], body: bytes) -> None:
        if path in ("/healthz", "/livez", "/readyz"):
            self.send_body(200, b"ok", "text/plain")
            return
        if path == "/version":
            self.send_json(
                200, {"major": "1", "minor": "36", "gitVersion": "v1.36.0-fake", "platform": "linux/amd64"}
            )
            return
        m = _NS_PATH.match(path)
        kind = KINDS.get(m.group("res")) if m else None
        if m is None or kind is None or (kind.group or None) != m.group("group"):
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        ns, name, sub = m.group("ns"), m.group("name"), m.group("sub")
        if kind.resource == "namespaces" and ns is not None:
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        if kind.resource != "namespaces" and name is not None and ns is None:
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        if name is None:
            if method == "GET":
                if ns is not None:
                    with fake._lock:
                        fake._check_namespace(ns)
                if query.get("watch", "").lower() in ("true", "1"):
                    fake._watch(self, kind, ns, query)
                else:
                    self.send_json(200, fake._list(kind, ns, query))
            elif method == "POST":
                if kind.namespaced and ns is None:
                    raise ApiError(405, "MethodNotAllowed", "create requires a namespace")
                obj = fake._create(kind, ns or "", body, query)
                self.send_json(201, obj)
            else:
                raise ApiError(405, "MethodNotAllowed", f"{method} is not supported on a collection")
            return
        if sub is not None:
            if sub == "log" and kind.resource == "pods" and method == "GET":
                fake._log(self, ns or "", name, query)
                return
            if sub == "status" and method == "GET":
                with fake._lock:
                    self.send_json(200, copy.deepcopy(fake._get(kind, ns or "", name)))
                return
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        if method == "GET":
            with fake._lock:
                self.send_json(200, copy.deepcopy(fake._get(kind, ns or "", name)))
        elif method == "DELETE":
            self.send_json(200, fake._delete(kind, ns or "", name, query, body))
        elif method == "PATCH":
            self.send_json(200, fake._patch(kind, ns or "", name, body, self.headers.get("Content-Type", "")))
        else:
            raise ApiError(405, "MethodNotAllowed", f"{method} is not supported by the fake apiserver")
