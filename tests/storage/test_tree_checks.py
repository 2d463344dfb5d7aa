"""Decoding a tree page checks everything a hostile writer could put in it."""

from __future__ import annotations

import json

import pytest

from storage.errors import CorruptObject, MalformedTree
from storage.model import MAX_NAME_BYTES, check_name, normalize_path
from storage.tree import MAGIC, decode_page

H = "ab" * 16  # an id-shaped hex string


def _page(items: list[list[object]], h: int = 0) -> bytes:
    return MAGIC + json.dumps({"h": h, "i": items}).encode()


def _file(name: object, size: object = 3, refs: object = None) -> list[object]:
    return [name, "f", size, H, [H, 0, 3] if refs is None else refs]


GOOD = [_file("a"), ["b", "d", 10, H, 2], _file("é" * 100)]


def test_a_valid_page_decodes() -> None:
    page = decode_page(_page(GOOD), "oid")
    assert [e.name for e in page.items] == ["a", "b", "é" * 100]


@pytest.mark.parametrize(
    ("items", "reason"),
    [
        ([_file("..")], "'..'"),
        ([_file(".")], "'.'"),
        ([_file("")], "empty"),
        ([_file("a/b")], "'/'"),
        ([_file("a\x00b")], "control"),
        ([_file("a\nb")], "control"),
        ([_file("a\x1bb")], "control"),
        ([_file("a\x85b")], "control"),  # C1
        ([_file("n" * (MAX_NAME_BYTES + 1))], "255 bytes"),
        ([_file("é" * 128)], "255 bytes"),  # 256 bytes in UTF-8
        ([_file("\ud800")], "UTF-8"),
        ([_file(7)], "string"),
        ([_file("b"), _file("a")], "order"),
        ([_file("a"), _file("a")], "repeated"),
        ([["a", "x", 3, H, [H, 0, 3]]], "kind"),
        ([_file("a", size=-1, refs=[])], "size"),
        ([_file("a", size=2)], "size"),  # the pieces hold 3 bytes
        ([_file("a", size=3.0)], "size"),
        ([_file("a", size=True, refs=[H, 0, 1])], "size"),
        ([_file("a", refs=[H, -1, 3])], "reference"),
        ([_file("a", size=1, refs=[H, 0, True])], "reference"),  # equal to the size, not an int
        ([_file("a", refs=[H, 0, 3.0])], "reference"),
        ([_file("a", refs=[H, False, 3])], "reference"),
        ([_file("a", refs=[H, 0, 3, H])], "not a valid tree page"),
        ([_file("a", refs=["../../etc/passwd", 0, 3])], "reference"),
        ([["a", "f", 3, "../x", [H, 0, 3]]], "id"),
        ([["a", "d", 3, H.upper(), 1]], "id"),
        ([["a", "d", -3, H, 1]], "size"),
        ([["a", "d", 3, H, [H, 0, 3]]], "count"),
    ],
)
def test_bad_leaf_items_are_corruption_naming_the_tree(items: list[list[object]], reason: str) -> None:
    with pytest.raises(MalformedTree, match=f"tree object oid1 is corrupt: .*{reason}") as info:
        decode_page(_page(items), "oid1")
    assert isinstance(info.value, CorruptObject) and info.value.oid == "oid1"


@pytest.mark.parametrize(
    "data",
    [
        b"not a tree",
        MAGIC + b"{",
        MAGIC + b"[]",
        MAGIC + b'{"h": 0, "i": [["a", "f"]]}',
        MAGIC + b'{"h": 0, "i": {"a": 1}}',
        MAGIC + b"[" * 100_000 + b"]" * 100_000,  # nesting that would exhaust recursion
        _page([], h=1),  # an inner page without children
        _page([["a", H, 1, 1, 1]], h=99),
        _page([["a", "../x", 1, 1, 1]], h=1),
        _page([["a", H, -1, 1, 1]], h=1),
        _page([["b", H, 1, 1, 1], ["a", H, 1, 1, 1]], h=1),
    ],
)
def test_malformed_pages_are_corruption(data: bytes) -> None:
    with pytest.raises(MalformedTree, match="oid2"):
        decode_page(data, "oid2")


@pytest.mark.parametrize(
    "path",
    ["a\nb", "a/\x1b/b", "n" * 256, "/".join(["d" * 200] * 21), "/".join(["a"] * 257), "a/\x7f"],
)
def test_typed_paths_follow_the_same_rules(path: str) -> None:
    from storage.errors import InvalidInput

    with pytest.raises(InvalidInput):
        normalize_path(path)


def test_limits_are_inclusive() -> None:
    assert check_name("n" * 255) == "n" * 255
    deep = "/".join(["a"] * 256)
    assert normalize_path(deep) == deep
    long = "/".join(["d" * 255] * 16)  # 4,095 bytes
    assert normalize_path(long) == long
