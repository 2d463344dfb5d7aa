"""Glob patterns that split an input commit into datums (Pachyderm semantics).

A pattern always starts with ``/`` and is matched against normalised repo paths
(``"a/b.csv"``; ``""`` is the root):

| pattern | matches |
|---|---|
| ``/`` | the root only: the whole commit is one datum |
| ``/*`` | each top-level entry, file or directory |
| ``/*/*`` | each second-level entry |
| ``/**`` | each file at any depth |
| ``/*.csv`` | each top-level entry whose name ends in ``.csv`` |
| ``/(*)/(*).csv`` | second-level ``.csv`` entries, capturing the directory and the stem |

``*`` matches any run of characters within one name, ``?`` one character, ``[abc]``,
``[a-z]`` and ``[!abc]`` (or ``[^abc]``) one character of a class, ``\\x`` the character
``x`` itself. ``**`` matches across directories; ``/**/`` also matches a single ``/``.
Parentheses capture groups, used by ``join_on`` (``$1``, ``$2``...).

A pattern without ``**`` has a fixed depth and matches files and directories at that
depth; a pattern with ``**`` has a variable depth and matches files only (otherwise
``/**`` would make every directory a datum overlapping the datums of its own files).

Each pattern is translated once into a regular expression, run by RE2 (``google-re2``),
whose matching time is linear in the length of the path whatever the pattern: with
Python's backtracking ``re``, ``/*a*a*a*a*a*a*a*a*a*a*b`` against a 120-character name
took minutes and blocked every pipeline. The translation uses only syntax that RE2 and
``re`` read the same way (tests check both agree); capture groups work as before.
Patterns are at most ``MAX_PATTERN`` characters.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import Protocol

import re2

from datavc.errors import InvalidArgument

MAX_PATTERN = 4096
_MAGIC = frozenset("*?[]()\\")
_JOIN_REF_RE = re.compile(r"\$(\d)")


class InvalidGlob(InvalidArgument):
    """A glob pattern that cannot be compiled; ``problem`` says why."""

    def __init__(self, pattern: str, problem: str) -> None:
        super().__init__(f"invalid glob {pattern!r}: {problem}")
        self.pattern = pattern
        self.problem = problem


class _Match(Protocol):
    def groups(self) -> tuple[str | None, ...]: ...


class _Regex(Protocol):
    """What we use of a compiled RE2 pattern."""

    groups: int

    def fullmatch(self, text: str) -> _Match | None: ...


@dataclass(frozen=True, slots=True)
class Glob:
    """A compiled glob pattern.

    Attributes:
        pattern: the pattern as written.
        source: the translation (a regular expression read alike by RE2 and ``re``).
        regex: ``source`` compiled by RE2, matched in full against a normalised path.
        depth: the number of path components of every match, or None when ``**``
            makes it variable (the root has depth 0).
        literal_prefix: the leading components without glob syntax, joined by ``/``
            (``""`` when the first component has some): every match lies at or under it.
        groups: the number of capture groups.
    """

    pattern: str
    source: str
    regex: _Regex
    depth: int | None
    literal_prefix: str
    groups: int

    @property
    def files_only(self) -> bool:
        """True when only files match: patterns with ``**``."""
        return self.depth is None

    def match(self, path: str, *, is_dir: bool = False) -> tuple[str, ...] | None:
        """The captured groups if ``path`` matches, else None.

        Args:
            path: a normalised repo path, ``""`` for the root (surrounding ``/`` are ignored).
            is_dir: the path is a directory; directories never match ``**`` patterns.

        Returns:
            The captured groups in order (``()`` for a pattern without groups), or None.
        """
        path = path.strip("/")
        if self.depth is None:
            # The root is a directory, and `**` patterns match files only.
            if is_dir or not path:
                return None
        elif (path.count("/") + 1 if path else 0) != self.depth:
            return None
        try:
            m = self.regex.fullmatch(path)
        except UnicodeEncodeError:
            return None  # not a valid name (a lone surrogate): it matches nothing
        if m is None:
            return None
        return tuple(g or "" for g in m.groups())


@functools.lru_cache(maxsize=256)
def compile_glob(pattern: str) -> Glob:
    """Compile a glob pattern.

    Args:
        pattern: starts with ``/``; a trailing ``/`` is ignored (``/a/`` is ``/a``).

    Returns:
        The compiled ``Glob``.

    Raises:
        InvalidGlob: the pattern does not start with ``/``, has an empty component
            (``//``), an unterminated ``[`` or ``\\``, or unbalanced parentheses.
    """
    if not isinstance(pattern, str) or not pattern.startswith("/"):
        raise InvalidGlob(str(pattern), "must start with '/'")
    body = pattern[1:]
    if body.endswith("/"):
        body = body[:-1]
    if "\x00" in body:
        raise InvalidGlob(pattern, "contains NUL")
    if len(pattern) > MAX_PATTERN:
        raise InvalidGlob(pattern[:40] + "...", f"longer than {MAX_PATTERN} characters")
    return _Translator(pattern, body).run()


def escape(path: str) -> str:
    """A pattern that matches exactly ``path`` (a normalised repo path; ``""`` is the root)."""
    return "/" + "".join("\\" + c if c in _MAGIC else c for c in path)


def join_on_refs(join_on: str) -> tuple[int, ...]:
    """The capture group numbers a ``join_on`` template refers to, in order of appearance.

    Raises:
        InvalidArgument: a ``$0`` reference (groups are numbered from ``$1``).
    """
    refs = tuple(int(n) for n in _JOIN_REF_RE.findall(join_on))
    if 0 in refs:
        raise InvalidArgument(f"invalid join_on {join_on!r}: groups are numbered from $1")
    return refs


def expand_join_key(join_on: str, groups: tuple[str, ...]) -> str:
    """Replace ``$1``..``$9`` in ``join_on`` with the captured ``groups``.

    Args:
        join_on: a template such as ``"$1"`` or ``"$1-$2"``; a ``$`` not followed by
            a digit is kept as it is.
        groups: the groups a glob captured for one path.

    Returns:
        The join key.

    Raises:
        InvalidArgument: a reference to ``$0`` or to a group that was not captured.
    """
    join_on_refs(join_on)

    def sub(m: re.Match[str]) -> str:
        n = int(m.group(1))
        if n > len(groups):
            raise InvalidArgument(
                f"invalid join_on {join_on!r}: ${n} refers to capture group {n}, "
                f"but the glob captured {len(groups)}"
            )
        return groups[n - 1]

    return _JOIN_REF_RE.sub(sub, join_on)


class _Translator:
    """One pass over a pattern body (without the leading ``/``): regex, depth, literal prefix."""

    def __init__(self, pattern: str, body: str) -> None:
        self.pattern = pattern
        self.body = body
        self.pos = 0
        self.out: list[str] = []
        self.globstar = False
        self.open_groups = 0
        # Per component: its literal text, or None once it holds glob syntax.
        self.components: list[str | None] = [""] if body else []

    def fail(self, problem: str) -> InvalidGlob:
        return InvalidGlob(self.pattern, problem)

    def run(self) -> Glob:
        body = self.body
        while self.pos < len(body):
            c = body[self.pos]
            if c == "/":
                self.separator()
            elif c == "*":
                self.star()
            elif c == "?":
                self.magic("[^/]")
                self.pos += 1
            elif c == "[":
                self.char_class()
            elif c == "(":
                self.open_groups += 1
                self.magic("(")
                self.pos += 1
            elif c == ")":
                if self.open_groups == 0:
                    raise self.fail(f"unbalanced ')' at position {self.pos + 1}")
                self.open_groups -= 1
                self.magic(")")
                self.pos += 1
            elif c == "\\":
                if self.pos + 1 >= len(body):
                    raise self.fail("ends with an unfinished '\\' escape")
                self.literal(body[self.pos + 1])
                self.pos += 2
            else:
                self.literal(c)
                self.pos += 1
        if self.open_groups:
            raise self.fail("unbalanced '(': a group is not closed")
        if any(comp == "" for comp in self.components):
            raise self.fail("empty path component ('//')")
        source = "(?s)" + "".join(self.out)
        try:
            regex = re2.compile(source)
        except re2.error as err:
            raise self.fail(f"cannot compile: {err}") from None
        prefix: list[str] = []
        for comp in self.components:
            if comp is None:
                break
            prefix.append(comp)
        return Glob(
            pattern=self.pattern,
            source=source,
            regex=regex,
            depth=None if self.globstar else len(self.components),
            literal_prefix="/".join(prefix),
            groups=regex.groups,
        )

    def literal(self, c: str) -> None:
        if c == "/":
            raise self.fail("'/' cannot be escaped")
        self.out.append(re.escape(c))
        if self.components[-1] is not None:
            self.components[-1] += c

    def magic(self, regex: str) -> None:
        self.out.append(regex)
        self.components[-1] = None

    def at_globstar(self, i: int) -> bool:
        """``**`` forms a whole component starting at ``i`` (followed by ``/`` or the end)."""
        body = self.body
        return body.startswith("**", i) and (i + 2 == len(body) or body[i + 2] == "/")

    def separator(self) -> None:
        body = self.body
        if self.components[-1] == "":
            raise self.fail("empty path component ('//')")
        self.components.append("")
        if self.at_globstar(self.pos + 1) and self.pos + 3 < len(body):
            # `/**/` matches one or more directory levels, or just `/`.
            self.out.append("/(?:.*/)?")
            self.globstar = True
            self.components[-1] = None
            self.components.append("")
            self.pos += 4
            return
        self.out.append("/")
        self.pos += 1

    def star(self) -> None:
        body = self.body
        if body.startswith("**", self.pos):
            self.globstar = True
            if self.pos == 0 and self.at_globstar(0) and len(body) > 2:
                # A leading `**/` also matches no directory at all.
                self.magic("(?:.*/)?")
                self.components.append("")
                self.pos += 3
                return
            self.magic(".*")
            self.pos += 2
            return
        self.magic("[^/]*")
        self.pos += 1

    def char_class(self) -> None:
        body = self.body
        i = self.pos + 1
        negate = i < len(body) and body[i] in "!^"
        if negate:
            i += 1
        chars: list[str] = []
        first = True
        while True:
            if i >= len(body):
                raise self.fail(f"unterminated '[' at position {self.pos + 1}")
            c = body[i]
            if c == "]" and not first:
                break
            if c == "\\":
                if i + 1 >= len(body):
                    raise self.fail(f"unterminated '[' at position {self.pos + 1}")
                c = body[i + 1]
                i += 1
                chars.append(re.escape(c))
            elif c == "-" and not first and i + 1 < len(body) and body[i + 1] != "]":
                chars.append("-")
            elif c == "/":
                raise self.fail("'/' cannot appear inside '[...]'")
            else:
                chars.append(re.escape(c))
            first = False
            i += 1
        try:
            re.compile("[" + "".join(chars) + "]")
        except re.error as err:
            raise self.fail(f"bad character class: {err.msg}") from None
        # A class never matches '/': names are matched one at a time.
        self.magic(("[^/" if negate else "[") + "".join(chars) + "]")
        self.pos = i + 1
