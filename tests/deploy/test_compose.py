"""The docker-compose stack, the Dockerfile and the image's entrypoint, checked by structure.

No Docker engine is needed: the files are parsed and their promises checked (services and
their order of start, health checks, pinned images, no credentials in committed files, a
non-root image). The entrypoint script is run for real with the datavc installed here.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yml"
ENV_EXAMPLE = ROOT / "deploy" / "docker-compose.env.example"
ENV_FILE = "deploy/docker-compose.env"
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
ENTRYPOINT = ROOT / "deploy" / "entrypoint.sh"

SERVICES = {"postgres", "minio", "createbucket", "datavc", "server"}
SECRET_NAME = re.compile(r"PASSWORD|SECRET|TOKEN", re.IGNORECASE)
INTERPOLATION = re.compile(r"^\$\{[A-Za-z_][A-Za-z0-9_]*(:?[-?][^}]*)?\}$")


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    doc = yaml.safe_load(COMPOSE.read_text())
    assert isinstance(doc, dict)
    return doc


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    svcs = compose["services"]
    assert isinstance(svcs, dict)
    return svcs


def env_example() -> dict[str, str]:
    pairs = {}
    for line in ENV_EXAMPLE.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            key, sep, value = line.partition("=")
            assert sep, f"not KEY=VALUE in {ENV_EXAMPLE.name}: {line!r}"
            pairs[key] = value
    return pairs


def env_files(service: dict[str, Any]) -> list[str]:
    raw = service.get("env_file", [])
    items = [raw] if isinstance(raw, str | dict) else raw
    return [item if isinstance(item, str) else item["path"] for item in items]


def environment(service: dict[str, Any]) -> dict[str, str | None]:
    raw = service.get("environment", {})
    if isinstance(raw, dict):
        return {k: None if v is None else str(v) for k, v in raw.items()}
    pairs: dict[str, str | None] = {}
    for item in raw:
        key, sep, value = item.partition("=")
        pairs[key] = value if sep else None
    return pairs


def named_volumes(service: dict[str, Any]) -> list[str]:
    """Named volumes a service mounts (short or long syntax); bind mounts are left out."""
    names = []
    for v in service.get("volumes", []):
        if isinstance(v, str):
            source = v.split(":", 1)[0] if ":" in v else ""
            kind = "bind" if source.startswith((".", "/", "~", "$")) else "volume"
        else:
            source, kind = v.get("source", ""), v.get("type", "volume")
        if kind == "volume" and source:
            names.append(source)
    return names


def depends(service: dict[str, Any]) -> dict[str, str]:
    raw = service.get("depends_on", {})
    if isinstance(raw, list):
        return dict.fromkeys(raw, "service_started")
    return {name: spec.get("condition", "service_started") for name, spec in raw.items()}


# ----- docker-compose.yml ----------------------------------------------------------------------


def test_compose_has_the_five_services(services: dict[str, dict[str, Any]]) -> None:
    assert set(services) == SERVICES


@pytest.mark.parametrize("name", ["postgres", "minio"])
def test_stateful_services_have_healthchecks_and_named_volumes(
    services: dict[str, dict[str, Any]], name: str
) -> None:
    svc = services[name]
    check = svc.get("healthcheck", {})
    assert check.get("test") and not check.get("disable"), f"{name} has no healthcheck"
    assert named_volumes(svc), f"{name} keeps its data in no named volume"


def test_healthchecks_use_the_right_probes(services: dict[str, dict[str, Any]]) -> None:
    assert "pg_isready" in " ".join(services["postgres"]["healthcheck"]["test"])
    assert services["minio"]["healthcheck"]["test"] == ["CMD", "mc", "ready", "local"]
    assert services["minio"]["command"][:2] == ["server", "/data"]


def test_createbucket_is_one_shot_after_minio_is_healthy(services: dict[str, dict[str, Any]]) -> None:
    svc = services["createbucket"]
    assert svc.get("restart") == "no"  # the string: unquoted `no` is YAML for false
    assert depends(svc) == {"minio": "service_healthy"}
    script = " ".join(svc.get("entrypoint", [])) + " " + " ".join(svc["command"])
    assert "mb --ignore-existing" in script  # idempotent: a second `up` does not fail


def test_datavc_waits_for_healthy_backends_and_the_bucket(services: dict[str, dict[str, Any]]) -> None:
    svc = services["datavc"]
    assert depends(svc) == {
        "postgres": "service_healthy",
        "minio": "service_healthy",
        "createbucket": "service_completed_successfully",
    }
    assert svc.get("build") in (".", {"context": "."}) or svc["build"].get("context") == "."
    assert svc["command"] == ["datavc", "daemon"]
    assert svc.get("healthcheck", {}).get("test"), "datavc has no healthcheck"
    assert environment(svc).get("DATAVC_EXECUTOR") == "local"  # no cluster in compose
    assert named_volumes(svc), "datavc's store config and cache live in no named volume"


def test_every_service_takes_credentials_from_the_env_file(services: dict[str, dict[str, Any]]) -> None:
    for name, svc in services.items():
        assert env_files(svc) == [ENV_FILE], f"{name} should read {ENV_FILE}"
    # The file itself is never committed; only the example is.
    assert ENV_EXAMPLE.is_file()


def test_no_literal_secrets_in_compose(services: dict[str, dict[str, Any]]) -> None:
    for name, svc in services.items():
        for key, value in environment(svc).items():
            if SECRET_NAME.search(key) and value is not None:
                assert INTERPOLATION.match(value), f"{name}: {key} has a literal value"
    text = COMPOSE.read_text()
    for key, value in env_example().items():
        if SECRET_NAME.search(key):
            assert value not in text, f"the example value of {key} is written in docker-compose.yml"


def test_env_example_defines_every_variable_the_stack_reads(services: dict[str, dict[str, Any]]) -> None:
    defined = set(env_example())
    needed = {
        "POSTGRES_USER",
        "POSTGRES_PASSWORD",
        "POSTGRES_DB",
        "MINIO_ROOT_USER",
        "MINIO_ROOT_PASSWORD",
        "DATAVC_DB",
        "DATAVC_OBJECTS",
        "AWS_ENDPOINT_URL",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_DEFAULT_REGION",
    }
    # Variables the containers' shells expand ($$VAR in compose).
    needed |= set(re.findall(r"\$\$\{?([A-Za-z_][A-Za-z0-9_]*)", COMPOSE.read_text()))
    assert needed <= defined, f"missing from {ENV_EXAMPLE.name}: {sorted(needed - defined)}"


def test_env_example_is_consistent() -> None:
    env = env_example()
    for key, value in env.items():
        if SECRET_NAME.search(key):
            assert "change-me" in value, f"{key} should be a placeholder in the example"
    assert env["AWS_SECRET_ACCESS_KEY"] == env["MINIO_ROOT_PASSWORD"]
    assert env["AWS_ACCESS_KEY_ID"] == env["MINIO_ROOT_USER"]
    assert env["AWS_ENDPOINT_URL"] == "http://minio:9000"
    assert env["DATAVC_OBJECTS"].startswith(f"s3://{env['DATAVC_BUCKET']}/")
    user, password, db = env["POSTGRES_USER"], env["POSTGRES_PASSWORD"], env["POSTGRES_DB"]
    assert env["DATAVC_DB"] == f"postgresql://{user}:{password}@postgres:5432/{db}"


def test_every_named_volume_is_declared(compose: dict[str, Any], services: dict[str, dict[str, Any]]) -> None:
    declared = set(compose.get("volumes") or {})
    used = {v for svc in services.values() for v in named_volumes(svc)}
    assert used <= declared, f"undeclared volumes: {sorted(used - declared)}"
    assert declared <= used, f"declared but unused volumes: {sorted(declared - used)}"


def test_images_are_pinned(services: dict[str, dict[str, Any]]) -> None:
    for name, svc in services.items():
        image = svc.get("image")
        if image is None:
            assert "build" in svc, f"{name} has neither image nor build"
            continue
        repo, _, tag = image.rpartition(":")
        assert repo and "/" not in tag, f"{name}: image {image!r} has no tag"
        assert tag != "latest", f"{name}: image {image!r} is not pinned"
        if "build" not in svc:  # a third-party image: an exact version, not a moving major
            assert re.search(r"\d+\.\d+|RELEASE\.\d{4}-", tag), f"{name}: {image!r} is not an exact version"


def test_published_ports_are_local_only(services: dict[str, dict[str, Any]]) -> None:
    # Only the server is published: the database and the bucket are reachable from the
    # compose network alone (the server and the daemon hold their credentials).
    assert [name for name, svc in services.items() if svc.get("ports")] == ["server"]
    assert "ports" not in services["postgres"] and "ports" not in services["minio"]
    for name, svc in services.items():
        for port in svc.get("ports", []):
            assert str(port).startswith("127.0.0.1:"), f"{name} publishes {port} beyond this machine"


def test_server_is_the_endpoint_clients_reach(services: dict[str, dict[str, Any]]) -> None:
    svc = services["server"]
    assert svc["command"] == ["datavc", "serve", "--host", "0.0.0.0", "--port", "8420", "--no-scheduler"]
    assert svc["ports"] == ["127.0.0.1:8420:8420", "127.0.0.1:8421:8421"]  # the API, the S3 gateway
    assert svc.get("build") in (".", {"context": "."}) and svc["image"] == services["datavc"]["image"]
    # It joins the store the scheduler created (no two first-time inits racing on the schema).
    assert depends(svc) == {"datavc": "service_healthy"}
    assert "/readyz" in " ".join(svc["healthcheck"]["test"])
    assert named_volumes(svc) and set(named_volumes(svc)).isdisjoint(named_volumes(services["datavc"]))
    # The scheduler is not reachable from outside: it publishes nothing.
    assert "ports" not in services["datavc"]


# ----- Dockerfile ------------------------------------------------------------------------------


def instructions() -> list[tuple[str, str]]:
    """The Dockerfile's (INSTRUCTION, arguments), continuation lines joined, comments dropped."""
    out: list[tuple[str, str]] = []
    pending = ""
    for raw in DOCKERFILE.read_text().splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if line.startswith("#"):
            continue
        pending += " " + line
        if pending.endswith("\\"):
            pending = pending[:-1]
            continue
        word, _, rest = pending.strip().partition(" ")
        out.append((word.upper(), rest.strip()))
        pending = ""
    return out


