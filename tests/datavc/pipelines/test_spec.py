"""The pipeline spec: parsing, defaults, validation messages, hashes."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from datavc.errors import InvalidArgument
from datavc.pipelines.spec import Input, InvalidSpec, PfsInput, PipelineSpec, Transform

WORDCOUNT_YAML = """\
pipeline: {name: wordcount, description: "count words per file"}
input:
  pfs: {repo: texts, branch: main, glob: "/*", name: texts}
transform:
  image: python:3.12-slim
  cmd: ["python3", "-c", "print(1)"]
  stdin: ["optional", "lines"]
  env: {LANG: C.UTF-8}
parallelism: 2
datum_tries: 3
datum_timeout: 3600
resources: {cpu: "1", memory: "512Mi"}
"""

WORDCOUNT_JSON = """{
  "transform": {"env": {"LANG": "C.UTF-8"}, "stdin": ["optional", "lines"],
                "cmd": ["python3", "-c", "print(1)"], "image": "python:3.12-slim"},
  "resources": {"memory": "512Mi", "cpu": "1"},
  "datum_timeout": 3600.0, "datum_tries": 3, "parallelism": 2,
  "input": {"pfs": {"glob": "/*", "repo": "texts"}},
  "pipeline": {"description": "count words per file", "name": "wordcount"}
}"""


def minimal(**changes: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "pipeline": {"name": "p"},
        "input": {"pfs": {"repo": "a", "glob": "/*"}},
        "transform": {"cmd": ["true"]},
    }
    spec.update(changes)
    return spec


def pfs(repo: str, glob: str = "/*", **fields: Any) -> dict[str, Any]:
    return {"pfs": {"repo": repo, "glob": glob, **fields}}


def problems_of(data: Any) -> str:
    with pytest.raises(InvalidSpec) as info:
        PipelineSpec.parse(data)
    message = str(info.value)
    assert message.startswith("invalid pipeline spec: ")
    assert "\n" not in message
    assert message == "invalid pipeline spec: " + "; ".join(info.value.problems)
    return message.removeprefix("invalid pipeline spec: ")


# --- parsing ---------------------------------------------------------------------------


def test_yaml_and_json_parse_to_equal_specs() -> None:
    from_yaml = PipelineSpec.parse(WORDCOUNT_YAML)
    from_json = PipelineSpec.parse(WORDCOUNT_JSON)
    assert from_yaml == from_json
    assert from_yaml.name == from_yaml.output_repo == "wordcount"
    assert from_yaml.transform.cmd == ("python3", "-c", "print(1)")
    assert from_yaml.transform.env == {"LANG": "C.UTF-8"}
    assert from_yaml.resources is not None and from_yaml.resources.memory == "512Mi"


def test_format_can_be_forced() -> None:
    assert PipelineSpec.parse(WORDCOUNT_JSON, fmt="yaml") == PipelineSpec.parse(WORDCOUNT_JSON, fmt="json")
    assert PipelineSpec.parse(WORDCOUNT_JSON.encode()) == PipelineSpec.parse(WORDCOUNT_YAML)
    with pytest.raises(InvalidSpec, match="JSON: "):
        PipelineSpec.parse(WORDCOUNT_YAML, fmt="json")


def test_defaults() -> None:
    spec = PipelineSpec.parse(minimal())
    assert spec.parallelism == 1
    assert spec.datum_tries == 3
    assert spec.datum_timeout == 3600
    assert str(PipelineSpec.parse(minimal(datum_timeout=60.0)).datum_timeout) == "60"
    assert PipelineSpec.parse(minimal(datum_timeout=0.25)).datum_timeout == 0.25
    assert spec.resources is None
    assert spec.pipeline.description == ""
    assert spec.transform == Transform(cmd=("true",))
    assert spec.transform.image is None and spec.transform.stdin == () and spec.transform.env == {}
    (leaf,) = spec.inputs()
    assert (leaf.repo, leaf.branch, leaf.glob, leaf.name, leaf.join_on) == ("a", "main", "/*", "a", None)
    assert spec.to_dict() == {
        "pipeline": {"name": "p", "description": ""},
        "input": {"pfs": {"repo": "a", "branch": "main", "glob": "/*", "name": "a"}},
        "transform": {"image": None, "cmd": ["true"], "stdin": [], "env": {}},
        "parallelism": 1,
        "datum_tries": 3,
        "datum_timeout": 3600,
        "resources": None,
    }


def test_to_dict_round_trips() -> None:
    spec = PipelineSpec.parse(WORDCOUNT_YAML)
    assert PipelineSpec.parse(spec.to_dict()) == spec
    assert PipelineSpec.parse(spec.canonical_json()) == spec
    assert PipelineSpec.parse(yaml.safe_dump(spec.to_dict())) == spec


def test_from_file(tmp_path: Path) -> None:
    (tmp_path / "s.yaml").write_text(WORDCOUNT_YAML)
    (tmp_path / "s.json").write_text(WORDCOUNT_JSON)
    (tmp_path / "spec").write_text(WORDCOUNT_JSON)
    specs = {PipelineSpec.from_file(tmp_path / n) for n in ("s.yaml", "s.json", "spec")}
    assert len(specs) == 1
    with pytest.raises(InvalidArgument, match="cannot read pipeline spec"):
        PipelineSpec.from_file(tmp_path / "missing.yaml")


def test_create_from_python() -> None:
    spec = PipelineSpec.create(
        "wordcount",
        {"pfs": {"repo": "texts", "glob": "/*"}},
        {"image": "python:3.12-slim", "cmd": ["python3", "-c", "print(1)"], "env": {"LANG": "C.UTF-8"}},
        description="count words per file",
        parallelism=2,
    )
    assert spec.name == "wordcount"
    assert spec.pipeline.description == "count words per file"
    assert spec.parallelism == 2
    leaf = PfsInput(repo="texts", glob="/*")
    assert leaf.name == "texts"
    again = PipelineSpec.create("wordcount", leaf, Transform(cmd=("python3", "-c", "print(1)")))
    assert again.input == Input(pfs=leaf)
    with pytest.raises(InvalidSpec, match=r"^invalid pipeline spec: pipeline\.name: invalid pipeline name"):
        PipelineSpec.create("bad name", leaf, {"cmd": ["x"]})


def test_nested_inputs_depth_first() -> None:
    spec = PipelineSpec.parse(
        minimal(
            input={
                "cross": [
                    {"union": [pfs("a"), pfs("b")]},
                    {"join": [pfs("c", "/(*)", join_on="$1"), pfs("d", "/(*).csv", join_on="$1")]},
                    pfs("a", "/", name="a2"),
                ]
            }
        )
    )
    assert [i.name for i in spec.inputs()] == ["a", "b", "c", "d", "a2"]
    assert spec.input.kind == "cross"
    assert [c.kind for c in spec.input.children] == ["union", "join", "pfs"]
    assert spec.to_dict()["input"]["cross"][1]["join"][0]["pfs"]["join_on"] == "$1"


def test_numbers_are_accepted_as_quantities() -> None:
    spec = PipelineSpec.parse(minimal(resources={"cpu": 0.5, "memory": 1000000}))
    assert spec.resources is not None
    assert (spec.resources.cpu, spec.resources.memory) == ("0.5", "1000000")


@pytest.mark.parametrize("cpu", ["1", "0.5", "500m", "2", ".5", "16"])
@pytest.mark.parametrize("memory", ["512Mi", "1Gi", "1000000", "1.5Gi", "500M", "1e9", "128k"])
def test_valid_quantities(cpu: str, memory: str) -> None:
    PipelineSpec.parse(minimal(resources={"cpu": cpu, "memory": memory}))


def test_spec_is_frozen_and_hashable() -> None:
    spec = PipelineSpec.parse(WORDCOUNT_YAML)
    with pytest.raises(ValueError, match="frozen"):
        spec.__setattr__("parallelism", 3)
    assert hash(spec) == hash(PipelineSpec.parse(WORDCOUNT_JSON))


# --- invalid specs -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        # pfs inputs
        ({"input": {"pfs": {"glob": "/*"}}}, "input.pfs.repo: required"),
        ({"input": pfs("bad name")}, "input.pfs.repo: invalid repo name 'bad name'"),
        ({"input": pfs("a", "*")}, "input.pfs.glob: must start with '/'"),
        ({"input": pfs("a", "/(*")}, "input.pfs.glob: unbalanced '('"),
        ({"input": {"pfs": {"repo": "a"}}}, "input.pfs.glob: required"),
        ({"input": pfs("a", branch="no/slash")}, "input.pfs.branch: invalid branch name"),
        ({"input": pfs("a", name="")}, "input.pfs.name: invalid input name ''"),
        # `lazy` is a Pachyderm field, accepted (test_pachyderm_specs); a made-up one is not.
        ({"input": pfs("a", lazy_load=True)}, "input.pfs.lazy_load: unknown field"),
        ({"input": pfs("p")}, "input.pfs.repo: a pipeline cannot read its own output repo 'p'"),
        (
            {"input": pfs("a", "/(*)", join_on="$1")},
            "input.pfs.join_on: only allowed on the inputs of a join",
        ),
        # input combinators
        ({"input": {}}, "input: must have exactly one of pfs, cross, union, join, group (got none)"),
        (
            {"input": {**pfs("a"), "union": [pfs("b")]}},
            "input: must have exactly one of pfs, cross, union, join, group (got pfs, union)",
        ),
        ({"input": {"cross": [pfs("a")]}}, "input.cross: a cross needs at least 2 inputs, got 1"),
        ({"input": {"join": [pfs("a", "/(*)", join_on="$1")]}}, "input.join: a join needs at least 2 inputs"),
        ({"input": {"union": []}}, "input.union: a union needs at least 1 input, got 0"),
        ({"input": {"cross": pfs("a")}}, "input.cross: must be a list"),
        ({"input": {"cross": [pfs("a"), pfs("b", "*")]}}, "input.cross[1].pfs.glob: must start with '/'"),
        (
            {"input": {"cross": [pfs("a"), {"union": [pfs("b"), pfs("c", "x")]}]}},
            "input.cross[1].union[1].pfs.glob: must start with '/'",
        ),
        (
            {"input": {"cross": [pfs("a"), pfs("a")]}},
            "input.cross[1].pfs.name: duplicate input name 'a' (also at input.cross[0].pfs.name)",
        ),
        (
            {"input": {"union": [pfs("a", name="x"), {"cross": [pfs("b"), pfs("c", name="x")]}]}},
            "input.union[1].cross[1].pfs.name: duplicate input name 'x' (also at input.union[0].pfs.name)",
        ),
        (
            {"input": {"join": [pfs("a", "/(*)", join_on="$1"), pfs("b", "/(*)")]}},
            "input.join[1].pfs.join_on: required for an input of a join",
        ),
        (
            {"input": {"join": [pfs("a", "/(*)", join_on="$1"), {"union": [pfs("b"), pfs("c")]}]}},
            "input.join[1]: the inputs of a join must be pfs inputs, not a union",
        ),
        (
            {"input": {"join": [pfs("a", "/(*)", join_on="$2"), pfs("b", "/(*)", join_on="$1")]}},
            "input.join[0].pfs.join_on: '$2' refers to capture group $2, but glob '/(*)' has 1",
        ),
        (
            {"input": {"join": [pfs("a", "/*", join_on="x"), pfs("b", "/(*)", join_on="$1")]}},
            "input.join[0].pfs.join_on: 'x' must refer to a capture group of the glob",
        ),
        (
            {"input": {"cross": [pfs("a"), pfs("b", "/(*)", join_on="$1")]}},
            "input.cross[1].pfs.join_on: only allowed on the inputs of a join",
        ),
        (
            {"input": {"cross": [pfs("a"), {"join": [pfs("p", "/(*)", join_on="$1"), pfs("c", "/(*)")]}]}},
            "input.cross[1].join[0].pfs.repo: a pipeline cannot read its own output repo 'p'; "
            "input.cross[1].join[1].pfs.join_on: required for an input of a join",
        ),
        # transform
        ({"transform": {}}, "transform.cmd: required"),
        ({"transform": {"cmd": []}}, "transform.cmd: must not be empty"),
        ({"transform": {"cmd": "python3 x.py"}}, "transform.cmd: must be a list, got a string"),
        ({"transform": {"cmd": ["python3", 1]}}, "transform.cmd[1]: must be a string, got an integer"),
        ({"transform": {"cmd": [""]}}, "transform.cmd: the program (first item) must not be empty"),
        ({"transform": {"cmd": ["x"], "stdin": "echo"}}, "transform.stdin: must be a list"),
        ({"transform": {"cmd": ["x"], "env": {"N": 4}}}, "transform.env.N: must be a string, got an integer"),
        ({"transform": {"cmd": ["x"], "env": {"A B": "1"}}}, "transform.env: invalid variable name 'A B'"),
        (
            {"transform": {"cmd": ["x"], "env": {"DATAVC_OUT": "/"}}},
            "transform.env: 'DATAVC_OUT' is reserved",
        ),
        ({"transform": {"cmd": ["x"], "image": ""}}, "transform.image: must be an image reference"),
        # transform.user is supported since issue 16; an empty one is still refused.
        (
            {"transform": {"cmd": ["x"], "user": ""}},
            "transform.user: string should have at least 1 character",
        ),
        (
            # a name, a uid or uid:gid; anything else is refused
            {"transform": {"cmd": ["x"], "user": "1000:alice"}},
            "transform.user: '1000:alice': use a user name, a uid or 'uid:gid'",
        ),
        # pipeline
        ({"pipeline": {}}, "pipeline.name: required"),
        ({"pipeline": {"name": "a.b"}}, "pipeline.name: invalid pipeline name 'a.b'"),
        ({"pipeline": {"name": "p", "description": 3}}, "pipeline.description: must be a string"),
        ({"pipeline": "p"}, "pipeline: must be a mapping, got a string"),
        # top-level numbers
        ({"parallelism": 0}, "parallelism: must be >= 1"),
        ({"parallelism": "2"}, "parallelism: must be an integer, got a string"),
        ({"parallelism": True}, "parallelism: must be an integer, got a boolean"),
        ({"parallelism": 1.5}, "parallelism: must be an integer"),
        ({"datum_tries": 0}, "datum_tries: must be >= 1"),
        ({"datum_timeout": 0}, "datum_timeout: must be > 0"),
        ({"datum_timeout": -1.5}, "datum_timeout: must be > 0"),
        # A Go duration ("1h") is read as seconds (test_pachyderm_specs); anything else is not.
        (
            {"datum_timeout": "1 hour"},
            "datum_timeout: invalid duration '1 hour': use a Go duration such as '60s', '1h30m', '500ms'",
        ),
        ({"datum_timeout": [1]}, "datum_timeout: must be a number, got a list"),
        # resources
        ({"resources": {"cpu": "1.5 cores"}}, "resources.cpu: invalid CPU quantity '1.5 cores'"),
        ({"resources": {"cpu": "0"}}, "resources.cpu: invalid CPU quantity '0': must be > 0"),
        ({"resources": {"cpu": "0m"}}, "resources.cpu: invalid CPU quantity '0m': must be > 0"),
        ({"resources": {"memory": "1GB"}}, "resources.memory: invalid memory quantity '1GB'"),
        ({"resources": {"memory": "0Mi"}}, "resources.memory: invalid memory quantity '0Mi': must be > 0"),
        ({"resources": {"gpu": 1}}, "resources.gpu: must be a mapping, got an integer"),
        ({"resources": {"gpus": 1}}, "resources.gpus: unknown field"),
        # top level
        ({"extra": 1}, "extra: unknown field"),
    ],
)
def test_invalid_spec_names_the_field(changes: dict[str, Any], expected: str) -> None:
    message = problems_of(minimal(**changes))
    assert expected in message


def test_missing_top_level_fields() -> None:
    assert problems_of({}) == "pipeline: required; input: required; transform: required"


def test_every_problem_is_reported() -> None:
    message = problems_of(
        minimal(input=pfs("a", "x"), transform={"cmd": []}, parallelism=0, datum_tries=0, bogus=1)
    )
    assert message == (
        "input.pfs.glob: must start with '/'; transform.cmd: must not be empty; "
        "parallelism: must be >= 1; datum_tries: must be >= 1; bogus: unknown field"
    )


def test_a_bad_repo_is_reported_once() -> None:
    assert problems_of(minimal(input=pfs("a b"))).count("'a b'") == 1


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", "the spec is empty"),
        ("# nothing\n", "the spec is empty"),
        ("- 1\n- 2\n", "must be a mapping of fields, got a list"),
        ("just text", "must be a mapping of fields, got a string"),
        ("pipeline: [\n", "YAML: "),
        ("{bad json", "JSON: Expecting property name enclosed in double quotes at line 1 column 2"),
        ("pipeline: {name: p}\npipeline: {name: q}\n", "duplicate key 'pipeline' (line 2)"),
        ('{"pipeline": {"name": "p"}, "pipeline": {"name": "q"}}', "duplicate key 'pipeline'"),
        (
            "pipeline: {name: p}\ninput: {pfs: {repo: a, glob: /*, branch: no}}\ntransform: {cmd: [x]}\n",
            "input.pfs.branch: must be a string, got a boolean",
        ),
    ],
)
def test_unparseable_text(text: str, expected: str) -> None:
    assert expected in problems_of(text)


def test_invalid_spec_is_an_invalid_argument() -> None:
    with pytest.raises(InvalidArgument) as info:
        PipelineSpec.parse(minimal(input=pfs("a", "*")))
    assert info.value.exit_code == 2
    assert str(info.value) == "invalid pipeline spec: input.pfs.glob: must start with '/'"


# --- hashes --------------------------------------------------------------------------------


def test_spec_hash_is_stable_across_key_order_and_format() -> None:
    from_yaml = PipelineSpec.parse(WORDCOUNT_YAML)
    from_json = PipelineSpec.parse(WORDCOUNT_JSON)
    reordered = PipelineSpec.parse(json.dumps(dict(reversed(list(json.loads(WORDCOUNT_JSON).items())))))
    assert from_yaml.spec_hash == from_json.spec_hash == reordered.spec_hash
    assert from_yaml.canonical_json() == from_json.canonical_json()
    assert len(from_yaml.spec_hash) == 64 and int(from_yaml.spec_hash, 16) >= 0
    canonical = from_yaml.canonical_json()
    assert " " not in canonical.replace("count words per file", "")
    assert canonical == json.dumps(json.loads(canonical), sort_keys=True, separators=(",", ":"))


def test_spec_hash_fills_defaults() -> None:
    explicit = minimal(parallelism=1, datum_tries=3, datum_timeout=3600.0)
    explicit["input"]["pfs"].update(branch="main", name="a")
    assert PipelineSpec.parse(explicit).spec_hash == PipelineSpec.parse(minimal()).spec_hash


def test_spec_hash_changes_with_any_field() -> None:
    base = PipelineSpec.parse(minimal()).spec_hash
    assert PipelineSpec.parse(minimal(parallelism=2)).spec_hash != base
    assert PipelineSpec.parse(minimal(input=pfs("a", "/"))).spec_hash != base


def transform_hash(**transform: Any) -> str:
    return PipelineSpec.parse(minimal(transform={"cmd": ["true"], **transform})).transform_hash


def test_transform_hash_changes_with_what_runs() -> None:
    base = transform_hash()
    assert transform_hash(cmd=["false"]) != base
    assert transform_hash(cmd=["true", "x"]) != base
    assert transform_hash(env={"A": "1"}) != base
    assert transform_hash(env={"A": "1"}) != transform_hash(env={"A": "2"})
    assert transform_hash(image="python:3.12-slim") != base
    assert transform_hash(image="python:3.12-slim") != transform_hash(image="python:3.13-slim")
    assert transform_hash(stdin=["echo"]) != base
    assert transform_hash(env={"A": "1", "B": "2"}) == transform_hash(env={"B": "2", "A": "1"})


def test_transform_hash_ignores_scheduling() -> None:
    base = PipelineSpec.parse(minimal())
    for changes in (
        {"parallelism": 4},
        {"datum_tries": 1},
        {"datum_timeout": 10},
        {"resources": {"cpu": "2"}},
        {"pipeline": {"name": "p", "description": "new words"}},
    ):
        other = PipelineSpec.parse(minimal(**changes))
        assert other.transform_hash == base.transform_hash
        assert other.spec_hash != base.spec_hash


def test_the_specs_in_the_docs_are_valid() -> None:
    docs = Path(__file__).parents[3] / "docs" / "pipelines.md"
    blocks = re.findall(r"```yaml\n(.*?)```", docs.read_text(), re.S)
    assert len(blocks) >= 8
    for block in blocks:
        data = yaml.safe_load(block)
        if "pipeline" not in data:  # an input example
            data = {"pipeline": {"name": "x"}, "transform": {"cmd": ["true"]}, **data}
        PipelineSpec.parse(data)
