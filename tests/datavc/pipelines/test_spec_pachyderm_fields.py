"""The Pachyderm spec fields datavc supports beyond the basics: where each one goes.

``err_cmd``, ``output_branch``, ``reprocess_spec``, ``PACH_OUTPUT_COMMIT_ID``,
``PACH_DATUM_<input>_GROUP_BY``, ``user`` and ``secrets`` on Kubernetes, and the fields
accepted with no effect. One store for the module: each test has its own repos.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from datavc.client import Client
from datavc.pipelines.spec import InvalidSpec, PipelineSpec
from tests.datavc.helpers import files_of
from tests.datavc.pipelines.helpers import last_job, run_ok, sh


@pytest.fixture(scope="module")
def c(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Client]:
    with Client.init(tmp_path_factory.mktemp("fields") / "store") as client:
        yield client


def pipeline(name: str, repo: str, transform: dict[str, Any], **fields: Any) -> dict[str, Any]:
    return {
        "pipeline": {"name": name},
        "input": {"pfs": {"repo": repo, "glob": "/*"}},
        "transform": transform,
        "datumTries": 1,
        **fields,
    }


def put(c: Client, repo: str, files: dict[str, bytes]) -> None:
    with c.commit(repo, "main") as tx:
        for path, data in files.items():
            tx.put_file(path, data)


def problems(doc: dict[str, Any]) -> str:
    with pytest.raises(InvalidSpec) as info:
        PipelineSpec.parse(doc)
    return str(info.value)


def test_err_cmd_recovers_a_failed_datum_which_runs_again_next_job(c: Client) -> None:
    c.create_repo("e_in")
    put(c, "e_in", {"/good": b"g", "/bad": b"b"})
    script = (
        'if [ -e "$DATAVC_IN/e_in/bad" ]; then echo broken; exit 1; fi; '
        'cp "$DATAVC_IN/e_in/good" "$DATAVC_OUT/"'
    )
    c.create_pipeline(pipeline("e_out", "e_in", {"cmd": sh(script), "errCmd": ["sh", "-c", "echo handled"]}))
    run_ok(c)
    job = last_job(c, "e_out")
    assert files_of(c, "e_out") == {"/good": b"g"}  # the recovered datum has no output
    logs = "".join(text for _, text in c.job_logs(job.id))
    assert "broken" in logs and "handled" in logs and "err_cmd exited 0: the datum is recovered" in logs
    put(c, "e_in", {"/more": b"m"})
    run_ok(c)
    again = last_job(c, "e_out")
    assert (again.datums_processed, again.datums_skipped) == (2, 1)  # the recovered one ran again


def test_err_cmd_that_fails_fails_the_job(c: Client) -> None:
    c.create_repo("f_in")
    put(c, "f_in", {"/x": b"x"})
    c.create_pipeline(pipeline("f_out", "f_in", {"cmd": ["false"], "errCmd": ["sh", "-c", "exit 2"]}))
    assert not c.run().ok
    job = last_job(c, "f_out")
    assert job.state == "failure"
    assert "err_cmd exited 2: the datum failed" in "".join(t for _, t in c.job_logs(job.id))
    assert c.list_branches("f_out")[0].head is None


def test_output_commit_id_is_the_job_id_and_goes_to_output_branch(c: Client) -> None:
    c.create_repo("o_in")
    put(c, "o_in", {"/a": b"a"})
    script = 'echo "$PACH_OUTPUT_COMMIT_ID" > "$DATAVC_OUT/commit"'
    c.create_pipeline(pipeline("o_out", "o_in", {"cmd": sh(script)}, outputBranch="master"))
    run_ok(c)
    job = last_job(c, "o_out")
    assert job.output_commit == job.id
    assert files_of(c, "o_out", "master") == {"/commit": f"{job.id}\n".encode()}
    assert c.inspect_commit("o_out", "master").id == job.id
    assert {b.name: b.head for b in c.list_branches("o_out")}["main"] is None


def test_reprocess_spec_every_job_runs_every_datum(c: Client) -> None:
    c.create_repo("r_in")
    put(c, "r_in", {"/a": b"a"})
    c.create_pipeline(
        pipeline(
            "r_out",
            "r_in",
            {"cmd": sh('cp -r "$DATAVC_IN/r_in/." "$DATAVC_OUT/"')},
            reprocessSpec="every_job",
        )
    )
    run_ok(c)
    put(c, "r_in", {"/b": b"b"})
    run_ok(c)
    job = last_job(c, "r_out")
    assert (job.datums_processed, job.datums_skipped) == (2, 0)


def test_group_datums_carry_their_group_key(c: Client) -> None:
    c.create_repo("g_in")
    put(c, "g_in", {"/x-1.txt": b"1", "/y-1.txt": b"2", "/z-2.txt": b"3"})
    spec = {
        "pipeline": {"name": "g_out"},
        "input": {"group": [{"pfs": {"repo": "g_in", "glob": "/*-(*).txt", "groupBy": "$1"}}]},
        "transform": {
            "cmd": sh('ls "$DATAVC_IN/g_in" | tr "\\n" " " > "$DATAVC_OUT/$PACH_DATUM_g_in_GROUP_BY"')
        },
    }
    c.create_pipeline(spec)
    run_ok(c)
    assert files_of(c, "g_out") == {"/1": b"x-1.txt y-1.txt ", "/2": b"z-2.txt "}


def test_accepted_fields_with_no_effect_keep_the_spec_hash_when_off() -> None:
    base = pipeline("n", "n_in", {"cmd": ["true"]})
    on = PipelineSpec.parse({**base, "autoscaling": True, "datumSetSpec": {"number": 10}})
    off = PipelineSpec.parse({**base, "autoscaling": False, "datumSetSpec": None, "egress": None})
    assert on.autoscaling and on.datum_set_spec is not None and on.datum_set_spec.number == 10
    assert off.spec_hash == PipelineSpec.parse(base).spec_hash
    assert on.transform_hash == off.transform_hash  # no datum runs again for them


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        (
            {"input": {"pfs": {"repo": "a", "glob": "/(*)", "groupBy": "$1"}}},
            "input.pfs.group_by: only allowed on the inputs of a group",
        ),
        (
            {"input": {"group": [{"pfs": {"repo": "a", "glob": "/*"}}]}},
            "input.group[0].pfs.group_by: required for an input of a group",
        ),
        (
            {
                "input": {
                    "group": [
                        {"cross": [{"pfs": {"repo": "a", "glob": "/"}}, {"pfs": {"repo": "b", "glob": "/"}}]}
                    ]
                }
            },
            "input.group[0]: the inputs of a group must be pfs inputs, not a cross",
        ),
        (
            {"input": {"group": [{"pfs": {"repo": "a", "glob": "/(*)", "groupBy": "$2"}}]}},
            "refers to capture group $2, but glob '/(*)' has 1",
        ),
        ({"egress": {"URL": "gs://bucket/x"}}, "egress.url: 'gs://bucket/x': only s3:// URLs are supported"),
        ({"reprocessSpec": "sometimes"}, "reprocess_spec: "),
        ({"outputBranch": "a b"}, "output_branch: "),
        (
            {"transform": {"cmd": ["x"], "secrets": [{"name": "s", "envVar": "K"}]}},
            "key: required with env_var",
        ),
        (
            {"transform": {"cmd": ["x"], "secrets": [{"name": "s", "key": "k", "envVar": "PACH_JOB_ID"}]}},
            "'PACH_JOB_ID' is reserved",
        ),
        (
            {
                "transform": {
                    "cmd": ["x"],
                    "secrets": [{"name": "s", "key": "k", "envVar": "K", "mountPath": "/s"}],
                }
            },
            "give exactly one of env_var (with key) or mount_path",
        ),
    ],
)
def test_bad_fields_are_refused_naming_them(changes: dict[str, Any], expected: str) -> None:
    assert expected in problems({**pipeline("p", "a", {"cmd": ["x"]}), **changes})


def test_user_and_secrets_reach_the_kubernetes_job() -> None:
    from datavc.pipelines.executors.kubernetes import job_manifest
    from tests.k8s.validation import job_errors, schema_errors

    spec = PipelineSpec.parse(
        pipeline(
            "k",
            "k_in",
            {
                "cmd": ["x"],
                "image": "alpine:3",
                "user": "1000:2000",
                "secrets": [
                    {"name": "db-creds", "key": "password", "envVar": "DB_PASSWORD"},
                    {"name": "tls", "mountPath": "/etc/tls"},
                ],
            },
        )
    )
    m = job_manifest(spec, "b" * 32, 1, namespace="ns", secret="creds", image=None, ttl=60)
    pod = m["spec"]["template"]["spec"]
    container = pod["containers"][0]
    # The user goes into the pod's securityContext (issue 16's pod_security), beside the
    # restricted profile's settings that the container keeps.
    assert (pod["securityContext"]["runAsUser"], pod["securityContext"]["runAsGroup"]) == (1000, 2000)
    assert container["securityContext"]["capabilities"] == {"drop": ["ALL"]}
    assert {
        "name": "DB_PASSWORD",
        "valueFrom": {"secretKeyRef": {"name": "db-creds", "key": "password"}},
    } in (container["env"])
    assert {"name": "secret-1", "mountPath": "/etc/tls", "readOnly": True} in container["volumeMounts"]
    assert {"name": "secret-1", "secret": {"secretName": "tls"}} in pod["volumes"]
    assert schema_errors(m, strict=True) == []
    assert job_errors(m) == []
