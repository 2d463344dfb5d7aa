"""The Kubernetes manifests in deploy/kubernetes/: valid against the API schemas, least privilege.

Every document is validated in strict mode (unknown fields are errors) with
``kubernetes-validate``, which ships the OpenAPI schemas of each Kubernetes release, so no
cluster is needed. The rest checks what the manifests promise: the scheduler's Role is
exactly the least-privilege set, the Deployment runs as the non-root image user with its
service account and the credentials Secret, and kustomize applies every manifest but the
Secret template.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "kubernetes"
KUSTOMIZATION = "kustomization.yaml"
SECRET_TEMPLATE = "secret.example.yaml"
NAMESPACE = "datavc"
SECRET = "datavc-credentials"
UID = 10001

# The oldest Kubernetes minor we support, and the newest the installed schemas know.
MIN_KUBERNETES = "1.30"

LEAST_PRIVILEGE = [
    {"apiGroups": ["batch"], "resources": ["jobs"], "verbs": ["create", "get", "list", "watch", "delete"]},
    {"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list"]},
    {"apiGroups": [""], "resources": ["pods/log"], "verbs": ["get"]},
    # Each job's token goes into a Secret of its own (issue 11); the scheduler never reads Secrets.
    {"apiGroups": [""], "resources": ["secrets"], "verbs": ["create", "delete"]},
]


def manifest_files() -> list[Path]:
    return sorted(p for p in K8S.glob("*.yaml") if p.name != KUSTOMIZATION)


def documents() -> list[tuple[str, dict[str, Any]]]:
    docs = []
    for path in manifest_files():
        for doc in yaml.safe_load_all(path.read_text()):
            if doc is not None:
                docs.append((path.name, doc))
    return docs


SCHEDULER = "datavc"
SERVER = "datavc-server"
SERVER_PORT = 8420


def one(kind: str, name: str | None = None) -> dict[str, Any]:
    """The one document of ``kind`` (and ``name`` when given; Deployments default to the scheduler)."""
    if name is None and kind == "Deployment":
        name = SCHEDULER
    found = [doc for _, doc in documents() if doc["kind"] == kind and name in (None, doc["metadata"]["name"])]
    assert len(found) == 1, f"expected one {kind} {name or ''}, found {len(found)}"
    return found[0]


def kustomization() -> dict[str, Any]:
    doc = yaml.safe_load((K8S / KUSTOMIZATION).read_text())
    assert isinstance(doc, dict)
    return doc


def container(deployment: str = SCHEDULER) -> dict[str, Any]:
    containers = one("Deployment", deployment)["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1
    c: dict[str, Any] = containers[0]
    return c


def test_the_expected_manifests_exist() -> None:
    assert [p.name for p in manifest_files()] == [
        "deployment.yaml",
        "namespace.yaml",
        "role.yaml",
        "rolebinding.yaml",
        SECRET_TEMPLATE,
        "server.yaml",
        "serviceaccount.yaml",
    ]
    assert sorted(doc["kind"] for _, doc in documents()) == [
        "Deployment",
        "Deployment",
        "Namespace",
        "Role",
        "RoleBinding",
        "Secret",
        "Service",
        "ServiceAccount",
    ]


def kubernetes_versions() -> list[str]:
    kv = pytest.importorskip(
        "kubernetes_validate",
        reason="kubernetes-validate is not installed (pip install kubernetes-validate)",
    )
    return [MIN_KUBERNETES, kv.utils.latest_version()]


@pytest.mark.parametrize(("name", "doc"), documents(), ids=[f"{n}:{d['kind']}" for n, d in documents()])
def test_manifest_is_valid_in_strict_mode(name: str, doc: dict[str, Any]) -> None:
    versions = kubernetes_versions()
    import kubernetes_validate

    problems = []
    for version in versions:
        try:
            kubernetes_validate.validate(doc, version, strict=True)
        except kubernetes_validate.ValidationError as err:
            # A jsonschema.ValidationError: report its short message, not the whole schema.
            where = "/".join(str(p) for p in err.absolute_path) or "/"
            problems.append(f"invalid for Kubernetes {version} at {where}: {err.message}")
    assert not problems, f"{name}: " + "; ".join(problems)


def test_everything_lives_in_the_datavc_namespace() -> None:
    assert one("Namespace")["metadata"]["name"] == NAMESPACE
    for name, doc in documents():
        if doc["kind"] != "Namespace":
            assert doc["metadata"].get("namespace") == NAMESPACE, f"{name}: not in namespace {NAMESPACE}"
    assert kustomization()["namespace"] == NAMESPACE


def test_role_is_exactly_least_privilege() -> None:
    role = one("Role")
    assert role["rules"] == LEAST_PRIVILEGE
    assert not any("*" in v for rule in role["rules"] for v in rule.values())
    assert [doc for _, doc in documents() if doc["kind"] in ("ClusterRole", "ClusterRoleBinding")] == []


def test_rolebinding_grants_the_role_to_the_service_account() -> None:
    binding, role, account = one("RoleBinding"), one("Role"), one("ServiceAccount")
    assert binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "Role",
        "name": role["metadata"]["name"],
    }
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": account["metadata"]["name"], "namespace": NAMESPACE}
    ]


def test_deployment_runs_as_the_non_root_image_user_with_its_service_account() -> None:
    pod = one("Deployment")["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == one("ServiceAccount")["metadata"]["name"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] == UID
    c = container()
    sc = c["securityContext"]
    assert sc["runAsNonRoot"] is True and sc["runAsUser"] == UID
    assert sc["readOnlyRootFilesystem"] is True
    assert sc["allowPrivilegeEscalation"] is False
    assert sc["capabilities"]["drop"] == ["ALL"]
    # The writable places on a read-only root are emptyDirs.
    volumes = {v["name"]: v for v in pod["volumes"]}
    mounts = {m["mountPath"]: m["name"] for m in c["volumeMounts"]}
    for path in ("/home/datavc", "/tmp"):
        assert path in mounts, f"{path} is not writable"
        assert "emptyDir" in volumes[mounts[path]]


def test_deployment_runs_the_kubernetes_scheduler_with_the_credentials_secret() -> None:
    deployment, c = one("Deployment"), container()
    assert deployment["spec"]["replicas"] in (1, 2)
    # args, not command: the image's entrypoint (tini, then the store set-up) must run.
    assert "command" not in c
    assert c["args"] == ["datavc", "daemon"]
    env = {e["name"]: e for e in c["env"]}
    assert env["DATAVC_EXECUTOR"]["value"] == "kubernetes"
    assert env["DATAVC_K8S_NAMESPACE"]["valueFrom"] == {"fieldRef": {"fieldPath": "metadata.namespace"}}
    assert env["DATAVC_K8S_SECRET"]["value"] == SECRET
    assert c["envFrom"] == [{"secretRef": {"name": SECRET}}]
    assert set(c["resources"]) == {"requests", "limits"}
    assert {"cpu", "memory"} <= set(c["resources"]["requests"])
    assert "memory" in c["resources"]["limits"]
    assert c["livenessProbe"]["exec"]["command"]


def test_secret_template_holds_placeholders_only() -> None:
    secret = one("Secret")
    assert secret["metadata"]["name"] == SECRET
    assert "data" not in secret
    assert set(secret["stringData"]) == {
        "DATAVC_DB",
        "DATAVC_OBJECTS",
        "AWS_ENDPOINT_URL",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_DEFAULT_REGION",
    }
    for key, value in secret["stringData"].items():
        if key != "AWS_DEFAULT_REGION":
            assert "REPLACE" in value, f"{key} in the template is not a placeholder"


def test_kustomization_applies_every_manifest_but_the_secret_template() -> None:
    k = kustomization()
    assert k["apiVersion"] == "kustomize.config.k8s.io/v1beta1" and k["kind"] == "Kustomization"
    expected = sorted(p.name for p in manifest_files() if p.name != SECRET_TEMPLATE)
    assert sorted(k["resources"]) == expected
    assert len(k["resources"]) == len(set(k["resources"]))
    # kustomize edit set image datavc=REGISTRY/datavc:TAG rewrites the Deployments' image.
    assert container()["image"] in {image["name"] for image in k["images"]}
    assert container(SERVER)["image"] == container()["image"]
    for image in k["images"]:
        assert image.get("newTag") not in (None, "latest")


def test_scheduler_settings_match_the_image() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert f"USER {UID}" in dockerfile
    env = {e["name"]: e.get("value") for e in container()["env"]}
    assert env.get("DATAVC_HOME", "/home/datavc/store") == "/home/datavc/store"
    assert "DATAVC_HOME=/home/datavc/store" in dockerfile


# --- the server: the one endpoint clients reach ----------------------------------------------


def test_server_deployment_serves_the_store_on_its_port_as_the_non_root_user() -> None:
    deployment = one("Deployment", SERVER)
    pod = deployment["spec"]["template"]["spec"]
    c = container(SERVER)
    assert "command" not in c  # the entrypoint (tini, store set-up) must run
    assert c["args"] == ["datavc", "serve", "--host", "0.0.0.0", "--port", str(SERVER_PORT), "--no-scheduler"]
    assert c["envFrom"] == [{"secretRef": {"name": SECRET}}]  # the server holds the credentials
    assert [(p["name"], p["containerPort"]) for p in c["ports"]] == [("http", SERVER_PORT), ("s3", 8421)]
    assert c["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert c["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    # It never talks to the Kubernetes API: no service account token, not the scheduler's account.
    assert pod["automountServiceAccountToken"] is False and "serviceAccountName" not in pod
    assert pod["securityContext"]["runAsNonRoot"] is True and pod["securityContext"]["runAsUser"] == UID
    sc = c["securityContext"]
    assert sc["readOnlyRootFilesystem"] is True and sc["allowPrivilegeEscalation"] is False
    assert sc["capabilities"]["drop"] == ["ALL"] and sc["runAsUser"] == UID
    volumes = {v["name"]: v for v in pod["volumes"]}
    mounts = {m["mountPath"]: m["name"] for m in c["volumeMounts"]}
    for path in ("/home/datavc", "/tmp"):
        assert "emptyDir" in volumes[mounts[path]], f"{path} is not writable"
    assert {"cpu", "memory"} <= set(c["resources"]["requests"]) and "memory" in c["resources"]["limits"]
    assert {e["name"]: e.get("value") for e in c["env"]}["DATAVC_HOME"] == "/home/datavc/store"


def test_server_service_selects_only_the_server_pods() -> None:
    service, deployment = one("Service", SERVER), one("Deployment", SERVER)
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    selector = service["spec"]["selector"]
    assert selector == deployment["spec"]["selector"]["matchLabels"]
    assert all(labels.get(k) == v for k, v in selector.items())
    scheduler_labels = one("Deployment")["spec"]["template"]["metadata"]["labels"]
    assert not all(scheduler_labels.get(k) == v for k, v in selector.items()), (
        "the Service reaches the scheduler"
    )
    assert service["spec"]["type"] == "ClusterIP"  # exposed on purpose (Ingress), not by default
    assert service["spec"]["ports"] == [
        {"name": "http", "port": SERVER_PORT, "targetPort": "http", "protocol": "TCP"},
        {"name": "s3", "port": 8421, "targetPort": "s3", "protocol": "TCP"},
    ]


def test_the_image_has_the_server_extra() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert re.search(r"datavc\[[a-z,]*server[a-z,]*\]", dockerfile), "the image cannot run datavc serve"
