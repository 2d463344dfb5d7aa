"""``datavc pipeline create`` with hostile specs: one ``error:`` line and exit 2, no traceback."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.datavc.cli.helpers import Run, assert_error

DEEP = 100_000


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("deep.json", '{"pipeline": ' + "[" * DEEP + "]" * DEEP + "}"),
        ("deep.yaml", "pipeline: " + "[" * DEEP + "]" * DEEP),
        (
            "bomb.yaml",
            "a: &a [x,x,x,x,x,x,x,x,x,x]\n"
            + "".join(
                f"{c}: &{c} [" + ",".join([f"*{p}"] * 10) + "]\n"
                for p, c in zip("abcdefghi", "bcdefghij", strict=True)
            ),
        ),
    ],
)
def test_hostile_spec_gives_one_error_line(
    store: Path, run: Run, tmp_path: Path, name: str, text: str
) -> None:
    path = tmp_path / name
    path.write_text(text)
    err = assert_error(run("pipeline", "create", "-f", path, code=None), 2)
    assert "invalid pipeline spec" in err
