"""``datavc worker`` with ``DATAVC_SERVER``: a worker pod that holds a job token, not store keys.

Why: the pod runs user code; whatever it holds, a compromised transform can use. So the
pod holds only its job's token (from a per-job Secret, ``datavc.pipelines.job_tokens``), and does
everything through the server (:mod:`datavc.server.routes_worker`):

1. ``GET /jobs/{job}/work?shard=N``: the spec and the shard's datums still to run;
2. for each datum (with ``transform.datum_batching``: each datum the one transform
   process asks for, :mod:`datavc.pipelines.executors.batched`): ``POST .../work/start``;
   its inputs read through the ordinary file routes at the job's input commits (the only
   reads the token allows); the transform run exactly as the direct worker runs it
   (``run_datum``, one try: Kubernetes retries the pod); the outputs uploaded as one
   batch stream (``PUT .../work/output``, stored and named by the server); then
   ``POST .../work/done`` with the exit code and logs.

The transform itself never sees the token (``transform_env`` passes no ``DATAVC_*`` setting
and no token), though it shares the pod with this process: docs/security.md says what a
compromised pod can do.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote

from datavc import batch
from datavc.errors import DatavcError
from datavc.names import check_path
from datavc.pipelines.datums import Datum, DatumFile
from datavc.pipelines.executors import Outcome
from datavc.pipelines.executors.local import run_datum
from datavc.pipelines.spec import PipelineSpec
from datavc.remote import RemoteClient
from storage.model import Entry

PFS_ENV = "DATAVC_PFS_ROOT"


def _decode_datum(doc: dict[str, Any]) -> Datum:
    """A datum as the server described it; paths are checked like any path read from the network."""
    files = []
    for f in doc["files"]:
        name, kind, size, content, count = f["entry"]
        files.append(
            DatumFile(
                input=str(f["input"]),
                repo=str(f["repo"]),
                commit=str(f["commit"]),
                path=check_path(str(f["path"])) if f["path"] else "",
                entry=Entry(str(name), kind, int(size), str(content), (), int(count)),
                groups=tuple(str(g) for g in f.get("groups") or ()),
                mount=check_path(str(f.get("mount") or "")) if f.get("mount") else "",
            )
        )
    return Datum(tuple(files), str(doc["hash"]))


class _Uploader:
    """``run_datum``'s output sink: the out directory as one batch stream to the server."""

    def __init__(self, client: RemoteClient, base: str, datum: str) -> None:
        self._client, self._base, self._datum = client, base, datum

    def put_dir(self, path: Path) -> str:
        body = batch.batch_local_dir(path, follow_symlinks=False)
        self._client.call("PUT", f"{self._base}/output", params={"datum": self._datum}, content=body)
        return "uploaded"  # the server keeps the tree id; the pod never names one


def stage_remote(client: RemoteClient, datum: Datum, in_dir: Path) -> None:
    """Download a datum's inputs to ``in_dir/<dir>/<path>`` from its input commits."""
    for f in datum.files:
        root = in_dir / check_path(f.dir)
        dest = root / f.path if f.path else root
        if f.entry.is_dir:
            dest.mkdir(parents=True, exist_ok=True)
        else:
            dest.parent.mkdir(parents=True, exist_ok=True)
        client.get_to_path(f.repo, f.commit, f.path or "/", dest)


def run_remote_worker(client: RemoteClient, job_id: str, shard: int, pfs_root: Path | None = None) -> int:
    """Run this shard's unfinished datums through the server; the process exit code (0: all succeeded)."""
    base = f"/api/v1/jobs/{quote(job_id, safe='')}/work"
    desc = client.call("GET", base, params={"shard": shard})
    spec = PipelineSpec.parse(desc["spec"])
    datums = [_decode_datum(d) for d in desc["datums"]]
    if not datums:
        return 0
    root = pfs_root or Path(os.environ.get(PFS_ENV, "/pfs").replace("{pod}", f"{os.getpid()}"))
    one_try = spec.model_copy(update={"datum_tries": 1})  # Kubernetes retries the pod
    scratch = Path(tempfile.mkdtemp(prefix="datavc-worker-"))
    if spec.transform.datum_batching:
        try:
            return _run_batched(client, base, job_id, one_try, datums, scratch, root)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
    ok = True
    try:
        for d in datums:
            client.call("POST", f"{base}/start", params={"datum": d.hash})
            started = time.monotonic()
            try:
                outcome = run_datum(
                    None,
                    one_try,
                    job_id,
                    d,
                    scratch,
                    pfs_root=root,
                    record=False,
                    outputs=_Uploader(client, base, d.hash),
                    stager=lambda datum, in_dir: stage_remote(client, datum, in_dir),
                )
            except DatavcError as err:
                # Staging or uploading failed (a refused read, a cut connection): the datum
                # failed, saying why; the pod exits non-zero and Kubernetes retries it.
                outcome = Outcome(
                    False, 1, None, f"[datavc worker] {err}\n", time.monotonic() - started, None
                )
            ok = _report_done(client, base, d, outcome) and ok
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return 0 if ok else 1


def _report_done(client: RemoteClient, base: str, d: Datum, outcome: Outcome) -> bool:
    """``POST .../work/done`` for ``d``, and one line on the pod's log; returns ``outcome.ok``."""
    client.call(
        "POST",
        f"{base}/done",
        json={
            "datum": d.hash,
            "ok": outcome.ok,
            "tries": outcome.tries,
            "exit_code": outcome.exit_code,
            "logs": outcome.logs,
            "duration": outcome.duration,
        },
    )
    print(f"datum {d.hash[:12]}: {'success' if outcome.ok else f'failed (exit {outcome.exit_code})'}")
    if not outcome.ok:
        print(outcome.logs)
    return outcome.ok


def _run_batched(
    client: RemoteClient,
    base: str,
    job_id: str,
    spec: PipelineSpec,
    datums: list[Datum],
    scratch: Path,
    root: Path,
) -> int:
    """``transform.datum_batching``: one transform process for the shard, asking for datums.

    The batched executor runs it exactly as a direct worker pod does; each datum the
    transform asks for is started on the server, staged from the server, and, once the
    transform asks for the next one (or exits), its outputs are uploaded and its outcome
    reported. A datum whose staging or upload fails fails (the pod exits non-zero).
    """
    from datavc.pipelines.executors.batched import run_batched

    outcomes: list[bool] = []

    def done(d: Datum, o: Outcome) -> None:
        outcomes.append(_report_done(client, base, d, o))

    run_batched(
        None,
        spec,
        job_id,
        datums,
        scratch,
        lambda d, process=None: client.call("POST", f"{base}/start", params={"datum": d.hash}),
        done,
        deadline=None,
        sandbox=None,
        pfs_root=root,
        stager=lambda d, in_dir: stage_remote(client, d, in_dir),
        outputs_for=lambda d: _Uploader(client, base, d.hash),
    )
    return 0 if outcomes and all(outcomes) else 1
