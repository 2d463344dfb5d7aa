"""The deployments expose the S3 gateway's port: the one ``datavc serve`` listens on by default."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from datavc.cli.server import serve

ROOT = Path(__file__).resolve().parents[2]


def default_s3_port() -> int:
    [opt] = [p for p in serve.params if p.name == "s3_port"]
    return int(opt.default)  # type: ignore[arg-type]


def server_docs() -> list[dict[str, Any]]:
    text = (ROOT / "deploy" / "kubernetes" / "server.yaml").read_text()
    return [d for d in yaml.safe_load_all(text) if d]


def test_the_default_gateway_port_is_8421() -> None:
    assert default_s3_port() == 8421


def test_compose_publishes_the_gateway_port_on_this_machine_only() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    server = compose["services"]["server"]
    port = default_s3_port()
    assert f"127.0.0.1:{port}:{port}" in server["ports"]
    # The gateway listens on serve's --host: all interfaces inside the container.
    assert server["command"][server["command"].index("--host") + 1] == "0.0.0.0"
    assert "--no-s3" not in server["command"]


def test_kubernetes_server_exposes_the_gateway_port_through_its_service() -> None:
    port = default_s3_port()
    deployment = next(d for d in server_docs() if d["kind"] == "Deployment")
    [container] = deployment["spec"]["template"]["spec"]["containers"]
    assert {"name": "s3", "containerPort": port, "protocol": "TCP"} in container["ports"]
    assert "--no-s3" not in container["args"]
    assert container["args"][container["args"].index("--host") + 1] == "0.0.0.0"
    service = next(d for d in server_docs() if d["kind"] == "Service")
    assert {"name": "s3", "port": port, "targetPort": "s3", "protocol": "TCP"} in service["spec"]["ports"]
