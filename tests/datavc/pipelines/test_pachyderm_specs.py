"""Pachyderm 2.x pipeline specs, as published in Pachyderm's examples, on datavc.

The specs below are Pachyderm's own (the OpenCV quickstart's ``edges.json`` and
``montage.json``, the inner and outer joins and group examples), unchanged. Their
transforms read ``/pfs/<input>`` paths, which need the sandbox (issue 16); the end-to-end
runs here use the same spec fields with shell transforms that read ``$DATAVC_IN``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from datavc.client import Client
from datavc.pipelines.pachyderm import DurationError, parse_duration, snake
from datavc.pipelines.spec import InvalidSpec, PipelineSpec
from tests.datavc.cli.helpers import assert_error, make_run
from tests.datavc.helpers import files_of
from tests.datavc.pipelines.helpers import last_job, run_ok

EDGES: dict[str, Any] = {
    "pipeline": {"name": "edges"},
    "description": "A pipeline that performs image edge detection by using the OpenCV library.",
    "transform": {"cmd": ["python3", "/edges.py"], "image": "pachyderm/opencv:1.0"},
    "input": {"pfs": {"repo": "images", "glob": "/*"}},
}

MONTAGE: dict[str, Any] = {
    "pipeline": {"name": "montage"},
    "description": (
        "A pipeline that combines images from the `images` and `edges` repositories into a montage."
    ),
    "input": {"cross": [{"pfs": {"glob": "/", "repo": "images"}}, {"pfs": {"glob": "/", "repo": "edges"}}]},
    "transform": {
        "cmd": ["sh"],
        "image": "v4tech/imagemagick",
        "stdin": [
            "montage -shadow -background SkyBlue -geometry 300x300+2+2 "
            "$(find -L /pfs/images /pfs/edges -type f | sort) /pfs/out/montage.png"
        ],
    },
}

INNER_JOIN: dict[str, Any] = {
    "pipeline": {"name": "inner_join"},
    "description": "A pipeline that lists all purchases by zipcode joining stores and purchases information.",
    "input": {
        "join": [
            {"pfs": {"repo": "stores", "branch": "master", "glob": "/STOREID(*).txt", "joinOn": "$1"}},
            {"pfs": {"repo": "purchases", "branch": "master", "glob": "/*/STOREID(*).txt", "joinOn": "$1"}},
        ]
    },
    "transform": {"cmd": ["python", "inner/main.py"], "image": "pachyderm/example-joins-inner-outer:2.1.0"},
}

EDGES_YAML = """\
pipeline:
  name: edges
  project:
    name: default
description: A pipeline that performs image edge detection by using the OpenCV library.
transform:
  image: pachyderm/opencv:1.0
  cmd: [python3, /edges.py]
parallelism_spec:
  constant: 2
resource_requests:
  cpu: 0.5
  memory: 256M
resource_limits:
  cpu: 1
  gpu:
    type: nvidia.com/gpu
    number: 1
  disk: 1Gi
