"""A job's credentials on Kubernetes: a job token in a per-job Secret, gone when the job ends.

Why: worker pods hold no database or bucket keys (docs/security.md). When the executor
is configured with a server URL (``DATAVC_K8S_SERVER``), it mints a token scoped to the
job (:mod:`datavc.pipelines.job_tokens`), expiring at the job's deadline, and stores it in the
Secret ``datavc-job-<job>`` that only this job's pods read (``envFrom``). When the job
ends, however it ends, the token is revoked and the Secret deleted; a scheduler that dies
first leaves a token that still expires at the deadline, and the next scheduler to
finish the job revokes it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

from datavc.errors import BackendUnavailable
from datavc.pipelines import job_tokens

if TYPE_CHECKING:
    from datavc.context import Context
    from datavc.pipelines.spec import PipelineSpec


class KubernetesExecutor(Protocol):
    """What this module uses of ``datavc.pipelines.executors.kubernetes.KubernetesExecutor``."""

    namespace: str
    job_token_max: float

    def apis(self) -> tuple[Any, Any]: ...

    def _call(self, what: str, fn: Callable[[], Any]) -> Any: ...


TOKEN_KEY = "DATAVC_TOKEN"


def secret_name(job_id: str) -> str:
    """``datavc-job-<first 12 of the job id>``: a DNS-1123 name."""
    return f"datavc-job-{job_id[:12].lower()}"


def create(
    ex: KubernetesExecutor, ctx: Context, spec: PipelineSpec, job_id: str, datums: int, labels: dict[str, str]
) -> str:
    """Mint the job's token and store it in the job's Secret (replacing a stale one); its name."""
    from kubernetes.client.exceptions import ApiException

    life = job_tokens.lifetime(spec, datums, ex.job_token_max)
    token = job_tokens.mint(ctx, job_id, life)
    name = secret_name(job_id)
    body: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name, "namespace": ex.namespace, "labels": dict(labels)},
        "type": "Opaque",
        "stringData": {TOKEN_KEY: token.secret},
    }
    _delete(ex, name)  # an earlier attempt's Secret holds a token that may be revoked by now
    _, core = ex.apis()
    try:
        ex._call("create secret", lambda: core.create_namespaced_secret(ex.namespace, body))
    except ApiException as err:
        job_tokens.revoke_job(ctx, job_id)
        raise BackendUnavailable(f"Kubernetes refused Secret {name}: {err.status} {err.reason}") from None
    return name


def remove(ex: KubernetesExecutor, ctx: Context, job_id: str) -> None:
    """Revoke the job's tokens and delete its Secret (both idempotent)."""
    try:
        job_tokens.revoke_job(ctx, job_id)
    finally:
        _delete(ex, secret_name(job_id))


def _delete(ex: KubernetesExecutor, name: str) -> None:
    from kubernetes.client.exceptions import ApiException

    _, core = ex.apis()
    try:
        ex._call("delete secret", lambda: core.delete_namespaced_secret(name, ex.namespace))
    except ApiException as err:
        if err.status != 404:
            raise BackendUnavailable(
                f"cannot delete Kubernetes Secret {name}: {err.status} {err.reason}"
            ) from None
