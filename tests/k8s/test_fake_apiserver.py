"""The fake Kubernetes API server, driven by the official `kubernetes` client as an executor would."""

from __future__ import annotations

import base64
import sys
import time
from collections.abc import Iterator
from typing import Any

import pytest
import urllib3
from kubernetes import client, config, watch
from kubernetes.client.rest import ApiException

from tests.k8s.fake_apiserver import FakeApiServer, format_indexes

NS = "default"


@pytest.fixture
def api(fake_k8s: FakeApiServer) -> Iterator[tuple[client.BatchV1Api, client.CoreV1Api]]:
    config.load_kube_config(config_file=str(fake_k8s.kubeconfig_path))
    api_client = client.ApiClient()
    try:
        yield client.BatchV1Api(api_client), client.CoreV1Api(api_client)
    finally:
        api_client.close()


def job_body(
    name: str,
    script: str,
    *,
    completions: int = 1,
    parallelism: int = 1,
    indexed: bool = True,
    restart: str = "Never",
    env: list[dict[str, Any]] | None = None,
    labels: dict[str, str] | None = None,
    **spec: Any,
) -> dict[str, Any]:
    container: dict[str, Any] = {"name": "main", "image": "busybox:1.36", "command": ["sh", "-c", script]}
    if env:
        container["env"] = env
    body: dict[str, Any] = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name, "labels": labels or {}},
        "spec": {
            "completions": completions,
            "parallelism": parallelism,
            "template": {"spec": {"restartPolicy": restart, "containers": [container]}},
            **spec,
        },
    }
    if indexed:
        body["spec"]["completionMode"] = "Indexed"
    return body


def pod_log(core: client.CoreV1Api, name: str, **kwargs: Any) -> str:
    # The client json-decodes a `str` response ("0\n" -> "0"): read the raw text like `kubectl logs`.
    return str(core.read_namespaced_pod_log(name, NS, _preload_content=False, **kwargs).data.decode())


def wait_job(batch: client.BatchV1Api, name: str, timeout: float = 15) -> client.V1Job:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = batch.read_namespaced_job(name, NS)
        types = {c.type for c in job.status.conditions or [] if c.status == "True"}
        if types & {"Complete", "Failed"}:
            return job
        time.sleep(0.05)
    raise AssertionError(f"job {name} did not finish")


def test_format_indexes() -> None:
    assert format_indexes({0, 1, 2, 5, 7, 8}) == "0-2,5,7-8"
    assert format_indexes(set()) == ""


def test_indexed_job_completes_with_logs(fake_k8s: FakeApiServer) -> None:
    # The path an executor takes: load_kube_config, then the default-client APIs.
    config.load_kube_config(config_file=str(fake_k8s.kubeconfig_path))
    batch, core = client.BatchV1Api(), client.CoreV1Api()
    created = batch.create_namespaced_job(
        NS, job_body("idx", "echo $JOB_COMPLETION_INDEX; exit 0", completions=3, parallelism=2)
    )
    assert created.metadata.uid and created.metadata.generation == 1
    assert created.spec.backoff_limit == 6 and created.spec.selector.match_labels
    job = wait_job(batch, "idx")
    assert job.status.succeeded == 3 and job.status.completed_indexes == "0-2"
    assert job.status.start_time and job.status.completion_time and not job.status.active
    assert [c.type for c in job.status.conditions] == ["SuccessCriteriaMet", "Complete"]
    pods = core.list_namespaced_pod(NS, label_selector="job-name=idx").items
    assert len(pods) == 3 and {p.status.phase for p in pods} == {"Succeeded"}
    for pod in pods:
        index = pod.metadata.labels["batch.kubernetes.io/job-completion-index"]
        assert pod.metadata.annotations["batch.kubernetes.io/job-completion-index"] == index
        assert (
            pod.metadata.name.startswith(f"idx-{index}-")
            and len(pod.metadata.name) == len(f"idx-{index}-") + 5
        )
        assert pod.metadata.owner_references[0].uid == created.metadata.uid
        assert pod_log(core, pod.metadata.name, container="main") == f"{index}\n"
        one = core.list_namespaced_pod(
            NS,
            label_selector=f"batch.kubernetes.io/job-name=idx,batch.kubernetes.io/job-completion-index={index}",
        )
        assert [p.metadata.name for p in one.items] == [pod.metadata.name]
    assert len(fake_k8s.created_jobs) == 1 and "idx" in fake_k8s.jobs