def test_dockerfile_bases_are_pinned() -> None:
    args: dict[str, str] = {}
    stages: set[str] = set()
    froms = 0
    for word, rest in instructions():
        if word == "ARG" and "=" in rest:
            key, _, value = rest.partition("=")
            args.setdefault(key, value)
        if word == "FROM":
            froms += 1
            parts = [p for p in rest.split() if not p.startswith("--")]
            image = re.sub(r"\$\{(\w+)\}", lambda m: args[m.group(1)], parts[0])
            if len(parts) == 3 and parts[1].upper() == "AS":
                stages.add(parts[2])
            if image in stages:
                continue
            name, _, tag = image.partition("@")[0].rpartition(":")
            assert name and tag and tag != "latest", f"FROM {image} is not pinned"
            assert re.fullmatch(r"\d+\.\d+\.\d+-slim-bookworm", tag), f"FROM {image}: not an exact version"
    assert froms >= 2, "expected a multi-stage build"


def test_dockerfile_runs_as_a_fixed_non_root_user_with_an_entrypoint() -> None:
    ins = instructions()
    users = [rest for word, rest in ins if word == "USER"]
    assert users and users[-1].split(":")[0] not in ("root", "0"), "the image runs as root"
    assert users[-1] == "10001"
    assert any(word == "RUN" and "--uid 10001" in rest for word, rest in ins)
    entry = [rest for word, rest in ins if word == "ENTRYPOINT"]
    assert entry, "no ENTRYPOINT"
    argv = json.loads(entry[-1])  # exec form: signals reach the process
    assert argv[-1] == "/usr/local/bin/datavc-entrypoint"
    assert json.loads([rest for word, rest in ins if word == "CMD"][-1]) == ["datavc", "--help"]
    env = " ".join(rest for word, rest in ins if word == "ENV")
    assert "DATAVC_HOME=/home/datavc/store" in env and "PYTHONUNBUFFERED=1" in env
    assert ("WORKDIR", "/home/datavc") in ins
    assert any(word == "LABEL" and "org.opencontainers.image.title" in rest for word, rest in ins)


