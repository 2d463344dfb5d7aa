"""OpenLineage events of pipeline jobs, received by a real HTTP endpoint on 127.0.0.1.

Every event is validated against the RunEvent schema of the OpenLineage spec (2-0-2,
written out below: the Python client ships no schema file) and against the schemas of
datavc's own facets (docs/integrations.md). The diamond (images -> edges, montage reads
images and edges) must name the exact commits each job read and wrote.
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from sqlalchemy import update

from datavc.client import Client
from datavc.db.models import Job
from datavc.pipelines import lineage_events
from tests.datavc.pipelines.helpers import jobs, run_ok, sh

EDGES = 'cd "$DATAVC_IN/images" && for f in *; do cp "$f" "$DATAVC_OUT/$f.edge"; done'
MONTAGE = 'cd "$DATAVC_IN" && ls images edges > "$DATAVC_OUT/montage"'

_URI = {"type": "string", "format": "uri"}
_FACET = {
    "type": "object",
    "properties": {"_producer": _URI, "_schemaURL": _URI},
    "required": ["_producer", "_schemaURL"],
    "additionalProperties": True,
}
_FACETS = {"type": "object", "additionalProperties": {"$ref": "#/$defs/BaseFacet"}}
_DATASET = {
    "type": "object",
    "properties": {"namespace": {"type": "string"}, "name": {"type": "string"}, "facets": _FACETS},
    "required": ["namespace", "name"],
}
# The RunEvent of https://openlineage.io/spec/2-0-2/OpenLineage.json, structure and formats.
RUN_EVENT_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$defs": {"BaseFacet": _FACET},
    "type": "object",
    "properties": {
        "eventTime": {"type": "string", "format": "date-time"},
        "producer": _URI,
        "schemaURL": _URI,
        "eventType": {"enum": ["START", "RUNNING", "COMPLETE", "ABORT", "FAIL", "OTHER"]},
        "run": {
            "type": "object",
            "properties": {"runId": {"type": "string", "format": "uuid"}, "facets": _FACETS},
            "required": ["runId"],
        },
        "job": {
            "type": "object",
            "properties": {"namespace": {"type": "string"}, "name": {"type": "string"}, "facets": _FACETS},
            "required": ["namespace", "name"],
        },
        "inputs": {"type": "array", "items": _DATASET},
        "outputs": {"type": "array", "items": _DATASET},
    },
    "required": ["eventTime", "producer", "schemaURL", "run", "job"],
}
_HEX32 = {"type": "string", "pattern": "^[0-9a-f]{32}$"}
_COUNT = {"type": "integer", "minimum": 0}
# datavc's facets, as docs/integrations.md documents them.
JOB_FACET_SCHEMA = {
    "type": "object",
    "properties": {
        "jobId": _HEX32,
        "pipelineVersion": _COUNT,
        "commitSetId": {"anyOf": [_HEX32, {"type": "null"}]},
        "inputCommits": {"type": "object", "additionalProperties": _HEX32},
        "outputCommitId": {"anyOf": [_HEX32, {"type": "null"}]},
        "datumsTotal": _COUNT,
        "datumsProcessed": _COUNT,
        "datumsSkipped": _COUNT,
        "datumsFailed": _COUNT,
    },
    "required": [
        "jobId",
        "pipelineVersion",
        "inputCommits",
        "datumsTotal",
        "datumsProcessed",
        "datumsSkipped",
        "datumsFailed",
    ],
}
COMMIT_FACET_SCHEMA = {
    "type": "object",
    "properties": {"repo": {"type": "string"}, "branch": {"type": "string"}, "commitId": _HEX32},
    "required": ["repo", "branch", "commitId"],
}
CHECKER = jsonschema.Draft202012Validator.FORMAT_CHECKER


def validate(event: dict[str, Any]) -> None:
    assert "uri" in CHECKER.checkers, "install rfc3986-validator (in datavc[test]) to check URIs"
    jsonschema.validate(event, RUN_EVENT_SCHEMA, format_checker=CHECKER)
    jsonschema.validate(event["run"]["facets"]["datavc_job"], JOB_FACET_SCHEMA)
    for ds in event.get("inputs", []) + event.get("outputs", []):
        if "datavc_commit" in ds["facets"]:
            jsonschema.validate(ds["facets"]["datavc_commit"], COMMIT_FACET_SCHEMA)
            assert ds["facets"]["version"]["datasetVersion"] == ds["facets"]["datavc_commit"]["commitId"]


class Receiver:
    """An OpenLineage HTTP endpoint: collects the JSON bodies POSTed to /api/v1/lineage."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []
        events = self.events

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                if self.path == "/api/v1/lineage":
                    events.append(json.loads(body))
                self.send_response(201 if self.path == "/api/v1/lineage" else 404)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def of(self, pipeline: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e["job"]["name"] == pipeline]


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.server.shutdown()
    r.server.server_close()


