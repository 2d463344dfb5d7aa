"""OpenLineage RunEvents for pipeline jobs (``pip install 'datavc[openlineage]'``).

Lineage tools (Marquez, DataHub, OpenMetadata, cloud catalogs) learn what a job read and
wrote from OpenLineage events. Each job a scheduler runs sends, through the
``openlineage-python`` client:

* ``START`` when it is claimed, with its input datasets (namespace = this store or server,
  name = the input repo, the input commit id as the dataset version);
* ``COMPLETE`` with the output dataset (the pipeline's output repo and its new commit),
  ``FAIL`` with the job's error message, or ``ABORT`` when the job was killed while it ran.

Datavc's own facets carry what the standard ones do not: the job's datum counts
(``datavc_job`` run facet) and, per dataset, the commit id, branch and commit set
(``datavc_commit``).

The transport is configured the way the library configures it (``OPENLINEAGE_URL``,
``OPENLINEAGE_CONFIG`` or an ``openlineage.yml`` in the working directory or
``~/.openlineage/``, ``OPENLINEAGE__TRANSPORT__*`` variables), and without any of those
nothing is sent and the library is not even imported: the library's own fallback (print
every event to the console) would be noise nobody asked for.

Emission never fails or slows a job: events are built in the scheduler (a few reads) and
handed to one background thread that sends them; whatever goes wrong is one warning
line. At interpreter exit the thread gets ``DATAVC_OPENLINEAGE_FLUSH`` seconds (default
5) to send what is queued.
"""

from __future__ import annotations

import atexit
import functools
import importlib.metadata
import json
import logging
import os
import queue
import socket
import threading
import uuid
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from datavc.context import Context
from datavc.db.models import Commit, Job, Pipeline, Repo
from datavc.pipelines.spec import PipelineSpec

if TYPE_CHECKING:
    from openlineage.client import OpenLineageClient
    from openlineage.client.event_v2 import RunEvent

log = logging.getLogger(__name__)


@functools.cache
def producer() -> str:
    """The ``producer`` URI of datavc's events: its package page at the installed version."""
    try:
        return f"https://pypi.org/project/datavc/{importlib.metadata.version('datavc')}/"
    except importlib.metadata.PackageNotFoundError:
        return "https://pypi.org/project/datavc/"


_QUEUE_SIZE = 1000


def enabled() -> bool:
    """Whether an OpenLineage transport is configured (cheap: environment and two file checks)."""
    if os.environ.get("OPENLINEAGE_DISABLED", "").strip().lower() == "true":
        return False
    if os.environ.get("OPENLINEAGE_URL") or os.environ.get("OPENLINEAGE_CONFIG"):
        return True
    if any(k.startswith("OPENLINEAGE__TRANSPORT") for k in os.environ):
        return True
    return any(
        os.path.isfile(p)
        for p in (
            os.path.join(os.getcwd(), "openlineage.yml"),
            os.path.join(os.path.expanduser("~/.openlineage"), "openlineage.yml"),
        )
    )


def job_started(ctx: Context, job_id: str) -> None:
    """Send START for a job just claimed (no-op when OpenLineage is not configured)."""
    if enabled():
        _send(ctx, job_id, "START")


def job_ended(ctx: Context, job_id: str, outcome: str) -> None:
    """Send COMPLETE, FAIL or ABORT for a job ``run_job`` returned ``outcome`` for.

    A job "lost" to another scheduler (its lease expired) sends nothing: that scheduler
    finishes it and reports the end. A lost job that was killed meanwhile sends ABORT.
    """
    if enabled():
        _send(ctx, job_id, None if outcome == "lost" else outcome)


def _send(ctx: Context, job_id: str, outcome: str | None) -> None:
    # The library and whatever it is configured with are third-party code: nothing they
    # raise may reach the job (one warning line instead), hence the broad except.
    try:
        event = _build(ctx, job_id, outcome)
        if event is not None:
            _emitter().put(event)
    except Exception as err:
        log.warning("OpenLineage event of job %s not sent: %s", job_id, _one_line(err))


def _one_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return f"{type(err).__name__}: {text[0] if text else ''}"


def namespace(ctx: Context) -> str:
    """The datasets' (and jobs') namespace: this store or server.

    ``DATAVC_OPENLINEAGE_NAMESPACE`` if set (say, the server's public URL, so clients and
    workers agree), else ``datavc://<host><store directory>``.
    """
    explicit = os.environ.get("DATAVC_OPENLINEAGE_NAMESPACE")
    if explicit:
        return explicit
    return f"datavc://{socket.gethostname()}{ctx.home or ''}"


