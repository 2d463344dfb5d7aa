"""Glob matching runs in linear time (RE2), with the same answers as before (Python ``re``
over the same translation), capture groups included.

The hang-guards run pathological patterns in a subprocess with a generous bound: with the
old backtracking matcher one of them took minutes; a pass here says "it finishes", not "it
is fast" (no timed asserts for speed).
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from datavc.pipelines.glob import MAX_PATTERN, InvalidGlob, compile_glob

REPO_ROOT = Path(__file__).resolve().parents[3]

PATHOLOGICAL = [
    ("/*a*a*a*a*a*a*a*a*a*a*b", "a" * 120),
    ("/*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*b", "a" * 250),
    ("/(*a)(*a)(*a)(*a)(*a)(*a)(*a)(*a)*b", "a" * 200),
    ("/**a**a**a**a**a**a**a**a**b", "/".join(["a" * 40] * 6)),
    ("/*/**/*a*a*a*a*a*a*a*a*b", "x/" + "/".join(["aaaaaaaaaa"] * 20)),
    ("/[a-z]*[a-z]*[a-z]*[a-z]*[a-z]*[a-z]*[a-z]*!", "q" * 300),
    ("/?*?*?*?*?*?*?*?*?*?*?*?*?*?*b", "c" * 255),
]


def test_pathological_patterns_finish() -> None:
    code = (
        "import sys, json\n"
        "from datavc.pipelines.glob import compile_glob\n"
        "cases = json.loads(sys.argv[1])\n"
        "for _ in range(20):\n"
        "    for pattern, path in cases:\n"
        "        assert compile_glob(pattern).match(path) is None, pattern\n"
        "print('done')\n"
    )
    import json

    out = subprocess.run(
        [sys.executable, "-c", code, json.dumps(PATHOLOGICAL)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,  # a hang-guard: the old matcher needed minutes for the first case alone
        check=True,
    )
    assert out.stdout.strip() == "done"


def test_a_matching_pathological_pattern_still_captures() -> None:
    g = compile_glob("/(*a)*a*a*a*a*a*a*a*a*(a*)")
    assert g.match("a" * 120) == ("a" * 111, "a")


def test_too_long_a_pattern_is_refused() -> None:
    with pytest.raises(InvalidGlob, match=f"longer than {MAX_PATTERN}"):
        compile_glob("/" + "*a" * MAX_PATTERN)


# --- same answers as Python's re over the same translation ------------------------------------

# Ordinary patterns: literals, *, ?, classes, groups, ** components, several levels.
atoms = st.sampled_from(["a", "b", ".", "-", "é", "*", "?", "[ab]", "[!a]", "[a-c]", "\\*", "x"])
components = st.lists(atoms, min_size=1, max_size=5).map("".join)
grouped = st.one_of(components, components.map(lambda c: f"({c})"))
patterns = st.lists(st.one_of(grouped, st.just("**")), min_size=1, max_size=4).map(
    lambda cs: "/" + "/".join(cs)
)
names = st.text(alphabet="ab.-é*x[]", min_size=1, max_size=10)
paths = st.lists(names, min_size=1, max_size=5).map("/".join)


def _old_match(pattern: str, path: str) -> tuple[str, ...] | None:
    """What the matcher answered before: Python's backtracking ``re`` on the same translation."""
    g = compile_glob(pattern)
    old = re.compile(g.source)
    if g.depth is None:
        if not path:
            return None
    elif path.count("/") + 1 != g.depth:
        return None
    m = old.fullmatch(path)
    return None if m is None else tuple(x or "" for x in m.groups())


@given(patterns, paths)
def test_re2_answers_as_re_did(pattern: str, path: str) -> None:
    try:
        compile_glob(pattern)
    except InvalidGlob:
        return
    assert compile_glob(pattern).match(path) == _old_match(pattern, path)


@given(patterns)
def test_re2_and_re_agree_on_paths_the_pattern_matches(pattern: str) -> None:
    # Random paths rarely match: also try the pattern's own text with the magic filled in.
    try:
        g = compile_glob(pattern)
    except InvalidGlob:
        return
    path = re.sub(r"\[!?[^\]]*\]|[*?()\\]", "a", pattern[1:]).replace("**", "a")
    assert g.match(path) == _old_match(pattern, path)
