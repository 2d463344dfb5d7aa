"""Glob patterns: Pachyderm semantics, capture groups, join keys."""

from __future__ import annotations

import fnmatch

import pytest
from hypothesis import given
from hypothesis import strategies as st

from datavc.errors import InvalidArgument
from datavc.pipelines.glob import InvalidGlob, compile_glob, escape, expand_join_key, join_on_refs

# Names as they occur in repos, including glob syntax and regex metacharacters.
names = st.text(alphabet="ab.-_ *?[]()\\$^+{}|é", min_size=1, max_size=8)
plain_names = st.text(alphabet="abcxyz0123456789._-", min_size=1, max_size=8)
paths = st.lists(names, min_size=1, max_size=5).map("/".join)


@pytest.mark.parametrize(
    ("pattern", "path", "groups"),
    [
        ("/", "", ()),
        ("/*", "a", ()),
        ("/*", "a.csv", ()),
        ("/*/*", "a/b", ()),
        ("/**", "a", ()),
        ("/**", "a/b/c.txt", ()),
        ("/*.csv", "x.csv", ()),
        ("/data/*.csv", "data/x.csv", ()),
        ("/a/**/b", "a/b", ()),
        ("/a/**/b", "a/x/b", ()),
        ("/a/**/b", "a/x/y/b", ()),
        ("/**/x.csv", "x.csv", ()),
        ("/**/x.csv", "d/e/x.csv", ()),
        ("/a/**", "a/b/c", ()),
        ("/?.txt", "1.txt", ()),
        ("/[abc]", "b", ()),
        ("/[a-c]x", "bx", ()),
        ("/[!a]", "b", ()),
        ("/[^a]", "b", ()),
        ("/[]]", "]", ()),
        ("/[a-]", "-", ()),
        ("/(*)", "a", ("a",)),
        ("/(*)/(*).csv", "2024/sales.csv", ("2024", "sales")),
        ("/(*)-(*).csv", "a-b-c.csv", ("a-b", "c")),
        ("/((*)/(*))", "a/b", ("a/b", "a", "b")),
        ("/(**).csv", "x/y/z.csv", ("x/y/z",)),
        ("/a.b", "a.b", ()),
        ("/\\*", "*", ()),
        ("/a/", "a", ()),
        ("/()x", "x", ("",)),
    ],
)
def test_matches(pattern: str, path: str, groups: tuple[str, ...]) -> None:
    assert compile_glob(pattern).match(path) == groups


@pytest.mark.parametrize(
    ("pattern", "path"),
    [
        ("/", "a"),
        ("/*", ""),
        ("/*", "a/b"),
        ("/*/*", "a"),
        ("/*/*", "a/b/c"),
        ("/**", ""),
        ("/*.csv", "x.csvx"),
        ("/*.csv", "d/x.csv"),
        ("/a.b", "axb"),
        ("/a/**/b", "ab"),
        ("/a/**/b", "a/xb"),
        ("/**/x.csv", "ax.csv"),
        ("/?.txt", "12.txt"),
        ("/?", ""),
        ("/[abc]", "d"),
        ("/[!a]", "a"),
        ("/[!a]x", "/x"),
        ("/\\*", "a"),
        ("/data/*", "other/x"),
    ],
)
def test_does_not_match(pattern: str, path: str) -> None:
    assert compile_glob(pattern).match(path) is None


def test_leading_and_trailing_slashes_of_the_path_are_ignored() -> None:
    assert compile_glob("/*").match("/a") == ()
    assert compile_glob("/").match("/") == ()


def test_double_star_matches_files_only() -> None:
    g = compile_glob("/**")
    assert g.files_only
    assert g.match("a/b") == ()
    assert g.match("a/b", is_dir=True) is None
    assert compile_glob("/a/**/*.csv").match("a/x.csv", is_dir=True) is None


def test_fixed_depth_matches_directories_too() -> None:
    g = compile_glob("/*")
    assert not g.files_only
    assert g.match("dir", is_dir=True) == ()
    assert compile_glob("/").match("", is_dir=True) == ()


