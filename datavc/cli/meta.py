"""The ``-M key=value`` and ``--metadata-file meta.json`` options of every command that commits."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, TypeVar

import click

from datavc.cli.args import local_path_errors
from datavc.commit_metadata import check_metadata, parse_pairs
from datavc.errors import InvalidArgument

F = TypeVar("F", bound=Callable[..., Any])

#: A metadata file larger than this is refused before it is parsed.
MAX_FILE = 1 << 20


def metadata_options(f: F) -> F:
    """Add ``-M/--metadata`` (repeatable) and ``--metadata-file``; the command gets ``metadata``."""
    f = click.option(
        "--metadata-file",
        "metadata_file",
        metavar="FILE",
        help="Commit metadata from a JSON object of text values (-M pairs win over it).",
    )(f)
    return click.option(
        "-M",
        "--metadata",
        "metadata_pairs",
        multiple=True,
        metavar="KEY=VALUE",
        help="Record KEY=VALUE with the commit (repeatable; shown by show and log --metadata).",
    )(f)


def metadata(pairs: tuple[str, ...], path: str | None) -> dict[str, str] | None:
    """The metadata the options give (None when neither is used).

    Raises:
        InvalidArgument: an unreadable or invalid file, a bad pair, key or value.
    """
    out: dict[str, str] = {}
    if path is not None:
        with local_path_errors(path), open(path, "rb") as fh:
            raw = fh.read(MAX_FILE + 1)
        if len(raw) > MAX_FILE:
            raise InvalidArgument(f"{path}: metadata file over {MAX_FILE} bytes")
        try:
            data = json.loads(raw)
        except (ValueError, UnicodeDecodeError) as err:
            raise InvalidArgument(f"{path}: not JSON ({err})") from None
        if not isinstance(data, dict):
            raise InvalidArgument(f"{path}: expected a JSON object of key: text value")
        out.update(check_metadata(data))
    out.update(parse_pairs(pairs))
    return out or None
