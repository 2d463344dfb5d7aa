"""pachctl's verb-first commands answer with the datavc spelling (``datavc.cli.pachctl``), exit 2."""

from __future__ import annotations

import pytest

from tests.datavc.cli.helpers import Run, assert_error


@pytest.mark.parametrize(
    ("argv", "spelling"),
    [
        ("create repo images", "'create repo': datavc spells it 'datavc repo create images'"),
        ("list repo", "'list repo': datavc spells it 'datavc repo list'"),
        ("list job", "'list job': datavc spells it 'datavc job list'"),
        ("list jobs -p edges", "'list jobs': datavc spells it 'datavc job list -p edges'"),
        ("inspect commit r@master", "'inspect commit': datavc spells it 'datavc show r@master'"),
        ("list commit r@master", "'list commit': datavc spells it 'datavc log r@master'"),
        ("put file r@master:/a -f a", "'put file': datavc spells it 'datavc put r@master:/a -f a'"),
        ("list file r@master:/", "'list file': datavc spells it 'datavc ls r@master:/'"),
        ("delete pipeline edges", "'delete pipeline': datavc spells it 'datavc pipeline delete edges'"),
        ("stop job 1234abcd", "'stop job': datavc spells it 'datavc job stop 1234abcd'"),
        ("restart datum j d", "'restart datum': datavc spells it 'datavc datum restart j d'"),
        ("logs --pipeline edges", "'logs': datavc spells it 'datavc job logs --pipeline edges'"),
        ("start commit r@master", "'start commit': datavc spells it 'datavc start-commit r@master'"),
        ("delete job 1234abcd", "'delete job': datavc has no delete for jobs; see 'datavc job --help'"),
    ],
)
def test_verb_first_commands_get_the_datavc_spelling(run: Run, argv: str, spelling: str) -> None:
    err = assert_error(run(*argv.split(), code=None), 2)
    assert err == f"error: unknown command {spelling}\n"


def test_other_unknown_commands_are_click_usage_errors(run: Run) -> None:
    result = run("frobnicate", "repo", code=2)
    assert "No such command 'frobnicate'" in result.stderr