@pytest.mark.parametrize(
    ("pattern", "depth", "prefix", "groups"),
    [
        ("/", 0, "", 0),
        ("/*", 1, "", 0),
        ("/*/*", 2, "", 0),
        ("/**", None, "", 0),
        ("/data/*.csv", 2, "data", 0),
        ("/a/b/*", 3, "a/b", 0),
        ("/a/b", 2, "a/b", 0),
        ("/a/**/x", None, "a", 0),
        ("/a/(b)/*", 3, "a", 1),
        ("/\\*x/*", 2, "*x", 0),
        ("/(*)/(*).csv", 2, "", 2),
        ("/a/", 1, "a", 0),
    ],
)
def test_properties(pattern: str, depth: int | None, prefix: str, groups: int) -> None:
    g = compile_glob(pattern)
    assert (g.depth, g.literal_prefix, g.groups, g.pattern) == (depth, prefix, groups, pattern)


@pytest.mark.parametrize(
    ("pattern", "problem"),
    [
        ("", "must start with '/'"),
        ("*", "must start with '/'"),
        ("a/*", "must start with '/'"),
        ("//a", "empty path component"),
        ("/a//b", "empty path component"),
        ("/[ab", "unterminated '['"),
        ("/[]", "unterminated '['"),
        ("/(*", "unbalanced '('"),
        ("/*)", "unbalanced ')'"),
        ("/a\\", "unfinished '\\' escape"),
        ("/[a/b]", "'/' cannot appear inside '[...]'"),
        ("/[z-a]", "bad character class"),
        ("/a\\/b", "'/' cannot be escaped"),
    ],
)
def test_invalid_patterns(pattern: str, problem: str) -> None:
    with pytest.raises(InvalidGlob) as info:
        compile_glob(pattern)
    assert problem in info.value.problem
    assert isinstance(info.value, InvalidArgument)
    assert str(info.value) == f"invalid glob {pattern!r}: {info.value.problem}"


def test_expand_join_key() -> None:
    assert expand_join_key("$1", ("a", "b")) == "a"
    assert expand_join_key("$2-$1", ("a", "b")) == "b-a"
    assert expand_join_key("key:$1$", ("x",)) == "key:x$"
    assert expand_join_key("$1$1", ("x",)) == "xx"


@pytest.mark.parametrize(("join_on", "groups"), [("$2", ("a",)), ("$1", ()), ("$0", ("a",))])
def test_expand_join_key_refuses_missing_groups(join_on: str, groups: tuple[str, ...]) -> None:
    with pytest.raises(InvalidArgument, match="invalid join_on"):
        expand_join_key(join_on, groups)


def test_join_on_refs() -> None:
    assert join_on_refs("$2-$1") == (2, 1)
    assert join_on_refs("constant") == ()


# --- properties ------------------------------------------------------------------------


@given(paths)
def test_literal_paths_match_themselves(path: str) -> None:
    g = compile_glob(escape(path))
    assert g.match(path) == ()
    assert g.depth == path.count("/") + 1
    assert g.literal_prefix == path


@given(paths, paths)
def test_literal_paths_match_nothing_else(path: str, other: str) -> None:
    assert (compile_glob(escape(path)).match(other) is None) == (path != other)


@given(paths)
def test_single_star_never_crosses_a_slash(path: str) -> None:
    assert (compile_glob("/*").match(path) is not None) == ("/" not in path)


@given(paths)
def test_double_star_matches_every_file(path: str) -> None:
    assert compile_glob("/**").match(path) == ()


@given(paths, st.integers(min_value=0, max_value=6))
def test_fixed_depth_is_exact(path: str, depth: int) -> None:
    pattern = "/" + "/".join(["*"] * depth)
    assert (compile_glob(pattern).match(path) is not None) == (path.count("/") + 1 == depth)


@given(st.lists(names, min_size=1, max_size=5))
def test_groups_round_trip(components: list[str]) -> None:
    g = compile_glob("/" + "/".join(["(*)"] * len(components)))
    assert g.groups == len(components)
    assert g.match("/".join(components)) == tuple(components)


@given(plain_names, plain_names)
def test_groups_round_trip_around_literals(stem: str, directory: str) -> None:
    groups = compile_glob("/(*)/(*).csv").match(f"{directory}/{stem}.csv")
    assert groups is not None
    assert f"{groups[0]}/{groups[1]}.csv" == f"{directory}/{stem}.csv"
    assert expand_join_key("$1/$2", groups) == f"{groups[0]}/{groups[1]}"


@given(st.text(alphabet="ab*?", min_size=1, max_size=6), st.text(alphabet="ab", max_size=6))
def test_one_component_agrees_with_fnmatch(pattern: str, name: str) -> None:
    expected = fnmatch.fnmatchcase(name, pattern) and name != ""
    assert (compile_glob("/" + pattern).match(name) is not None) == expected