def test_failed_index_retried_then_job_fails(
    api: tuple[client.BatchV1Api, client.CoreV1Api], fake_k8s: FakeApiServer
) -> None:
    batch, core = api
    script = 'echo "try $JOB_COMPLETION_INDEX"; [ "$JOB_COMPLETION_INDEX" != 1 ]'
    batch.create_namespaced_job(
        NS, job_body("flaky", script, completions=3, parallelism=3, backoffLimitPerIndex=1)
    )
    job = wait_job(batch, "flaky")
    assert job.status.failed_indexes == "1" and job.status.completed_indexes == "0,2"
    assert job.status.failed == 2 and job.status.succeeded == 2
    failed = next(c for c in job.status.conditions if c.type == "Failed")
    assert failed.reason == "FailedIndexes" and job.status.completion_time is None
    pods = core.list_namespaced_pod(NS, label_selector="batch.kubernetes.io/job-completion-index=1").items
    assert len(pods) == 2 and {p.status.phase for p in pods} == {"Failed"}
    assert pods[0].status.container_statuses[0].state.terminated.exit_code == 1


def test_backoff_limit_fails_job(api: tuple[client.BatchV1Api, client.CoreV1Api]) -> None:
    batch, core = api
    batch.create_namespaced_job(NS, job_body("nope", "exit 3", indexed=False, backoffLimit=1))
    job = wait_job(batch, "nope")
    assert [c.reason for c in job.status.conditions] == ["BackoffLimitExceeded", "BackoffLimitExceeded"]
    assert [c.type for c in job.status.conditions] == ["FailureTarget", "Failed"]
    assert len(core.list_namespaced_pod(NS, label_selector="job-name=nope").items) == 2


def test_watch_events_and_expired_resource_version(
    api: tuple[client.BatchV1Api, client.CoreV1Api], fake_k8s: FakeApiServer
) -> None:
    batch, _ = api
    rv = batch.list_namespaced_job(NS).metadata.resource_version
    batch.create_namespaced_job(NS, job_body("w", "exit 0", labels={"team": "a"}))
    wait_job(batch, "w")
    batch.delete_namespaced_job("w", NS, propagation_policy="Background")
    w = watch.Watch()
    seen = [
        (e["type"], e["object"].metadata.name)
        for e in w.stream(
            batch.list_namespaced_job, NS, resource_version=rv, timeout_seconds=1, label_selector="team=a"
        )
    ]
    assert seen[0] == ("ADDED", "w") and seen[-1] == ("DELETED", "w")
    assert {t for t, _ in seen[1:-1]} == {"MODIFIED"}
    # A live watch sees new events as they happen, and ends after timeoutSeconds.
    start = time.monotonic()
    live = [e["type"] for e in watch.Watch().stream(batch.list_namespaced_job, NS, timeout_seconds=1)]
    assert live == [] and 0.9 < time.monotonic() - start < 5
    fake_k8s.compact()
    with pytest.raises(ApiException) as err:
        list(watch.Watch().stream(batch.list_namespaced_job, NS, resource_version=rv, timeout_seconds=1))
    assert err.value.status == 410
    raw = batch.list_namespaced_job(
        NS, watch=True, resource_version=rv, timeout_seconds=1, _preload_content=False
    )
    assert b'"code": 410' in raw.data and b'"Expired"' in raw.data


