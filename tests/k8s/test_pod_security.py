"""The fake API server enforces Pod Security ``restricted`` where a namespace asks for it."""

from __future__ import annotations

from typing import Any

from tests.k8s.pod_security import ENFORCE_LABEL, restricted_violations


def _job(name: str, security: bool) -> dict[str, Any]:
    container: dict[str, Any] = {"name": "c", "image": "img:1", "command": ["true"]}
    pod: dict[str, Any] = {"restartPolicy": "Never", "containers": [container]}
    if security:
        container["securityContext"] = {
            "allowPrivilegeEscalation": False,
            "capabilities": {"drop": ["ALL"]},
            "runAsNonRoot": True,
            "seccompProfile": {"type": "RuntimeDefault"},
        }
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name},
        "spec": {"template": {"spec": pod}, "backoffLimit": 0},
    }


def test_restricted_violations_name_each_missing_control() -> None:
    got = restricted_violations(_job("x", False)["spec"]["template"]["spec"])
    assert len(got) == 4 and any("allowPrivilegeEscalation" in v for v in got)
    assert restricted_violations(_job("x", True)["spec"]["template"]["spec"]) == []
    host = {"hostPID": True, "containers": [], "volumes": [{"name": "h", "hostPath": {"path": "/"}}]}
    assert len(restricted_violations(host)) == 2


def test_pods_violating_restricted_are_refused_only_where_enforced(fake_k8s: Any) -> None:
    from kubernetes import client, config

    fake_k8s.add_namespace("strict", {ENFORCE_LABEL: "restricted"})
    config.load_kube_config(config_file=str(fake_k8s.kubeconfig_path))
    batch = client.BatchV1Api()
    batch.create_namespaced_job("strict", _job("bad", False))
    batch.create_namespaced_job("strict", _job("good", True))
    batch.create_namespaced_job("default", _job("lax", False))
    fake_k8s.wait_for(lambda s: any(p.startswith('pods "bad-') for p in s.forbidden_pods))
    fake_k8s.wait_for(
        lambda s: any(n.startswith("good-") for n in s.pods) and any(n.startswith("lax-") for n in s.pods)
    )
    assert not any(n.startswith("bad-") for n in fake_k8s.pods)
    assert 'violates PodSecurity "restricted:latest"' in fake_k8s.forbidden_pods[0]