def test_dockerfile_copies_only_what_dockerignore_keeps() -> None:
    ignored = {
        line.strip() for line in DOCKERIGNORE.read_text().splitlines() if line.strip() and line[0] != "#"
    }
    assert {".git", ".venv", "tests", ".pytest_cache"} <= ignored
    for word, rest in instructions():
        if word != "COPY" or "--from=" in rest:
            continue
        sources = [p for p in shlex.split(rest) if not p.startswith("--")][:-1]
        for src in sources:
            assert (ROOT / src).exists(), f"COPY {src}: no such file"
            assert src not in ignored, f"COPY {src}, but .dockerignore drops it"


# ----- deploy/entrypoint.sh --------------------------------------------------------------------


def run_entrypoint(env: dict[str, str], *argv: str) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("DATAVC_")}
    # The datavc installed next to this Python, as the image has it on PATH.
    base["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), base.get("PATH", "")])
    return subprocess.run(
        ["sh", str(ENTRYPOINT), *argv], env={**base, **env}, capture_output=True, text=True, timeout=120
    )


def test_entrypoint_is_valid_posix_sh() -> None:
    subprocess.run(["sh", "-n", str(ENTRYPOINT)], check=True)
    assert ENTRYPOINT.read_text().startswith("#!/bin/sh\n")


def test_entrypoint_creates_the_store_once_then_execs(tmp_path: Path) -> None:
    home = tmp_path / "store"
    env = {
        "DATAVC_HOME": str(home),
        "DATAVC_DB": f"sqlite:///{tmp_path / 'meta.db'}",
        "DATAVC_OBJECTS": str(tmp_path / "objects"),
    }
    first = run_entrypoint(env, "sh", "-c", 'echo "ran $0 $DATAVC_HOME"', "cmd")
    assert first.returncode == 0, first.stderr
    assert first.stdout == f"ran cmd {home}\n"  # stdout belongs to the command alone
    config = json.loads((home / ".datavc" / "config.json").read_text())
    assert config["db"] == env["DATAVC_DB"] and config["objects"] == env["DATAVC_OBJECTS"]

    again = run_entrypoint(env, "true")  # a restart: the existing store is kept
    assert again.returncode == 0, again.stderr
    assert json.loads((home / ".datavc" / "config.json").read_text()) == config


def test_entrypoint_without_urls_only_execs(tmp_path: Path) -> None:
    result = run_entrypoint({"DATAVC_HOME": str(tmp_path / "store")}, "sh", "-c", "exit 7")
    assert result.returncode == 7  # the command's own exit code
    assert not (tmp_path / "store").exists()


def test_entrypoint_fails_when_the_store_cannot_be_created(tmp_path: Path) -> None:
    env = {"DATAVC_HOME": str(tmp_path / "store"), "DATAVC_DB": "not-a-url", "DATAVC_OBJECTS": "x"}
    result = run_entrypoint(env, "true")
    assert result.returncode != 0
    assert "could not create a store" in result.stderr