def test_label_selector(api: tuple[client.BatchV1Api, client.CoreV1Api]) -> None:
    batch, _ = api
    for name, labels in (
        ("a", {"app": "x", "tier": "1"}),
        ("b", {"app": "x", "tier": "2"}),
        ("c", {"app": "y"}),
    ):
        batch.create_namespaced_job(NS, job_body(name, "exit 0", labels=labels))

    def names(sel: str) -> list[str]:
        return [j.metadata.name for j in batch.list_namespaced_job(NS, label_selector=sel).items]

    assert names("app=x") == ["a", "b"]
    assert names("app=x,tier=2") == ["b"]
    assert names("app in (x,y),tier notin (1)") == ["b", "c"]
    assert names("app!=x") == ["c"] and names("!tier") == ["c"] and names("tier") == ["a", "b"]
    page = batch.list_namespaced_job(NS, limit=2)
    rest = batch.list_namespaced_job(NS, limit=2, _continue=page.metadata._continue)
    assert [j.metadata.name for j in page.items + rest.items] == ["a", "b", "c"]


def test_errors_are_status_objects(
    api: tuple[client.BatchV1Api, client.CoreV1Api], fake_k8s: FakeApiServer
) -> None:
    batch, core = api
    batch.create_namespaced_job(NS, job_body("dup", "exit 0"))
    with pytest.raises(ApiException) as err:
        batch.create_namespaced_job(NS, job_body("dup", "exit 0"))
    assert err.value.status == 409 and '"reason":"AlreadyExists"' in err.value.body.replace(" ", "")
    assert len(fake_k8s.created_jobs) == 1
    with pytest.raises(ApiException) as err:
        batch.read_namespaced_job("missing", NS)
    assert err.value.status == 404 and 'jobs.batch \\"missing\\" not found' in err.value.body
    with pytest.raises(ApiException) as err:
        core.read_namespaced_pod_log("missing", NS)
    assert err.value.status == 404
    with pytest.raises(ApiException) as err:
        batch.create_namespaced_job("nowhere", job_body("x", "exit 0"))
    assert err.value.status == 404


@pytest.mark.parametrize(
    ("change", "code", "message"),
    [
        (
            lambda b: b["spec"]["template"]["spec"].update(restartPolicy="Always"),
            422,
            'spec.template.spec.restartPolicy: Unsupported value: \\"Always\\"',
        ),
        (lambda b: b["metadata"].update(name="a" * 64), 422, "must be no more than 63 characters"),
        (
            lambda b: b["spec"].pop("completions"),
            422,
            "spec.completions: Required value: when completion mode is Indexed",
        ),
        (
            lambda b: b["spec"].update(completionMode="NonIndexed", backoffLimitPerIndex=1),
            422,
            "spec.backoffLimitPerIndex: Forbidden: requires indexed completion mode",
        ),
        (lambda b: b["spec"].update(parallelism=-1), 422, "spec.parallelism: Invalid value: -1"),
        (
            lambda b: b["spec"]["template"]["spec"]["containers"][0].update(name="Main_1"),
            422,
            "spec.template.spec.containers[0].name: Invalid value",
        ),
        (
            lambda b: b["spec"]["template"]["spec"]["containers"][0].update(
                env=[{"name": "1X", "value": "v"}]
            ),
            422,
            "spec.template.spec.containers[0].env[0].name: Invalid value",
        ),
        (lambda b: b["metadata"].update(name="Bad_Name"), 422, "RFC 1123 subdomain"),
        # Unknown fields / wrong types are decoding errors: a real server (fieldValidation=Strict) says 400.
        (lambda b: b["spec"].update(bogus=1), 400, 'strict decoding error: unknown field \\"spec.bogus\\"'),
        (
            lambda b: b["spec"]["template"]["spec"]["containers"][0].update(colour="red"),
            400,
            'unknown field \\"spec.template.spec.containers[0].colour\\"',
        ),
        (lambda b: b["spec"].update(parallelism="two"), 400, "cannot be handled as a Job"),
    ],
)
def test_invalid_jobs_rejected(
    api: tuple[client.BatchV1Api, client.CoreV1Api],
    fake_k8s: FakeApiServer,
    change: Any,
    code: int,
    message: str,
) -> None:
    batch, _ = api
    body = job_body("bad", "exit 0", completions=2)
    change(body)
    with pytest.raises(ApiException) as err:
        batch.create_namespaced_job(NS, body)
    assert err.value.status == code, err.value.body
    assert message in err.value.body, err.value.body
    assert '"kind": "Status"' in err.value.body and '"status": "Failure"' in err.value.body
    assert fake_k8s.created_jobs == [] and fake_k8s.jobs == {}


