"""Addresses: every malformed form is refused with InvalidArgument, the valid ones parse."""

from __future__ import annotations

import pytest

from datavc.errors import InvalidArgument
from datavc.names import Address, check_path, parse_address


@pytest.mark.parametrize(
    "text",
    [
        "r@main://a",
        "r@main:/a//b",
        "r@main:a//",
        "r@main://",
        "r@main@x:/a",
        "r@@main",
        "r@",
        "@main:/a",
        "r@main~x",
        "r@main@{2026-01-01}junk",
        "r@main@{2026-01-01",
        "r@main:/a\nb",
        "r@main:/a\x1bb",
        "r x@main",
        "r@main:/../a",
        "",
    ],
)
def test_malformed_addresses_are_refused(text: str) -> None:
    with pytest.raises(InvalidArgument):
        parse_address(text)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("r", Address("r", None, None)),
        ("r@main", Address("r", "main", None)),
        ("r@main:/", Address("r", "main", "", True)),
        ("r@main:", Address("r", "main", "", True)),
        ("r@main:/a/b/", Address("r", "main", "a/b", True)),
        ("r@main:a:b", Address("r", "main", "a:b")),
        ("r:/img@2x.png", Address("r", None, "img@2x.png")),
        ("r@main@{2026-01-01T10:00:00}~1:/a", Address("r", "main@{2026-01-01T10:00:00}~1", "a")),
    ],
)
def test_valid_addresses(text: str, expected: Address) -> None:
    assert parse_address(text) == expected


def test_check_path_refuses_double_slashes_anywhere() -> None:
    for p in ("//", "//a", "a//", "/a//b/"):
        with pytest.raises(InvalidArgument, match="empty segment"):
            check_path(p)
    assert check_path("/a/b/") == "a/b"