datum_timeout: 60s
job_timeout: 1h30m
datum_tries: 2
input:
  pfs:
    project: default
    repo: images
    glob: /*
    lazy: true
    empty_files: false
"""


def problems(data: Any) -> str:
    with pytest.raises(InvalidSpec) as info:
        PipelineSpec.parse(data)
    return str(info.value)


# --- published specs -------------------------------------------------------------------


def test_opencv_edges_is_accepted() -> None:
    spec = PipelineSpec.parse(json.dumps(EDGES))
    assert spec.name == "edges"
    assert spec.pipeline.description == EDGES["description"]
    assert spec.transform.image == "pachyderm/opencv:1.0"
    assert spec.transform.cmd == ("python3", "/edges.py")
    assert [(p.repo, p.glob, p.name) for p in spec.inputs()] == [("images", "/*", "images")]


def test_opencv_montage_is_accepted() -> None:
    spec = PipelineSpec.parse(MONTAGE)
    assert spec.input.kind == "cross"
    assert [p.name for p in spec.inputs()] == ["images", "edges"]
    assert spec.transform.stdin == tuple(MONTAGE["transform"]["stdin"])


def test_inner_join_in_camel_case_is_accepted() -> None:
    spec = PipelineSpec.parse(json.dumps(INNER_JOIN))
    assert [(p.repo, p.branch, p.join_on) for p in spec.inputs()] == [
        ("stores", "master", "$1"),
        ("purchases", "master", "$1"),
    ]


def test_yaml_variant_in_snake_case_maps_onto_datavc_fields() -> None:
    spec = PipelineSpec.parse(EDGES_YAML)
    assert spec.parallelism == 2
    assert spec.datum_tries == 2
    assert spec.datum_timeout == 60
    assert spec.job_timeout == 5400
    assert spec.resources is not None
    # One amount per resource (requests = limits): a limit wins over a request.
    assert (spec.resources.cpu, spec.resources.memory, spec.resources.disk) == ("1", "256M", "1Gi")
    assert spec.resources.gpu is not None and (spec.resources.gpu.type, spec.resources.gpu.number) == (
        "nvidia.com/gpu",
        1,
    )


def test_camel_and_snake_case_give_the_same_spec() -> None:
    camel = {
        **EDGES,
        "parallelismSpec": {"constant": 3},
        "datumTries": 4,
        "datumTimeout": "500ms",
        "resourceRequests": {"cpu": "250m", "memory": "64Mi"},
        "transform": {**EDGES["transform"], "acceptReturnCode": [1, 2], "workingDir": "/tmp"},
    }
    snake_doc = {
        **EDGES,
        "parallelism_spec": {"constant": 3},
        "datum_tries": 4,
        "datum_timeout": "500ms",
        "resource_requests": {"cpu": "250m", "memory": "64Mi"},
        "transform": {**EDGES["transform"], "accept_return_code": [1, 2], "working_dir": "/tmp"},
    }
    a, b = PipelineSpec.parse(camel), PipelineSpec.parse(snake_doc)
    assert a == b and a.spec_hash == b.spec_hash
    assert (a.parallelism, a.datum_tries, a.datum_timeout) == (3, 4, 0.5)
    assert a.transform.accept_return_code == (1, 2) and a.transform.working_dir == "/tmp"


def test_env_names_are_never_renamed() -> None:
    spec = PipelineSpec.parse({**EDGES, "transform": {**EDGES["transform"], "env": {"myVar": "x"}}})
    assert spec.transform.env == {"myVar": "x"}


def test_a_spec_without_pachyderm_fields_keeps_its_hash() -> None:
    # The fields added for Pachyderm appear in the canonical form only when set.
    spec = PipelineSpec.parse(EDGES)
    assert "job_timeout" not in spec.to_dict()
    assert set(spec.to_dict()["transform"]) == {"image", "cmd", "stdin", "env"}
    assert PipelineSpec.parse(spec.canonical_json(), fmt="json") == spec


# --- refusals --------------------------------------------------------------------------


def test_outer_join_outside_a_join_is_refused_naming_the_field() -> None:
    # outer_join itself is supported now (test_pachyderm_examples.py runs the published
    # outer join); on an input that is not in a join it means nothing and is refused.
    doc = json.loads(json.dumps(EDGES))
    doc["input"]["pfs"]["outerJoin"] = True
    assert problems(doc) == (
        "invalid pipeline spec: input.pfs.outer_join: only allowed on the inputs of a join"
    )


def test_switches_set_to_off_are_accepted() -> None:
    off = json.loads(json.dumps(INNER_JOIN))
    off["input"]["join"][0]["pfs"]["outerJoin"] = False
    off["autoscaling"] = False
    off["reprocessSpec"] = "until_success"  # Pachyderm's default: what datavc does
    spec = PipelineSpec.parse(off)
    assert spec.name == "inner_join"
    assert spec.spec_hash == PipelineSpec.parse(INNER_JOIN).spec_hash


def test_group_example_is_accepted() -> None:
    group = {
        "pipeline": {"name": "group_store_revenue"},
        "input": {
            "group": [
                {"pfs": {"repo": "stores", "branch": "master", "glob": "/STOREID(*).txt", "groupBy": "$1"}},
                {
                    "pfs": {
                        "repo": "purchases",
                        "branch": "master",
                        "glob": "/*/STOREID(*).txt",
                        "groupBy": "$1",
                    }
                },
            ]
        },
        "transform": {"cmd": ["python", "group/main.py"], "image": "pachyderm/example-group:2.1.0"},
    }
    spec = PipelineSpec.parse(group)
    assert spec.input.kind == "group"
    assert [p.group_by for p in spec.inputs()] == ["$1", "$1"]