def test_delete_background_removes_pods_and_orphan_keeps_them(
    api: tuple[client.BatchV1Api, client.CoreV1Api], fake_k8s: FakeApiServer
) -> None:
    batch, core = api
    for name in ("bg", "orph"):
        batch.create_namespaced_job(NS, job_body(name, "sleep 30", completions=2, parallelism=2))
    fake_k8s.wait_for(lambda s: sum(p["status"]["phase"] == "Running" for p in s.pods.values()) == 4)
    batch.delete_namespaced_job("bg", NS, propagation_policy="Background")
    batch.delete_namespaced_job("orph", NS, body=client.V1DeleteOptions(propagation_policy="Orphan"))
    fake_k8s.wait_for(lambda s: not any(n.startswith("bg-") for n in s.pods))
    assert fake_k8s.jobs == {}
    orphans = core.list_namespaced_pod(NS, label_selector="job-name=orph").items
    assert len(orphans) == 2 and all(not p.metadata.owner_references for p in orphans)


def test_delete_foreground(api: tuple[client.BatchV1Api, client.CoreV1Api], fake_k8s: FakeApiServer) -> None:
    batch, _ = api
    batch.create_namespaced_job(NS, job_body("fg", "sleep 30", indexed=False))
    fake_k8s.wait_for(lambda s: any(p["status"]["phase"] == "Running" for p in s.pods.values()))
    batch.delete_namespaced_job("fg", NS, propagation_policy="Foreground")
    fake_k8s.wait_for(lambda s: not s.jobs and not s.pods)


def test_ttl_seconds_after_finished(
    api: tuple[client.BatchV1Api, client.CoreV1Api], fake_k8s: FakeApiServer
) -> None:
    batch, _ = api
    batch.create_namespaced_job(NS, job_body("ttl", "exit 0", ttlSecondsAfterFinished=1))
    wait_job(batch, "ttl")
    fake_k8s.wait_for(lambda s: "ttl" not in s.jobs and not s.pods, timeout=5)
    with pytest.raises(ApiException) as err:
        batch.read_namespaced_job("ttl", NS)
    assert err.value.status == 404


def test_secrets_reach_the_pod(
    api: tuple[client.BatchV1Api, client.CoreV1Api], fake_k8s: FakeApiServer
) -> None:
    batch, core = api
    core.create_namespaced_secret(
        NS, client.V1Secret(metadata=client.V1ObjectMeta(name="creds"), string_data={"password": "s3cret"})
    )
    core.create_namespaced_secret(
        NS, {"metadata": {"name": "more"}, "data": {"TOKEN": base64.b64encode(b"tok").decode()}}
    )
    assert core.read_namespaced_secret("creds", NS).data == {"password": base64.b64encode(b"s3cret").decode()}
    fake_k8s.env_overrides["EXTRA"] = "x"
    body = job_body(
        "sec",
        'echo "$PASSWORD $TOKEN $EXTRA $PLAIN $(pwd)"',
        indexed=False,
        env=[
            {"name": "PASSWORD", "valueFrom": {"secretKeyRef": {"name": "creds", "key": "password"}}},
            {"name": "PLAIN", "value": "p-$(PASSWORD)"},
        ],
    )
    container = body["spec"]["template"]["spec"]["containers"][0]
    container["envFrom"] = [{"secretRef": {"name": "more"}}]
    container["workingDir"] = str(fake_k8s.kubeconfig_path.parent / "wd")  # type: ignore[union-attr]
    batch.create_namespaced_job(NS, body)
    assert wait_job(batch, "sec").status.succeeded == 1
    pod = core.list_namespaced_pod(NS, label_selector="job-name=sec").items[0]
    assert pod_log(core, pod.metadata.name) == f"s3cret tok x p-s3cret {container['workingDir']}\n"