@pytest.fixture
def ol_config(receiver: Receiver, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Receiver:
    """OpenLineage configured the library's way: OPENLINEAGE_CONFIG -> openlineage.yml (HTTP)."""
    cfg = tmp_path / "openlineage.yml"
    cfg.write_text(f"transport:\n  type: http\n  url: {receiver.url}\n  retry: {{total: 0}}\n")
    monkeypatch.setenv("OPENLINEAGE_CONFIG", str(cfg))
    monkeypatch.setenv("DATAVC_OPENLINEAGE_NAMESPACE", "datavc://test-store")
    receiver.events.clear()
    return receiver


def run_and_flush(client: Client) -> list[str]:
    done = run_ok(client)
    assert lineage_events.flush(10)
    return done


def by_type(events: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for e in events:
        validate(e)
        out.setdefault(e["eventType"], []).append(e)
    return out


def commit_of(ds: dict[str, Any]) -> str:
    return str(ds["facets"]["datavc_commit"]["commitId"])


def test_diamond_events_name_the_commits_each_job_read_and_wrote(ol_config: Receiver, tmp_path: Path) -> None:
    client = Client.init(tmp_path / "store")
    client.create_repo("images")
    client.create_pipeline(
        name="edges", input={"pfs": {"repo": "images", "glob": "/*"}}, transform={"cmd": sh(EDGES)}
    )
    client.create_pipeline(
        name="montage",
        input={"cross": [{"pfs": {"repo": "images", "glob": "/"}}, {"pfs": {"repo": "edges", "glob": "/"}}]},
        transform={"cmd": sh(MONTAGE)},
    )
    with client.commit("images", "main") as tx:
        tx.put_file("a.png", b"a")
        tx.put_file("b.png", b"b")
    run_and_flush(client)
    with client.commit("images", "main") as tx2:
        tx2.put_file("c.png", b"c")
    run_and_flush(client)

    for n, images_commit in enumerate((tx.id, tx2.id)):
        edges_job = jobs(client, "edges")[n]
        montage_job = jobs(client, "montage")[n]
        assert edges_job.commit_set == montage_job.commit_set
        edges = by_type(
            [e for e in ol_config.of("edges") if e["run"]["runId"].replace("-", "") == edges_job.id]
        )
        montage = by_type(
            [e for e in ol_config.of("montage") if e["run"]["runId"].replace("-", "") == montage_job.id]
        )
        assert sorted(edges) == sorted(montage) == ["COMPLETE", "START"]
        assert len(edges["START"]) == len(edges["COMPLETE"]) == 1
        done = edges["COMPLETE"][0]
        assert done["job"] == {
            "namespace": "datavc://test-store",
            "name": "edges",
            "facets": done["job"]["facets"],
        }
        [inp] = done["inputs"]
        assert (inp["namespace"], inp["name"], commit_of(inp)) == (
            "datavc://test-store",
            "images",
            images_commit,
        )
        [out] = done["outputs"]
        assert (out["name"], commit_of(out)) == ("edges", edges_job.output_commit)
        # The montage read the images commit and the edges commit derived from that very commit.
        m = montage["COMPLETE"][0]
        assert {d["name"]: commit_of(d) for d in m["inputs"]} == {
            "images": images_commit,
            "edges": edges_job.output_commit,
        }
        assert commit_of(m["outputs"][0]) == montage_job.output_commit
        facet = done["run"]["facets"]["datavc_job"]
        assert facet["commitSetId"] == edges_job.commit_set
        assert inp["facets"]["datavc_commit"]["commitSetId"] == edges_job.commit_set
        assert facet["inputCommits"] == {"images": images_commit}
        assert facet["outputCommitId"] == edges_job.output_commit
        # One datum per image: the second job runs only the new one and skips the two known ones.
        assert (facet["datumsProcessed"], facet["datumsSkipped"], facet["datumsFailed"]) == (
            (2, 0, 0) if n == 0 else (1, 2, 0)
        )
        assert edges["START"][0]["run"]["runId"] == done["run"]["runId"]
        assert commit_of(edges["START"][0]["inputs"][0]) == images_commit
    client.close()


def test_failing_transform_sends_fail_with_its_message(ol_config: Receiver, tmp_path: Path) -> None:
    client = Client.init(tmp_path / "store")
    client.create_repo("raw")
    client.create_pipeline(
        name="broken", input={"pfs": {"repo": "raw", "glob": "/*"}}, transform={"cmd": sh("exit 3")}
    )
    with client.commit("raw", "main") as tx:
        tx.put_file("x", b"x")
    report = client.run()
    assert report.failed and lineage_events.flush(10)
    events = by_type(ol_config.of("broken"))
    assert sorted(events) == ["FAIL", "START"]
    fail = events["FAIL"][0]
    assert commit_of(fail["inputs"][0]) == tx.id
    assert fail["run"]["facets"]["datavc_job"]["datumsFailed"] == 1
    assert "datum(s) failed" in fail["run"]["facets"]["errorMessage"]["message"]
    assert all("datavc_commit" not in o["facets"] for o in fail["outputs"])  # no output commit
    client.close()


def test_a_job_killed_while_it_ran_sends_abort(ol_config: Receiver, tmp_path: Path) -> None:
    client = Client.init(tmp_path / "store")
    client.create_repo("raw")
    client.create_pipeline(
        name="p", input={"pfs": {"repo": "raw", "glob": "/"}}, transform={"cmd": sh("true")}
    )
    with client.commit("raw", "main") as tx:
        tx.put_file("x", b"x")
    job = jobs(client, "p")[0].id
    ctx = client.context
    with ctx.db.write() as s:
        s.execute(update(Job).where(Job.id == job).values(state="killed", message="stopped by alice"))
    lineage_events.job_ended(ctx, job, "lost")
    assert lineage_events.flush(10)
    [abort] = ol_config.of("p")
    validate(abort)
    assert abort["eventType"] == "ABORT"
    assert abort["run"]["facets"]["errorMessage"]["message"] == "stopped by alice"
    assert commit_of(abort["inputs"][0]) == tx.id
    client.close()


def test_an_unreachable_receiver_is_one_warning_and_the_job_succeeds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cfg = tmp_path / "openlineage.yml"
    cfg.write_text(f"transport:\n  type: http\n  url: http://127.0.0.1:{port}\n  retry: {{total: 0}}\n")
    monkeypatch.setenv("OPENLINEAGE_CONFIG", str(cfg))
    client = Client.init(tmp_path / "store")
    client.create_repo("raw")
    client.create_pipeline(
        name="p", input={"pfs": {"repo": "raw", "glob": "/"}}, transform={"cmd": sh("true")}
    )
    with client.commit("raw", "main") as tx:
        tx.put_file("x", b"x")
    with caplog.at_level(logging.WARNING, logger="datavc.pipelines.lineage_events"):
        assert run_and_flush(client)
    warnings = [r.getMessage() for r in caplog.records if r.name == "datavc.pipelines.lineage_events"]
    assert len(warnings) == 2  # START and COMPLETE, one line each
    assert all("not sent" in w and "\n" not in w for w in warnings)
    assert jobs(client, "p")[0].state == "success"
    client.close()


def test_off_by_default_the_library_is_not_even_imported(tmp_path: Path) -> None:
    code = (
        "import sys; from datavc.client import Client; "
        f"c = Client.init({str(tmp_path / 'store')!r}); c.create_repo('raw'); "
        "c.create_pipeline(name='p', input={'pfs': {'repo': 'raw', 'glob': '/'}}, "
        "transform={'cmd': ['true']}); "
        "tx = c.commit('raw', 'main'); t = tx.__enter__(); t.put_file('x', b'x'); "
        "tx.__exit__(None, None, None); "
        "assert c.run().ok; assert 'openlineage' not in sys.modules, 'imported'; print('clean')"
    )
    env = {k: v for k, v in __import__("os").environ.items() if not k.startswith("OPENLINEAGE")}
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "clean"