def test_every_unsupported_field_is_named_in_one_message() -> None:
    doc = {
        **EDGES,
        "egress": {"sqlDatabase": {"url": "snowflake://x"}},
        "cron": 1,
        "s3Out": True,
        "spout": {"overwrite": True},
        "salt": "x",
        "dryRun": True,
        # transform.user (issue 16) and image_pull_secrets (moved to the top level) are supported.
        "transform": {**EDGES["transform"], "debug": True},
        "pipeline": {"name": "edges", "project": {"name": "other"}},
        "input": {"pfs": {"repo": "images", "glob": "/*", "s3": True}},
        "bogus": 1,
    }
    msg = problems(doc)
    assert msg.startswith("invalid pipeline spec: ")
    assert "\n" not in msg
    for part in (
        "egress.sql_database: not supported yet (egress goes to an s3:// URL)",
        "s3_out: not supported yet (write the output as files under $DATAVC_OUT)",
        "spout: not supported yet (put data in from outside with 'datavc put', "
        "e.g. 'datavc put -i urls.txt')",
        "salt: not supported yet (to run every datum again use reprocess_spec: every_job or "
        "'datavc pipeline update --reprocess')",
        "dry_run: not supported yet (preview the datums with 'datavc datum list -f SPEC')",
        "transform.debug: not supported yet (read the datums' output with 'datavc job logs')",
        "pipeline.project: datavc has no projects (a store is one project); drop it or use 'default', "
        "got 'other'",
        "input.pfs.s3: not supported yet",  # (input.pfs.trigger is supported now: test_cron.py)
        "cron: unknown field",
        "bogus: unknown field",
    ):
        assert part in msg, part


def test_a_field_given_in_both_spellings_is_refused() -> None:
    doc = {**EDGES, "datumTries": 2, "datum_tries": 3}
    assert "datum_tries: given twice" in problems(doc)


def test_cli_refuses_an_unsupported_spec_with_one_error_line(tmp_path: Path) -> None:
    run = make_run(CliRunner())
    run("init", tmp_path / "store")
    path = tmp_path / "s3out.json"
    doc = json.loads(json.dumps(INNER_JOIN))
    doc["s3Out"] = True
    path.write_text(json.dumps(doc))
    err = assert_error(run("--home", tmp_path / "store", "pipeline", "create", "-f", path, code=None), 2)
    assert err == (
        "error: invalid pipeline spec: s3_out: not supported yet "
        "(write the output as files under $DATAVC_OUT)\n"
    )


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("60s", 60), ("1h30m", 5400), ("500ms", 0.5), ("1.5h", 5400), ("2m3s", 123), ("100us", 1e-4)],
)
def test_go_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "60", "1 hour", "s", "1d", "-5s", "1h 30m"])
def test_bad_durations(text: str) -> None:
    with pytest.raises(DurationError):
        parse_duration(text)


def test_snake() -> None:
    assert [snake(k) for k in ("joinOn", "parallelismSpec", "s3Out", "join_on", "glob")] == [
        "join_on",
        "parallelism_spec",
        "s3_out",
        "join_on",
        "glob",
    ]


# --- real runs on the local executor ----------------------------------------------------


