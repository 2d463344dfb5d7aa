"""Where datums run: ``local`` (subprocesses, the embedded default) or ``kubernetes`` (a Job per job).

The store's ``config.json`` may hold ``"executor": {"kind": "kubernetes", "namespace": ...,
"secret": ..., "image": ...}``; the environment overrides it (``DATAVC_EXECUTOR``,
``DATAVC_K8S_NAMESPACE``, ``DATAVC_K8S_SECRET``, ``DATAVC_K8S_IMAGE``; ``DATAVC_K8S_SERVER``
gives worker pods a job token for that server instead of the credentials Secret, and
``DATAVC_JOB_TOKEN_MAX`` bounds its lifetime in seconds), which is how the daemon in a
cluster is configured.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from datavc.context import Context
    from datavc.pipelines.datums import Datum
    from datavc.pipelines.executors.kubernetes import KubernetesExecutor
    from datavc.pipelines.spec import PipelineSpec


@dataclass(frozen=True, slots=True)
class Outcome:
    """How a datum ended after all its tries.

    ``recovered``: ``cmd`` failed but ``transform.err_cmd`` exited 0; the datum does not
    fail the job, its output is empty, and it is not remembered (the next job runs it).
    """

    ok: bool
    tries: int
    exit_code: int | None
    logs: str
    duration: float
    output_tree: str | None
    recovered: bool = False
    #: The tree pack holding ``output_tree``'s page when it is not an object of its own
    #: (:mod:`datavc.tree_pages`): recorded with the datum.
    output_pack: str | None = None


class OnStart(Protocol):
    """Called when a datum starts; ``process`` is the orphans note of what runs it (local only)."""

    def __call__(self, d: Datum, process: str | None = None, /) -> None: ...


class Executor(Protocol):
    """Runs a job's datums; the runner records what they did (the interface every executor has)."""

    name: str

    def run(
        self,
        ctx: Context,
        spec: PipelineSpec,
        job_id: str,
        datums: list[Datum],
        on_start: OnStart,
        on_done: Callable[[Datum, Outcome], None],
    ) -> None:
        """Run ``datums``; a local executor reports through the callbacks, remote workers record
        their datums in the database themselves."""


def executor_for(ctx: Context, settings: dict[str, Any] | None = None) -> Executor:
    """The executor the store (or the environment) is configured with."""
    from datavc.errors import InvalidArgument

    cfg = dict(settings or {})
    kind = os.environ.get("DATAVC_EXECUTOR") or cfg.get("kind") or "local"
    if kind == "local":
        from datavc.pipelines.executors.local import LocalExecutor, scratch_dir

        return LocalExecutor(cfg.get("scratch") or scratch_dir(ctx), cfg)
    if kind == "kubernetes":
        return kubernetes_executor(cfg)
    raise InvalidArgument(f"unknown executor {kind!r}: use 'local' or 'kubernetes'")


def kubernetes_executor(settings: dict[str, Any]) -> KubernetesExecutor:
    """The Kubernetes executor configured by ``settings`` and the environment.

    Raises:
        InvalidArgument: the optional ``kubernetes`` package is not installed.
    """
    from datavc.pipelines.executors.kubernetes import KubernetesExecutor

    cfg = settings
    return KubernetesExecutor(
        namespace=os.environ.get("DATAVC_K8S_NAMESPACE") or cfg.get("namespace") or "default",
        secret=os.environ.get("DATAVC_K8S_SECRET") or cfg.get("secret") or "datavc-credentials",
        image=os.environ.get("DATAVC_K8S_IMAGE") or cfg.get("image"),
        gpu_resource=os.environ.get("DATAVC_K8S_GPU_RESOURCE") or cfg.get("gpu_resource"),
        unreachable_timeout=float(
            os.environ.get("DATAVC_K8S_UNREACHABLE_TIMEOUT") or cfg.get("unreachable_timeout") or 300
        ),
        server=os.environ.get("DATAVC_K8S_SERVER") or cfg.get("server"),
        job_token_max=float(os.environ.get("DATAVC_JOB_TOKEN_MAX") or cfg.get("job_token_max") or 0) or None,
    )