def test_missing_secret_keeps_pod_pending(
    api: tuple[client.BatchV1Api, client.CoreV1Api], fake_k8s: FakeApiServer
) -> None:
    batch, core = api
    batch.create_namespaced_job(
        NS,
        job_body(
            "nosec",
            "exit 0",
            indexed=False,
            env=[{"name": "X", "valueFrom": {"secretKeyRef": {"name": "absent", "key": "k"}}}],
        ),
    )
    fake_k8s.wait_for(lambda s: any(p["status"].get("containerStatuses") for p in s.pods.values()))
    pod = core.list_namespaced_pod(NS, label_selector="job-name=nosec").items[0]
    waiting = pod.status.container_statuses[0].state.waiting
    assert pod.status.phase == "Pending" and waiting.reason == "CreateContainerConfigError"
    core.create_namespaced_secret(NS, {"metadata": {"name": "absent"}, "stringData": {"k": "v"}})
    assert wait_job(batch, "nosec").status.succeeded == 1


def test_pause_and_resume(api: tuple[client.BatchV1Api, client.CoreV1Api], fake_k8s: FakeApiServer) -> None:
    batch, _ = api
    batch.create_namespaced_job(NS, job_body("p", "sleep 0.5", indexed=False))
    fake_k8s.pause()
    with pytest.raises(urllib3.exceptions.MaxRetryError):
        batch.read_namespaced_job("p", NS, _request_timeout=2)
    time.sleep(0.7)  # the controller and pods keep going while the apiserver is unreachable
    fake_k8s.resume()
    assert wait_job(batch, "p").status.succeeded == 1


def test_kill_pods_counts_as_failure_and_retries(
    api: tuple[client.BatchV1Api, client.CoreV1Api], fake_k8s: FakeApiServer
) -> None:
    batch, _ = api
    sleeper = f'"{sys.executable}" -c "import time; time.sleep(30)"'
    script = f"if [ -e killed ]; then exit 0; fi; touch killed; exec {sleeper}"
    body = job_body("k", script, indexed=False)
    body["spec"]["template"]["spec"]["containers"][0]["workingDir"] = str(
        fake_k8s.kubeconfig_path.parent / "k"
    )  # type: ignore[union-attr]
    batch.create_namespaced_job(NS, body)
    fake_k8s.wait_for(lambda s: any(p["status"]["phase"] == "Running" for p in s.pods.values()))
    time.sleep(0.2)
    assert fake_k8s.kill_pods("k") == 1
    job = wait_job(batch, "k")
    assert job.status.failed == 1 and job.status.succeeded == 1


def test_watch_pods_sees_phases(api: tuple[client.BatchV1Api, client.CoreV1Api]) -> None:
    batch, core = api
    rv = core.list_namespaced_pod(NS).metadata.resource_version
    batch.create_namespaced_job(NS, job_body("ph", "exit 0", indexed=False))
    wait_job(batch, "ph")
    phases = [
        e["object"].status.phase
        for e in watch.Watch().stream(
            core.list_namespaced_pod,
            NS,
            resource_version=rv,
            timeout_seconds=1,
            field_selector="status.phase!=x",
        )
    ]
    assert phases[0] == "Pending" and "Running" in phases and phases[-1] == "Succeeded"


def test_patch_suspend_and_immutable_fields(
    api: tuple[client.BatchV1Api, client.CoreV1Api], fake_k8s: FakeApiServer
) -> None:
    batch, _ = api
    batch.create_namespaced_job(NS, job_body("s", "exit 0", suspend=True))
    time.sleep(0.2)
    assert fake_k8s.pods == {}
    with pytest.raises(ApiException) as err:
        batch.patch_namespaced_job("s", NS, {"spec": {"completions": 5}})
    assert err.value.status == 422 and "field is immutable" in err.value.body
    patched = batch.patch_namespaced_job("s", NS, {"spec": {"suspend": False}})
    assert patched.metadata.generation == 2
    assert wait_job(batch, "s").status.succeeded == 1