def test_pachyderm_spec_runs_end_to_end(tmp_path: Path) -> None:
    """A camelCase spec with Pachyderm's fields: copies every image; exit code 3 is accepted."""
    script = (
        'cp -r "$DATAVC_IN/images/." "$DATAVC_OUT/" && '
        'printf "%s %s" "$PACH_JOB_ID" "$PACH_DATUM_ID" > "$DATAVC_OUT/pach-$PACH_DATUM_ID"; exit 3'
    )
    spec = {
        "pipeline": {"name": "edges", "project": {"name": ""}},
        "description": "copies images",
        "transform": {"cmd": ["sh"], "stdin": [script], "acceptReturnCode": [3], "image": "alpine:3"},
        "parallelismSpec": {"constant": 2},
        "datumTries": 1,
        "datumTimeout": "30s",
        "jobTimeout": "5m",
        "resourceRequests": {"cpu": 0.5, "memory": "64M"},
        "input": {"pfs": {"repo": "images", "glob": "/*", "lazy": True, "emptyFiles": False}},
    }
    with Client.init(tmp_path / "store") as c:
        c.create_repo("images")
        with c.commit("images", "main") as tx:
            tx.put_file("/a.png", b"A")
            tx.put_file("/b.png", b"B")
        c.create_pipeline(json.dumps(spec))
        run_ok(c)
        job = last_job(c, "edges")
        out = files_of(c, "edges")
        assert out.pop("/a.png") == b"A" and out.pop("/b.png") == b"B"
        datums = {d.id for d in c.list_datums(job.id)}
        assert {k.removeprefix("/pach-") for k in out} == datums
        for key, value in out.items():
            assert value.decode() == f"{job.id} {key.removeprefix('/pach-')}"


def test_a_return_code_not_accepted_fails_the_datum(tmp_path: Path) -> None:
    with Client.init(tmp_path / "store") as c:
        c.create_repo("images")
        with c.commit("images", "main") as tx:
            tx.put_file("/a.png", b"A")
        c.create_pipeline(
            {**EDGES, "datumTries": 1, "transform": {"cmd": ["sh", "-c", "exit 4"], "acceptReturnCode": [3]}}
        )
        assert not c.run().ok
        assert last_job(c, "edges").state == "failure"


def test_join_datums_carry_their_join_key(tmp_path: Path) -> None:
    spec = json.loads(json.dumps(INNER_JOIN))
    script = (
        'echo "$PACH_DATUM_stores_JOIN_ON $PACH_DATUM_purchases_JOIN_ON" '
        '> "$DATAVC_OUT/k$PACH_DATUM_stores_JOIN_ON"'
    )
    spec["transform"] = {"cmd": ["sh", "-c", script], "image": "alpine:3"}
    with Client.init(tmp_path / "store") as c:
        for repo in ("stores", "purchases"):
            c.create_repo(repo)
            c.create_branch(repo, "master")
        with c.commit("stores", "master") as tx:
            tx.put_file("/STOREID1.txt", b"s1")
            tx.put_file("/STOREID2.txt", b"s2")
        with c.commit("purchases", "master") as tx:
            tx.put_file("/p1/STOREID1.txt", b"x")
            tx.put_file("/p2/STOREID2.txt", b"y")
            tx.put_file("/p3/STOREID3.txt", b"z")
        c.create_pipeline(spec)
        run_ok(c)
        assert files_of(c, "inner_join") == {"/k1": b"1 1\n", "/k2": b"2 2\n"}


def test_working_dir_is_the_commands_cwd(tmp_path: Path) -> None:
    home = tmp_path / "code"
    home.mkdir()
    with Client.init(tmp_path / "store") as c:
        c.create_repo("images")
        with c.commit("images", "main") as tx:
            tx.put_file("/a.png", b"A")
        c.create_pipeline(
            {
                **EDGES,
                "transform": {"cmd": ["sh", "-c", 'pwd > "$DATAVC_OUT/cwd"'], "workingDir": str(home)},
            }
        )
        run_ok(c)
        assert files_of(c, "edges") == {"/cwd": f"{home}\n".encode()}


