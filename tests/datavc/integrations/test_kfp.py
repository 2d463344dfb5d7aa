"""Kubeflow Pipelines: the example pipeline compiles to the YAML Kubeflow expects, and the
components' functions really read a commit into a directory and write one back.

The compiled YAML must name the datavc image, the components' inputs and outputs and the
Kubernetes secret, and must carry no credential (a token in the environment at compile
time stays out of it).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import pytest
import yaml
from kfp import compiler
from kfp.dsl import Dataset

from datavc.client import Client
from datavc.errors import InvalidArgument
from datavc.integrations import kfp_components
from datavc.integrations.kfp import PIPELINE_KEY, RUN_ID_KEY, TASK_KEY, read_commit, write_commit

EXAMPLE = Path(__file__).parents[3] / "examples" / "kfp" / "pipeline.py"
TOKEN = "dvc_SECRET-token-never-in-yaml"


@pytest.fixture(scope="module")
def compiled(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], dict[str, Any], str]:
    """The example compiled once: (pipeline spec, platform spec, raw text)."""
    mp = pytest.MonkeyPatch()
    mp.setenv("DATAVC_TOKEN", TOKEN)
    mp.setenv("DATAVC_SERVER", "https://datavc.example.internal:8080")
    try:
        spec = importlib.util.spec_from_file_location("datavc_kfp_example", EXAMPLE)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        out = tmp_path_factory.mktemp("kfp") / "pipeline.yaml"
        compiler.Compiler().compile(module.datavc_upper_case, str(out))
    finally:
        mp.undo()
    text = out.read_text()
    pipeline, platform = yaml.safe_load_all(text)
    return pipeline, platform, text


def test_compiled_pipeline_has_the_components_images_and_io(
    compiled: tuple[dict[str, Any], dict[str, Any], str],
) -> None:
    pipeline, _, _ = compiled
    comps = pipeline["components"]
    assert set(comps) == {"comp-read-datavc-commit", "comp-upper-case", "comp-write-datavc-commit"}
    read = comps["comp-read-datavc-commit"]
    assert set(read["inputDefinitions"]["parameters"]) == {"repo", "ref", "path"}
    assert (
        read["outputDefinitions"]["artifacts"]["dataset"]["artifactType"]["schemaTitle"] == "system.Dataset"
    )
    write = comps["comp-write-datavc-commit"]
    assert write["inputDefinitions"]["artifacts"]["data"]["artifactType"]["schemaTitle"] == "system.Dataset"
    assert {"repo", "branch", "path", "run_id", "pipeline_name", "task_name"} <= set(
        write["inputDefinitions"]["parameters"]
    )
    execs = pipeline["deploymentSpec"]["executors"]
    for name in ("exec-read-datavc-commit", "exec-write-datavc-commit"):
        assert execs[name]["container"]["image"] == kfp_components.IMAGE
    # The run id, pipeline and task names reach the write component from KFP's placeholders.
    params = pipeline["root"]["dag"]["tasks"]["write-datavc-commit"]["inputs"]["parameters"]
    assert params["run_id"]["runtimeValue"]["constant"] == "{{$.pipeline_job_uuid}}"
    assert params["pipeline_name"]["runtimeValue"]["constant"] == "{{$.pipeline_job_name}}"
    assert params["task_name"]["runtimeValue"]["constant"] == "{{$.pipeline_task_name}}"
    # The artifact flows read -> upper_case -> write.
    tasks = pipeline["root"]["dag"]["tasks"]
    src = tasks["upper-case"]["inputs"]["artifacts"]["src"]["taskOutputArtifact"]
    assert src == {"outputArtifactKey": "dataset", "producerTask": "read-datavc-commit"}


def test_compiled_pipeline_takes_the_credential_from_a_secret_and_holds_none(
    compiled: tuple[dict[str, Any], dict[str, Any], str],
) -> None:
    _, platform, text = compiled
    executors = platform["platforms"]["kubernetes"]["deploymentSpec"]["executors"]
    for name in ("exec-read-datavc-commit", "exec-write-datavc-commit"):
        [secret] = executors[name]["secretAsEnv"]
        assert secret["secretName"] == "datavc"
        assert {(k["secretKey"], k["envVar"]) for k in secret["keyToEnv"]} == {
            ("server", "DATAVC_SERVER"),
            ("token", "DATAVC_TOKEN"),
        }
    assert "exec-upper-case" not in executors  # the user's own step gets no datavc credential
    assert TOKEN not in text and "datavc.example.internal" not in text


@pytest.fixture
def store(tmp_path: Path) -> Client:
    client = Client.init(tmp_path / "store")
    client.create_repo("images")
    with client.commit("images", "main") as tx:
        tx.put_file("a.txt", b"alpha")
        tx.put_file("sub/b.txt", b"beta")
    return client


def test_read_commit_copies_one_commit_into_a_directory(store: Client, tmp_path: Path) -> None:
    head = store.inspect_commit("images", "main")
    commit = read_commit(store, "images", "main", "/", tmp_path / "all")
    assert commit.id == head.id
    assert (tmp_path / "all" / "a.txt").read_bytes() == b"alpha"
    assert (tmp_path / "all" / "sub" / "b.txt").read_bytes() == b"beta"
    read_commit(store, "images", head.id[:8], "/sub", tmp_path / "sub")
    assert [p.name for p in (tmp_path / "sub").rglob("*")] == ["b.txt"]
    store.close()


def test_write_commit_records_the_kfp_run_in_the_commit_metadata(store: Client, tmp_path: Path) -> None:
    out = tmp_path / "artifact"
    (out / "deep").mkdir(parents=True)
    (out / "model.bin").write_bytes(b"\x00weights")
    (out / "deep" / "x.json").write_text("{}")
    store.create_repo("models")
    c = write_commit(store, out, "models", "main", "/v1", run_id="run-42", pipeline="train", task="save")
    info = store.inspect_commit("models", "main")
    assert info.id == c.id
    assert info.metadata == {RUN_ID_KEY: "run-42", PIPELINE_KEY: "train", TASK_KEY: "save"}
    assert "run-42" in info.message
    assert store.get_file("models", "main", "/v1/model.bin") == b"\x00weights"
    assert store.get_file("models", "main", "/v1/deep/x.json") == b"{}"
    with pytest.raises(InvalidArgument):
        write_commit(store, tmp_path / "missing", "models", "main")
    assert store.inspect_commit("models", "main").id == c.id  # nothing written
    store.close()


def test_the_components_run_in_process_against_a_store(
    store: Client, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The components' own Python (what the pod runs), with the store found from the environment."""
    monkeypatch.setenv("DATAVC_HOME", str(tmp_path / "store"))
    store.create_repo("copies")
    ds = Dataset(name="dataset", uri=str(tmp_path / "ds"), metadata={})
    commit = kfp_components.read_datavc_commit.python_func(repo="images", dataset=ds, ref="main", path="/")
    assert commit == store.inspect_commit("images", "main").id
    assert ds.metadata["datavc_commit"] == commit
    assert (tmp_path / "ds" / "sub" / "b.txt").read_bytes() == b"beta"
    written = kfp_components.write_datavc_commit.python_func(
        data=ds, repo="copies", run_id="r-1", pipeline_name="p", task_name="t"
    )
    info = store.inspect_commit("copies", "main")
    assert info.id == written and info.metadata[RUN_ID_KEY] == "r-1"
    assert store.get_file("copies", "main", "/sub/b.txt") == b"beta"
    store.close()
