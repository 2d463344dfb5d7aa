"""Kubernetes scheduling in the worker Job: GPUs and disk, placement, image pull secrets,
``pod_patch`` (then the strict schema), parallelism following the datum count, and Pod
Security ``restricted`` for worker pods and the deploy manifests; a run in a namespace that
enforces ``restricted`` on the fake API server."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from datavc.client import Client
from datavc.errors import InvalidArgument
from datavc.pipelines.executors.kubernetes import job_manifest
from datavc.pipelines.spec import PipelineSpec
from tests.datavc.helpers import files_of
from tests.datavc.pipelines.helpers import REPO_ROOT, run_on_fake_cluster, sh
from tests.k8s.pod_security import ENFORCE_LABEL, restricted_violations
from tests.k8s.validation import DecodeError, job_errors, schema_errors


def _spec(**kw: Any) -> PipelineSpec:
    return PipelineSpec.create(
        "gpu-job", {"pfs": {"repo": "texts", "glob": "/*"}}, {"image": "img:1", "cmd": ["true"]}, **kw
    )


def _manifest(spec: PipelineSpec, shards: int = 3, **kw: Any) -> dict[str, Any]:
    return job_manifest(spec, "b" * 32, shards, namespace="ns", secret="creds", image=None, ttl=60, **kw)


def test_scheduling_fields_reach_the_pod_and_pass_the_strict_schema_and_restricted() -> None:
    spec = _spec(
        parallelism=8,
        resources={"cpu": "1", "memory": "1Gi", "disk": "10Gi", "gpu": {"number": 2}},
        node_selector={"accelerator": "a100"},
        tolerations=[{"key": "gpu", "operator": "Exists", "effect": "NoSchedule"}],
        priority_class_name="batch-high",
        service_account="pipelines",
        image_pull_secrets=["regcred"],
        pod_patch=[{"op": "add", "path": "/containers/0/env/-", "value": {"name": "PATCHED", "value": "1"}}],
    )
    m = _manifest(spec, gpu_resource="amd.com/gpu")
    pod = m["spec"]["template"]["spec"]
    limits = pod["containers"][0]["resources"]["limits"]
    assert limits == {"cpu": "1", "memory": "1Gi", "ephemeral-storage": "10Gi", "amd.com/gpu": "2"}
    assert pod["containers"][0]["resources"]["requests"] == limits
    assert pod["nodeSelector"] == {"accelerator": "a100"}
    assert pod["tolerations"] == [{"key": "gpu", "operator": "Exists", "effect": "NoSchedule"}]
    assert (pod["priorityClassName"], pod["serviceAccountName"]) == ("batch-high", "pipelines")
    assert pod["imagePullSecrets"] == [{"name": "regcred"}]
    assert {"name": "PATCHED", "value": "1"} in pod["containers"][0]["env"]
    assert m["spec"]["parallelism"] == 3  # follows the shard count, capped by the spec's 8
    assert _manifest(spec, shards=20)["spec"]["parallelism"] == 8
    assert schema_errors(m, strict=True) == [] and job_errors(m) == []
    assert restricted_violations(pod) == []
    c = pod["containers"][0]
    assert c["securityContext"]["readOnlyRootFilesystem"] is True
    mounts = {v["mountPath"] for v in c["volumeMounts"]}
    assert mounts == {"/pfs", "/tmp"} and all("emptyDir" in v for v in pod["volumes"])


def test_a_typed_gpu_keeps_its_type_and_the_default_is_nvidia() -> None:
    typed = _manifest(_spec(resources={"gpu": {"type": "nvidia.com/mig-1g.5gb", "number": 1}}))
    assert typed["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"] == {
        "nvidia.com/mig-1g.5gb": "1"
    }
    plain = _manifest(_spec(resources={"gpu": {"number": 1}}))
    assert plain["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"] == {
        "nvidia.com/gpu": "1"
    }


def test_a_pod_patch_is_validated_after_it_applies() -> None:
    bad_field = _manifest(_spec(pod_patch=[{"op": "add", "path": "/containers/0/bogus", "value": 1}]))
    with pytest.raises(DecodeError, match=r"unknown field .*containers\[0\]\.bogus"):
        schema_errors(bad_field, strict=True)  # what the strict API server answers (400)
    unsafe = _manifest(_spec(pod_patch=[{"op": "remove", "path": "/securityContext"}]))
    assert restricted_violations(unsafe["spec"]["template"]["spec"]) == []  # containers still restricted
    with pytest.raises(InvalidArgument, match="pod_patch does not apply"):
        _manifest(_spec(pod_patch=[{"op": "remove", "path": "/nodeName"}]))


@pytest.mark.parametrize("manifest", ["deployment.yaml", "server.yaml"])
def test_the_daemon_and_server_deployments_pass_restricted(manifest: str) -> None:
    docs = [d for d in yaml.safe_load_all((REPO_ROOT / "deploy/kubernetes" / manifest).read_text()) if d]
    pods = [d["spec"]["template"]["spec"] for d in docs if d.get("kind") == "Deployment"]
    assert pods
    for pod in pods:
        assert restricted_violations(pod) == []


def test_the_deploy_namespace_enforces_restricted() -> None:
    ns = yaml.safe_load((REPO_ROOT / "deploy/kubernetes/namespace.yaml").read_text())
    assert ns["metadata"]["labels"][ENFORCE_LABEL] == "restricted"


@pytest.fixture
def restricted(
    fake_k8s: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[Client, Any]]:
    fake_k8s.add_namespace("secure", {ENFORCE_LABEL: "restricted"})
    c = Client.init(tmp_path / "store")
    run_on_fake_cluster(c, fake_k8s, tmp_path, monkeypatch, "secure")
    yield c, fake_k8s
    c.close()


def test_worker_pods_run_in_a_namespace_enforcing_restricted(restricted: tuple[Client, Any]) -> None:
    c, server = restricted
    c.create_repo("texts")
    c.put_file("texts", "main", "/a.txt", b"one two\n")
    c.create_pipeline(
        name="wc",
        input={"pfs": {"repo": "texts", "glob": "/*"}},
        transform={
            "image": "img:1",
            "cmd": sh('wc -w < "$DATAVC_IN/texts/a.txt" | tr -d " " > "$DATAVC_OUT/n"'),
        },
    )
    report = c.run()
    assert report.ok, [c.inspect_job(j).message for j in report.failed]
    assert server.forbidden_pods == []
    assert files_of(c, "wc") == {"/n": b"2\n"}


BATCHED = """
import os, datavc
for d in datavc.datums():
    for name in os.listdir(d.inputs["texts"]):
        open(os.path.join(d.output_dir, name), "w").write(str(os.getpid()))
"""


def test_a_batched_transform_runs_once_per_pod(restricted: tuple[Client, Any]) -> None:
    c, server = restricted
    c.create_repo("texts")
    with c.commit("texts") as tx:
        for i in range(4):
            tx.put_file(f"/t{i}", b"x")
    c.create_pipeline(
        name="b",
        input={"pfs": {"repo": "texts", "glob": "/*"}},
        transform={"image": "img:1", "cmd": ["python", "-c", BATCHED], "datum_batching": True},
        parallelism=2,
    )
    report = c.run()
    assert report.ok, [c.inspect_job(j).message for j in report.failed]
    assert server.created_jobs[-1]["spec"]["completions"] == 2  # shards = parallelism, not datums
    pids = set(files_of(c, "b").values())
    assert len(files_of(c, "b")) == 4 and len(pids) == 2  # two pods, one process each
