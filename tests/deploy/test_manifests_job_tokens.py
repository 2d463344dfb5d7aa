"""The Kubernetes manifests under issue 11: worker pods reach the store through the server with
a job token; the scheduler may create and delete Secrets but never read one."""

from __future__ import annotations

from tests.deploy.test_manifests import SERVER, SERVER_PORT, container, one


def test_the_scheduler_sends_worker_pods_to_the_server_service() -> None:
    env = {e["name"]: e.get("value") for e in container()["env"]}
    service = one("Service", SERVER)
    ports = [p["port"] for p in service["spec"]["ports"]]
    assert env["DATAVC_K8S_SERVER"] == f"http://{SERVER}:{SERVER_PORT}" and SERVER_PORT in ports


def test_the_scheduler_cannot_read_secrets() -> None:
    rules = one("Role")["rules"]
    verbs = {v for r in rules if "secrets" in r["resources"] for v in r["verbs"]}
    assert verbs == {"create", "delete"}