def _build(ctx: Context, job_id: str, outcome: str | None) -> RunEvent | None:
    from openlineage.client.event_v2 import InputDataset, OutputDataset, Run, RunEvent, RunState
    from openlineage.client.event_v2 import Job as OLJob
    from openlineage.client.generated.dataset_version_dataset import DatasetVersionDatasetFacet
    from openlineage.client.generated.error_message_run import ErrorMessageRunFacet

    from datavc.pipelines import lineage_facets as facets

    with ctx.db.read() as s:
        job = s.get(Job, job_id)
        if job is None:
            return None
        pipeline = s.get(Pipeline, job.pipeline_id)
        if pipeline is None:
            return None
        if outcome is None:
            if job.state != "killed":
                return None
            state = RunState.ABORT
        else:
            state = {"START": RunState.START, "success": RunState.COMPLETE}.get(outcome, RunState.FAIL)
        spec = PipelineSpec.parse(job.spec, fmt="json")
        commits: dict[str, str | None] = json.loads(job.inputs)
        sets = dict(
            s.execute(
                select(Commit.id, Commit.commit_set_id).where(
                    Commit.id.in_([c for c in commits.values() if c] + [job.output_commit_id or ""])
                )
            ).all()
        )
        output_repo = pipeline.name
        output_branch = "main"
        repo_exists = s.scalar(select(Repo.id).where(Repo.name == output_repo)) is not None
        ns = namespace(ctx)

        def commit_facets(repo: str, branch: str, cid: str) -> dict[str, Any]:
            return {
                "version": DatasetVersionDatasetFacet(datasetVersion=cid, producer=producer()),
                "datavc_commit": facets.DatavcCommitDatasetFacet(
                    repo=repo, branch=branch, commitId=cid, commitSetId=sets.get(cid), producer=producer()
                ),
            }

        inputs = []
        for pfs in spec.inputs():
            cid = commits.get(pfs.name)
            inputs.append(
                InputDataset(
                    namespace=ns,
                    name=pfs.repo,
                    facets=commit_facets(pfs.repo, pfs.branch, cid) if cid else {},
                )
            )
        outputs = []
        if repo_exists or state == RunState.START:
            out = job.output_commit_id
            outputs.append(
                OutputDataset(
                    namespace=ns,
                    name=output_repo,
                    facets=commit_facets(output_repo, output_branch, out) if out else {},
                )
            )
        run_facets: dict[str, Any] = {
            "datavc_job": facets.DatavcJobRunFacet(
                jobId=job.id,
                pipelineVersion=job.pipeline_version,
                commitSetId=job.commit_set_id,
                inputCommits={k: v for k, v in commits.items() if v},
                outputCommitId=job.output_commit_id,
                datumsTotal=job.datums_total,
                datumsProcessed=job.datums_processed,
                datumsSkipped=job.datums_skipped,
                datumsFailed=job.datums_failed,
                producer=producer(),
            )
        }
        if state in (RunState.FAIL, RunState.ABORT) and job.message:
            run_facets["errorMessage"] = ErrorMessageRunFacet(
                message=job.message, programmingLanguage="shell", producer=producer()
            )
        return RunEvent(
            eventType=state,
            eventTime=datetime.now(UTC).isoformat(),
            run=Run(runId=str(uuid.UUID(hex=job.id)), facets=run_facets),
            job=OLJob(namespace=ns, name=pipeline.name),
            inputs=inputs,
            outputs=outputs,
            producer=producer(),
        )


class _Emitter:
    """One daemon thread that sends queued events, so a slow receiver never holds a job up."""

    def __init__(self) -> None:
        self.queue: queue.Queue[tuple[OpenLineageClient, RunEvent] | threading.Event] = queue.Queue(
            _QUEUE_SIZE
        )
        self._client: OpenLineageClient | None = None
        self._config: tuple[tuple[str, str], ...] | None = None
        self._lock = threading.Lock()
        self.thread = threading.Thread(target=self._run, name="datavc-openlineage", daemon=True)
        self.thread.start()
        atexit.register(self.flush, float(os.environ.get("DATAVC_OPENLINEAGE_FLUSH", "5")))

    def _client_now(self) -> OpenLineageClient:
        """A client for the configuration in force now (tests and long daemons may change it)."""
        config = (
            tuple(sorted((k, v) for k, v in os.environ.items() if k.startswith("OPENLINEAGE"))),
            (("cwd", os.getcwd()),),
        )
        key = tuple(kv for part in config for kv in part)
        with self._lock:
            if self._client is None or key != self._config:
                from openlineage.client import OpenLineageClient

                self._client = OpenLineageClient()
                self._config = key
            return self._client

    def put(self, event: RunEvent) -> None:
        try:
            self.queue.put_nowait((self._client_now(), event))
        except queue.Full:
            log.warning("OpenLineage queue full (%d events): event dropped", _QUEUE_SIZE)

    def flush(self, timeout: float = 5.0) -> bool:
        """Wait up to ``timeout`` seconds for queued events to be sent; True if all were."""
        done = threading.Event()
        try:
            self.queue.put(done, timeout=timeout)
        except queue.Full:
            return False
        return done.wait(timeout)

    def _run(self) -> None:
        while True:
            item = self.queue.get()
            if isinstance(item, threading.Event):
                item.set()  # everything queued before this marker was sent
                continue
            client, event = item
            try:
                client.emit(event)
            except Exception as err:  # third-party transport: a warning, never a crash (see _send)
                log.warning(
                    "OpenLineage %s event of run %s not sent: %s",
                    event.eventType.value if event.eventType else "",
                    event.run.runId,
                    _one_line(err),
                )


_EMITTER: _Emitter | None = None
_EMITTER_LOCK = threading.Lock()


def _emitter() -> _Emitter:
    global _EMITTER
    with _EMITTER_LOCK:
        if _EMITTER is None:
            _EMITTER = _Emitter()
        return _EMITTER


def flush(timeout: float = 5.0) -> bool:
    """Wait for queued events to be sent (tests; ``atexit`` does it at exit). True if none is left."""
    return True if _EMITTER is None else _EMITTER.flush(timeout)
