"""The Kubernetes executor: one ``batch/v1`` Indexed Job per pipeline job.

The job's pending datums are split into shards (one completion index each, at most
``max_shards``); each pod runs ``datavc worker --job ID --shard $JOB_COMPLETION_INDEX``
in the pipeline's ``transform.image``, with the database and object store credentials
from a Secret (``envFrom``; never inline). Workers record their datums in the database;
this side watches the Job (a watch from a ``resourceVersion``, resumed after
disconnects, relisted after ``410 Gone``), collects pod logs when it fails, and deletes it
when done (``propagationPolicy: Background``; ``ttlSecondsAfterFinished`` as a backstop).
A scheduler that restarts finds a running Job by its labels and re-attaches to it instead
of creating a duplicate. Uses the official ``kubernetes`` client.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from sqlalchemy import select, update
from sqlalchemy.exc import SQLAlchemyError

from datavc.db.models import Datum as DatumRow
from datavc.errors import BackendUnavailable, DatavcError, InvalidArgument
from datavc.pipelines import orphans

if TYPE_CHECKING:
    from datavc.context import Context
    from datavc.pipelines.datums import Datum
    from datavc.pipelines.executors import OnStart, Outcome
    from datavc.pipelines.spec import PipelineSpec

MANAGED_BY = "datavc"
JOB_LABEL = "datavc.io/job"
PIPELINE_LABEL = "datavc.io/pipeline"
_LOG_LIMIT = 16 * 1024
DEFAULT_GPU_RESOURCE = "nvidia.com/gpu"  # a GPU without a type (executor setting gpu_resource)
STOP_POLL_SECONDS = 1.0  # how soon a stopped job's Kubernetes Job is deleted
log = logging.getLogger(__name__)


def _dns_label(text: str, limit: int) -> str:
    s = re.sub(r"[^a-z0-9-]+", "-", text.lower()).strip("-")
    return s[:limit].rstrip("-") or "x"


def _label_value(text: str) -> str:
    s = re.sub(r"[^A-Za-z0-9_.-]+", "-", text)[:63]
    return re.sub(r"^[^A-Za-z0-9]+|[^A-Za-z0-9]+$", "", s) or "x"


def k8s_job_name(pipeline: str, job_id: str) -> str:
    """``datavc-<pipeline>-<job>``: a DNS-1123 name of at most 63 characters."""
    return f"datavc-{_dns_label(pipeline, 36)}-{job_id[:12]}"


def job_manifest(
    spec: PipelineSpec,
    job_id: str,
    shards: int,
    *,
    namespace: str,
    secret: str,
    image: str | None,
    ttl: int,
    gpu_resource: str = DEFAULT_GPU_RESOURCE,
    server: str | None = None,
) -> dict[str, Any]:
    """The ``batch/v1`` Job that runs a pipeline job's ``shards`` datum shards.

    Its pods pass the Pod Security Standards ``restricted`` profile (``pod_security``);
    the spec's placement fields, ``image_pull_secrets`` and ``resources`` (a GPU without a
    type asks for ``gpu_resource``) go into the pod template, and ``pod_patch`` last.
    With ``server``, ``secret`` is the job's own Secret (its job token, ``job_secrets``) and
    the pod reaches the store only through the server at that URL.
    """
    image = spec.transform.image or image
    if not image:
        raise InvalidArgument(
            f"pipeline {spec.name!r} has no transform.image: the kubernetes executor runs it in a container"
        )
    labels = {
        "app.kubernetes.io/managed-by": MANAGED_BY,
        PIPELINE_LABEL: _label_value(spec.name),
        JOB_LABEL: job_id,
    }
    container: dict[str, Any] = {
        "name": "worker",
        "image": image,
        # args, not command: the image's entrypoint (tini + store setup) still runs.
        "args": ["sh", "-c", f'exec datavc worker --job {job_id} --shard "$JOB_COMPLETION_INDEX"'],
        "envFrom": [{"secretRef": {"name": secret}}],
        "env": [{"name": "DATAVC_PFS_ROOT", "value": "/pfs"}]
        + ([{"name": "DATAVC_SERVER", "value": server}] if server else []),
        "volumeMounts": [{"name": "pfs", "mountPath": "/pfs"}, {"name": "tmp", "mountPath": "/tmp"}],
        "securityContext": CONTAINER_SECURITY,
    }
    volumes: list[dict[str, Any]] = [{"name": "pfs", "emptyDir": {}}]
    for i, mount in enumerate(spec.transform.secrets):
        if mount.env_var is not None:
            container["env"].append(
                {
                    "name": mount.env_var,
                    "valueFrom": {"secretKeyRef": {"name": mount.name, "key": mount.key}},
                }
            )
        else:
            volumes.append({"name": f"secret-{i}", "secret": {"secretName": mount.name}})
            container["volumeMounts"].append(
                {"name": f"secret-{i}", "mountPath": mount.mount_path, "readOnly": True}
            )
    if spec.resources is not None:
        r = spec.resources
        amounts: dict[str, str] = {
            k: v for k, v in (("cpu", r.cpu), ("memory", r.memory), ("ephemeral-storage", r.disk)) if v
        }
        if r.gpu is not None and r.gpu.number:
            amounts[r.gpu.type or gpu_resource] = str(r.gpu.number)
        if amounts:
            container["resources"] = {"requests": dict(amounts), "limits": dict(amounts)}
    pod_spec: dict[str, Any] = {
        "restartPolicy": "Never",
        "automountServiceAccountToken": False,  # user code needs no Kubernetes API access
        "securityContext": pod_security(spec.transform.user),
        "containers": [container],
        "volumes": [*volumes, {"name": "tmp", "emptyDir": {}}],
    }
    if spec.node_selector:
        pod_spec["nodeSelector"] = dict(spec.node_selector)
    if spec.tolerations:
        pod_spec["tolerations"] = [dict(t) for t in spec.tolerations]
    if spec.priority_class_name:
        pod_spec["priorityClassName"] = spec.priority_class_name
    if spec.service_account:
        pod_spec["serviceAccountName"] = spec.service_account
    if spec.image_pull_secrets:
        pod_spec["imagePullSecrets"] = [{"name": n} for n in spec.image_pull_secrets]
    if spec.pod_patch:
        pod_spec = apply_pod_patch(pod_spec, spec.pod_patch, spec.name)
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": k8s_job_name(spec.name, job_id), "namespace": namespace, "labels": labels},
        "spec": {
            "completionMode": "Indexed",
            "completions": shards,
            "parallelism": max(1, min(spec.parallelism, shards)),
            "backoffLimitPerIndex": spec.datum_tries - 1,
            "maxFailedIndexes": shards,
            "ttlSecondsAfterFinished": ttl,
            **({"activeDeadlineSeconds": max(1, int(spec.job_timeout))} if spec.job_timeout else {}),
            "template": {"metadata": {"labels": labels}, "spec": pod_spec},
        },
    }


NONROOT_UID = 10001  # the image's unprivileged user (Dockerfile USER), when transform.user is not a uid

# The container half of the Pod Security Standards "restricted" profile, plus a read-only
# root file system (writable places are the /pfs and /tmp emptyDirs).
CONTAINER_SECURITY: dict[str, Any] = {
    "allowPrivilegeEscalation": False,
    "capabilities": {"drop": ["ALL"]},
    "readOnlyRootFilesystem": True,
    "runAsNonRoot": True,
    "seccompProfile": {"type": "RuntimeDefault"},
}


def pod_security(user: str | None = None) -> dict[str, Any]:
    """The pod ``securityContext`` of every datavc pod (workers, daemon, server): non-root,
    ``RuntimeDefault`` seccomp; ``transform.user`` when it is a uid or ``uid:gid`` other
    than root (a pod never runs as root: the ``restricted`` profile forbids it)."""
    uid, gid = NONROOT_UID, NONROOT_UID
    if user is not None:
        name, _, group = user.partition(":")
        if name.isdigit() and int(name) > 0:
            uid = gid = int(name)
            if group.isdigit() and int(group) > 0:
                gid = int(group)
    return {
        "runAsNonRoot": True,
        "runAsUser": uid,
        "runAsGroup": gid,
        "fsGroup": gid,
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def apply_pod_patch(
    pod_spec: dict[str, Any], patch: tuple[dict[str, Any], ...], pipeline: str
) -> dict[str, Any]:
    """Apply ``pod_patch`` (a JSON patch, RFC 6902, on the pod spec as in Pachyderm).

    The result is validated by the API server's schema when the Job is created (a patch
    that breaks the pod is refused there, naming the field).

    Raises:
        InvalidArgument: the patch does not apply (a path that does not exist, a failed test).
    """
    import jsonpatch

    try:
        out: dict[str, Any] = jsonpatch.apply_patch(pod_spec, list(patch))
    except (jsonpatch.JsonPatchException, jsonpatch.JsonPointerException, TypeError, ValueError) as err:
        raise InvalidArgument(
            f"pipeline {pipeline!r}: pod_patch does not apply to the pod spec: {err}"
        ) from err
    return out


def _finished(job: Any) -> str | None:
    """ "Complete" or "Failed" once the Job has ended, else None."""
    for c in (job.status and job.status.conditions) or []:
        if c.status == "True" and c.type in ("Complete", "SuccessCriteriaMet"):
            return "Complete"
        if c.status == "True" and c.type in ("Failed", "FailureTarget"):
            return "Failed"
    return None


EXTRA_HINT = "pip install 'datavc[kubernetes]'"


def require_client() -> None:
    """Fail early, in one line, when the optional ``kubernetes`` package is not installed.

    Raises:
        InvalidArgument: the kubernetes executor was chosen but this installation lacks
            the ``kubernetes`` extra (exit code 2: the setting cannot work here).
    """
    try:
        import kubernetes  # noqa: F401
    except ImportError as err:
        raise InvalidArgument(
            f"the kubernetes executor needs the kubernetes package, which is not installed: {EXTRA_HINT}"
        ) from err


class KubernetesExecutor:
    """Runs each job's datums as an Indexed Job's pods."""

    name = "kubernetes"

    def __init__(
        self,
        *,
        namespace: str,
        secret: str,
        image: str | None = None,
        ttl: int = 600,
        max_shards: int = 100,
        watch_timeout: int = 30,
        unreachable_timeout: float = 300.0,
        gpu_resource: str | None = None,
        server: str | None = None,
        job_token_max: float | None = None,
    ) -> None:
        self.namespace = namespace
        self.secret = secret
        self.image = image
        self.ttl = ttl
        self.max_shards = max_shards
        self.watch_timeout = watch_timeout
        self.unreachable_timeout = unreachable_timeout
        self.gpu_resource = gpu_resource or DEFAULT_GPU_RESOURCE
        # With a server URL, pods get a job token (datavc.pipelines.executors.job_secrets),
        # not the store's credentials Secret.
        self.server = server
        self.job_token_max = job_token_max or 24 * 3600.0
        self._apis: tuple[Any, Any] | None = None
        require_client()

    # ----- client ------------------------------------------------------------

    def apis(self) -> tuple[Any, Any]:
        """(BatchV1Api, CoreV1Api), configured in-cluster or from KUBECONFIG."""
        if self._apis is None:
            import os

            from kubernetes import client, config

            try:
                if os.environ.get("KUBERNETES_SERVICE_HOST"):
                    config.load_incluster_config()
                else:
                    # Read KUBECONFIG now: the client's default path is fixed when it is imported.
                    config.load_kube_config(config_file=os.environ.get("KUBECONFIG") or None)
            except Exception as err:
                raise BackendUnavailable(f"no Kubernetes configuration: {err}") from err
            api = client.ApiClient()
            self._apis = (client.BatchV1Api(api), client.CoreV1Api(api))
        return self._apis

    def _call(self, what: str, fn: Callable[[], Any]) -> Any:
        """Call the API, retrying connection failures with backoff for ``unreachable_timeout``."""
        from kubernetes.client.exceptions import ApiException
        from urllib3.exceptions import HTTPError

        started = time.monotonic()
        delay = 0.5
        while True:
            try:
                return fn()
            except ApiException:
                raise
            except (HTTPError, OSError) as err:
                if time.monotonic() - started > self.unreachable_timeout:
                    raise BackendUnavailable(
                        f"the Kubernetes API is unreachable ({what}) "
                        f"for {self.unreachable_timeout:.0f}s: {err}"
                    ) from err
                time.sleep(delay)
                delay = min(delay * 2, 10.0)

    # ----- running a job -----------------------------------------------------

    def run(
        self,
        ctx: Context,
        spec: PipelineSpec,
        job_id: str,
        datums: list[Datum],
        on_start: OnStart,
        on_done: Callable[[Datum, Outcome], None],
    ) -> None:
        """Run the datums as pods; returns when the Kubernetes Job has ended (workers record results)."""
        if not datums:
            return
        from kubernetes.client.exceptions import ApiException

        batch, _ = self.apis()
        name = k8s_job_name(spec.name, job_id)
        existing = self._call(
            "list jobs",
            lambda: batch.list_namespaced_job(self.namespace, label_selector=f"{JOB_LABEL}={job_id}"),
        )
        if not any(j.metadata.name == name for j in existing.items):
            shards = min(len(datums), self.max_shards)
            if spec.transform.datum_batching:
                shards = min(shards, spec.parallelism)  # a pod's one process works through its shard
            self._assign_shards(ctx, job_id, datums, shards)
            secret = self.secret
            if self.server:
                from datavc.pipelines.executors import job_secrets

                labels = {"app.kubernetes.io/managed-by": MANAGED_BY, JOB_LABEL: job_id}
                secret = job_secrets.create(self, ctx, spec, job_id, len(datums), labels)
            body = job_manifest(
                spec,
                job_id,
                shards,
                namespace=self.namespace,
                secret=secret,
                image=self.image,
                ttl=self.ttl,
                gpu_resource=self.gpu_resource,
                server=self.server,
            )
            try:
                self._call("create job", lambda: batch.create_namespaced_job(self.namespace, body))
            except ApiException as err:
                if err.status != 409:  # 409: created by an earlier attempt that lost its answer
                    self._end_credentials(ctx, job_id)
                    raise BackendUnavailable(f"Kubernetes refused Job {name}: {_reason(err)}") from err
        halt = threading.Event()
        watcher = threading.Thread(
            target=self._delete_when_stopped,
            args=(ctx, job_id, name, halt),
            name=f"stop-{job_id[:8]}",
            daemon=True,
        )
        watcher.start()
        try:
            outcome = self._wait(name, job_id)
        finally:
            halt.set()
            watcher.join()
        try:
            orphans.ensure_running(ctx, job_id)
        except orphans.JobStopped:
            self._delete(name)  # stopped: its pods go now; nothing to collect
            raise
        if outcome != "Complete":
            self._collect_failures(ctx, job_id, name)
        self._delete(name)
        # Only once the Job has ended: a scheduler that stops while it runs leaves its pods
        # their token (it expires at the job's deadline) for the next one to re-attach to.
        self._end_credentials(ctx, job_id)

    def _end_credentials(self, ctx: Context, job_id: str) -> None:
        if self.server:
            from datavc.pipelines.executors import job_secrets

            job_secrets.remove(self, ctx, job_id)

    def _delete_when_stopped(self, ctx: Context, job_id: str, name: str, halt: threading.Event) -> None:
        """Delete the Kubernetes Job (and so its pods) as soon as 'datavc job stop' ends the
        job, instead of letting its running datums finish; ``_wait`` then sees it gone."""
        while not halt.wait(STOP_POLL_SECONDS):
            try:
                orphans.ensure_running(ctx, job_id)
            except orphans.JobStopped:
                try:
                    self._delete(name)
                except BackendUnavailable as err:
                    log.warning("deleting the Job of stopped job %s failed: %s", job_id, err)
                    continue
                return
            except (DatavcError, SQLAlchemyError) as err:
                log.warning("checking whether job %s was stopped failed: %s", job_id, err)

    def _assign_shards(self, ctx: Context, job_id: str, datums: list[Datum], shards: int) -> None:
        with ctx.db.write() as s:
            for i, d in enumerate(sorted(datums, key=lambda d: d.hash)):
                s.execute(
                    update(DatumRow)
                    .where(DatumRow.job_id == job_id, DatumRow.datum_hash == d.hash)
                    .values(shard=i % shards)
                )

    def _wait(self, name: str, job_id: str) -> str:
        """Watch the Job until it ends; resumes after disconnects, relists after 410 Gone."""
        from kubernetes import watch
        from kubernetes.client.exceptions import ApiException

        batch, _ = self.apis()
        selector = f"{JOB_LABEL}={job_id}"
        rv: str | None = None
        while True:
            try:
                if rv is None:
                    listed = self._call(
                        "list jobs",
                        lambda: batch.list_namespaced_job(self.namespace, label_selector=selector),
                    )
                    rv = listed.metadata.resource_version
                    found = [j for j in listed.items if j.metadata.name == name]
                    if not found:
                        return "Failed"  # deleted under us: nothing recorded means failure
                    state = _finished(found[0])
                    if state:
                        return state
                w = watch.Watch()
                for event in w.stream(
                    batch.list_namespaced_job,
                    self.namespace,
                    label_selector=selector,
                    resource_version=rv,
                    timeout_seconds=self.watch_timeout,
                ):
                    kind, obj = event["type"], event["object"]
                    if kind == "ERROR":
                        rv = None  # e.g. 410 Gone as an event: start over from a list
                        break
                    rv = obj.metadata.resource_version
                    if obj.metadata.name != name:
                        continue
                    if kind == "DELETED":
                        return "Failed"
                    state = _finished(obj)
                    if state:
                        w.stop()
                        return state
            except ApiException as err:
                if err.status == 410:
                    rv = None
                    continue
                raise BackendUnavailable(f"watching Kubernetes Job {name} failed: {_reason(err)}") from err
            except Exception as err:
                from urllib3.exceptions import HTTPError

                if not isinstance(err, HTTPError | OSError):
                    raise
                self._call("watch job", lambda: batch.list_namespaced_job(self.namespace, limit=1))

    def _collect_failures(self, ctx: Context, job_id: str, name: str) -> None:
        """Attach failed pods' logs to their shard's datums that did not record a result."""
        from kubernetes.client.exceptions import ApiException

        _, core = self.apis()
        pods = self._call(
            "list pods",
            lambda: core.list_namespaced_pod(
                self.namespace, label_selector=f"batch.kubernetes.io/job-name={name}"
            ),
        )
        logs: dict[int, str] = {}
        for pod in pods.items:
            if pod.status is None or pod.status.phase != "Failed":
                continue
            labels = pod.metadata.labels or {}
            index = labels.get("batch.kubernetes.io/job-completion-index")
            if index is None:
                continue
            try:
                pod_name: str = pod.metadata.name

                def read_log(pod_name: str = pod_name) -> Any:
                    return core.read_namespaced_pod_log(pod_name, self.namespace)

                text = self._call("read pod log", read_log)
            except ApiException as err:
                text = f"(no log: {_reason(err)})"
            logs[int(index)] = f"[pod {pod.metadata.name}]\n" + str(text)[-_LOG_LIMIT:]
        with ctx.db.write() as s:
            rows = s.execute(
                select(DatumRow.datum_hash, DatumRow.shard).where(
                    DatumRow.job_id == job_id, DatumRow.state.in_(("pending", "running"))
                )
            ).all()
            for datum_hash, shard in rows:
                s.execute(
                    update(DatumRow)
                    .where(DatumRow.job_id == job_id, DatumRow.datum_hash == datum_hash)
                    .values(
                        state="failed",
                        logs=logs.get(shard or 0, "the worker pod failed before recording a result"),
                    )
                )

    def _delete(self, name: str) -> None:
        from kubernetes.client.exceptions import ApiException

        batch, _ = self.apis()
        try:
            self._call(
                "delete job",
                lambda: batch.delete_namespaced_job(name, self.namespace, propagation_policy="Background"),
            )
        except ApiException as err:
            if err.status != 404:
                raise BackendUnavailable(f"cannot delete Kubernetes Job {name}: {_reason(err)}") from err


def _reason(err: Any) -> str:
    import json

    try:
        body = json.loads(err.body)
        return f"{body.get('reason', err.status)}: {body.get('message', '')}"
    except (TypeError, ValueError):
        return f"{err.status} {err.reason}"
