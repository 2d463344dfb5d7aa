"""pachctl's verb-first spelling (``create repo x``, ``list job``), answered with datavc's.

datavc's commands are noun groups with verbs (``datavc repo create x``) plus git-like
top-level verbs (``put``, ``ls``, ``log``). A Pachyderm user's ``datavc create repo x``
is not run: it exits 2 with one line naming the datavc command to type instead, so
nothing happens by accident under a guessed meaning. ``put file``, ``get file`` and
``diff file`` are caught too (``put``, ``get`` and ``diff`` are datavc commands, which
would read ``file`` as a repo name: write a repo named ``file`` as ``file@main``).
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence

import click

VERBS = frozenset(
    {
        "create",
        "list",
        "inspect",
        "delete",
        "update",
        "start",
        "stop",
        "finish",
        "restart",
        "kill",
        "put",
        "get",
        "copy",
        "glob",
        "diff",
        "wait",
        "squash",
        "edit",
        "rerun",
        "subscribe",
    }
)
NOUNS = {
    "repo": "repo",
    "branch": "branch",
    "commit": "commit",
    "file": "file",
    "pipeline": "pipeline",
    "job": "job",
    "datum": "datum",
    "tag": "tag",
}
# (verb, noun) whose datavc spelling is not `datavc NOUN VERB`.
SPECIAL = {
    ("list", "commit"): ["log"],
    ("inspect", "commit"): ["show"],
    ("start", "commit"): ["start-commit"],
    ("finish", "commit"): ["finish-commit"],
    ("delete", "commit"): ["abort-commit"],
    ("squash", "commit"): ["abort-commit"],
    ("wait", "commit"): ["wait"],
    ("list", "file"): ["ls"],
    ("glob", "file"): ["ls"],
    ("inspect", "file"): ["ls"],
    ("get", "file"): ["get"],
    ("put", "file"): ["put"],
    ("delete", "file"): ["rm"],
    ("copy", "file"): ["cp"],
    ("diff", "file"): ["diff"],
    ("inspect", "datum"): ["datum", "list"],
    ("rerun", "pipeline"): ["pipeline", "update", "--reprocess"],
    ("edit", "pipeline"): ["pipeline", "update", "-f"],
}


def _noun(word: str) -> str | None:
    w = word.lower()
    return NOUNS.get(w) or (NOUNS.get(w[:-1]) if w.endswith("s") else None)


def spelling(group: click.Group, ctx: click.Context, args: Sequence[str]) -> str | None:
    """The error line for a pachctl-style ``VERB NOUN ...`` (or ``logs ...``), else None."""
    if not args:
        return None
    verb, rest = args[0].lower(), list(args[1:])
    if verb == "logs":
        return _message(args[0], ["job", "logs", *rest])
    if verb not in VERBS or not rest:
        return None
    noun = _noun(rest[0])
    if noun is None:
        return None
    typed = f"{args[0]} {rest[0]}"
    if (verb, noun) in SPECIAL:
        return _message(typed, [*SPECIAL[(verb, noun)], *rest[1:]])
    sub = group.get_command(ctx, noun)
    if isinstance(sub, click.Group) and sub.get_command(ctx, verb) is not None:
        return _message(typed, [noun, verb, *rest[1:]])
    return f"unknown command {typed!r}: datavc has no {verb} for {noun}s; see 'datavc {noun} --help'"


def _message(typed: str, argv: list[str]) -> str:
    return f"unknown command {typed!r}: datavc spells it 'datavc {shlex.join(argv)}'"