def test_a_missing_working_dir_fails_the_datum_saying_why(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere"
    with Client.init(tmp_path / "store") as c:
        c.create_repo("images")
        with c.commit("images", "main") as tx:
            tx.put_file("/a.png", b"A")
        c.create_pipeline(
            {**EDGES, "datumTries": 1, "transform": {"cmd": ["true"], "working_dir": str(missing)}}
        )
        assert not c.run().ok
        job = last_job(c, "edges")
        logs = "".join(text for _, text in c.job_logs(job.id))
        assert f"transform.working_dir {str(missing)!r} does not exist" in logs


# --- union members that share a name --------------------------------------------------

UNION: dict[str, Any] = {
    "pipeline": {"name": "edges"},
    "input": {
        "union": [
            {"pfs": {"repo": "images", "glob": "/*", "name": "images"}},
            {"pfs": {"repo": "more_images", "glob": "/*", "name": "images"}},
        ]
    },
    "transform": {"cmd": ["sh", "-c", 'cp -r "$DATAVC_IN/images/." "$DATAVC_OUT/"'], "image": "alpine:3"},
}


def test_union_members_sharing_a_name_share_its_directory() -> None:
    spec = PipelineSpec.parse(UNION)
    assert [(p.repo, p.name, p.mount) for p in spec.inputs()] == [
        ("images", "images", "images"),
        ("more_images", "images-2", "images"),
    ]
    assert PipelineSpec.parse(spec.canonical_json(), fmt="json") == spec


def test_a_shared_directory_outside_one_union_is_refused() -> None:
    doc = {
        **UNION,
        "input": {
            "cross": [
                {"pfs": {"repo": "images", "glob": "/*", "name": "a", "dir": "x"}},
                {"union": [{"pfs": {"repo": "more_images", "glob": "/*", "name": "x"}}]},
            ]
        },
    }
    assert (
        problems(doc)
        == "invalid pipeline spec: input.cross[0].pfs.dir: only allowed on the inputs of a union"
    )


def test_union_with_a_shared_name_runs_end_to_end(tmp_path: Path) -> None:
    with Client.init(tmp_path / "store") as c:
        for repo, name in (("images", "a.png"), ("more_images", "b.png")):
            c.create_repo(repo)
            with c.commit(repo, "main") as tx:
                tx.put_file(f"/{name}", repo.encode())
        c.create_pipeline(json.dumps(UNION))
        run_ok(c)
        assert files_of(c, "edges") == {"/a.png": b"images", "/b.png": b"more_images"}


# --- where the mapped fields go -------------------------------------------------------


def test_pachyderm_resources_and_job_timeout_reach_the_kubernetes_job() -> None:
    from datavc.pipelines.executors.kubernetes import job_manifest

    spec = PipelineSpec.parse(EDGES_YAML)
    m = job_manifest(spec, "a" * 32, 2, namespace="ns", secret="creds", image=None, ttl=60)
    assert m["spec"]["activeDeadlineSeconds"] == 5400
    assert m["spec"]["parallelism"] == 2
    container = m["spec"]["template"]["spec"]["containers"][0]
    assert container["resources"]["limits"] == {
        "cpu": "1",
        "memory": "256M",
        "ephemeral-storage": "1Gi",
        "nvidia.com/gpu": "1",
    }

    from tests.k8s.validation import job_errors, schema_errors  # strict schema + apiserver rules

    assert schema_errors(m, strict=True) == []
    assert job_errors(m) == []


def test_pach_variables_cannot_be_overridden_by_the_spec(tmp_path: Path) -> None:
    with Client.init(tmp_path / "store") as c:
        c.create_repo("images")
        with c.commit("images", "main") as tx:
            tx.put_file("/a.png", b"A")
        c.create_pipeline(
            {
                **EDGES,
                "transform": {
                    "cmd": ["sh", "-c", 'echo "$PACH_JOB_ID" > "$DATAVC_OUT/job"'],
                    "env": {"PACH_JOB_ID": "forged"},
                },
            }
        )
        run_ok(c)
        assert files_of(c, "edges") == {"/job": f"{last_job(c, 'edges').id}\n".encode()}


def test_job_timeout_stops_a_job_whose_datums_run_too_long(tmp_path: Path) -> None:
    with Client.init(tmp_path / "store") as c:
        c.create_repo("images")
        with c.commit("images", "main") as tx:
            tx.put_file("/a.png", b"A")
        c.create_pipeline(
            # 2 s, not less: on a loaded machine staging alone can outlast a shorter timeout,
            # and the datum is then refused before it starts instead of killed while it runs.
            {**EDGES, "datumTries": 1, "jobTimeout": "2s", "transform": {"cmd": ["sleep", "30"]}}
        )
        assert not c.run().ok
        job = last_job(c, "edges")
        assert job.state == "failure"
        logs = "".join(text for _, text in c.job_logs(job.id))
        assert "killed after the job timeout of 2s" in logs
