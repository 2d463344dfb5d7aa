"""Hostile pipeline specs are bounded: deep nesting, YAML alias bombs and huge texts are
refused with one ``InvalidSpec`` naming the limit, never a RecursionError or a hang."""

from __future__ import annotations

from pathlib import Path

import pytest

from datavc.pipelines.spec import MAX_DEPTH, MAX_SPEC_BYTES, MAX_VALUES, InvalidSpec, PipelineSpec

DEEP = 100_000


def _bomb(levels: int = 9, width: int = 10) -> str:
    lines = ["l0: &l0 [" + ", ".join(["lol"] * width) + "]"]
    for i in range(1, levels + 1):
        lines.append(f"l{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * width) + "]")
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ('{"pipeline": ' + "[" * DEEP + "]" * DEEP + "}", f"nested more than {MAX_DEPTH} levels deep"),
        ("pipeline: " + "[" * DEEP + "]" * DEEP, f"nested more than {MAX_DEPTH} levels deep"),
        ("pipeline: " + "{a: " * 2000 + "1" + "}" * 2000, f"nested more than {MAX_DEPTH} levels deep"),
        ('{"a": ' + "[" * 200 + "]" * 200 + "}", f"nested more than {MAX_DEPTH} levels deep"),
        (_bomb(), f"more than {MAX_VALUES} values"),
        ("a: " + "x" * (MAX_SPEC_BYTES + 1), f"larger than {MAX_SPEC_BYTES} bytes"),
    ],
    ids=["json-deep", "yaml-flow-deep", "yaml-mapping-deep", "json-200-deep", "yaml-bomb", "huge"],
)
def test_hostile_specs_are_refused(text: str, problem: str) -> None:
    with pytest.raises(InvalidSpec, match=problem):
        PipelineSpec.parse(text)


def test_deep_python_data_is_refused_too() -> None:
    data: list[object] = []
    for _ in range(DEEP):
        data = [data]
    with pytest.raises(InvalidSpec, match="nested more than"):
        PipelineSpec.parse({"pipeline": data})


def test_a_huge_spec_file_is_refused_before_it_is_read(tmp_path: Path) -> None:
    path = tmp_path / "big.yaml"
    path.write_bytes(b"a: " + b"x" * (MAX_SPEC_BYTES + 1))
    with pytest.raises(InvalidSpec, match="larger than"):
        PipelineSpec.from_file(path)


def test_yaml_anchors_within_bounds_still_work() -> None:
    spec = PipelineSpec.parse(
        "pipeline: {name: p}\n"
        "input:\n  cross:\n    - pfs: &in {repo: A, glob: /*}\n    - pfs: {<<: *in, name: B}\n"
        'transform: {cmd: ["true"]}\n'
    )
    assert [i.name for i in spec.inputs()] == ["A", "B"]
