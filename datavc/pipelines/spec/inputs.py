"""What a pipeline reads: pfs inputs and their cross, union, join and group.

Also Pachyderm's input defaults: ``input.cron`` becomes a pfs input of its tick repo and
a triggered input's branch is named after the pipeline (``input_defaults``).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import datetime
from typing import Any, Literal

from pydantic import (
    Field,
    SerializerFunctionWrapHandler,
    StrictBool,
    StrictStr,
    ValidationInfo,
    field_validator,
    model_serializer,
    model_validator,
)

from datavc.errors import InvalidArgument
from datavc.names import NAME_RE
from datavc.pipelines.glob import compile_glob, join_on_refs
from datavc.pipelines.spec.fields import BranchName, Frozen, GlobPattern, InputName, PositiveInt, RepoName
from datavc.schedule import check_schedule, parse_size

__all__ = ["CronTick", "Input", "PfsInput", "Trigger", "input_defaults"]

_UNNAMED = "unnamed"


class Trigger(Frozen):
    """A branch trigger (Pachyderm's ``input.pfs.trigger``): the input's branch moves to the
    head of the watched ``branch`` when the conditions are met, and only then runs the job.

    Attributes:
        branch: the watched branch (default ``main``); commits land there.
        all: every condition set must hold (default: any one of them).
        cron_spec: a schedule tick passed since the input branch last moved.
        size: the watched branch grew by at least this much since then (``"1K"``, ``"10MB"``).
        commits: at least this many commits landed on the watched branch since then.

    With no condition, every commit on the watched branch moves the input branch.
    """

    branch: BranchName | None = None
    all: StrictBool = False
    cron_spec: StrictStr | None = None
    size: StrictStr | None = None
    commits: PositiveInt | None = None

    @field_validator("cron_spec")
    @classmethod
    def _check_cron(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                check_schedule(value)
            except InvalidArgument as err:
                raise ValueError(str(err)) from None
        return value

    @field_validator("size")
    @classmethod
    def check_size(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                parse_size(value)
            except InvalidArgument as err:
                raise ValueError(str(err)) from None
        return value


class CronTick(Frozen):
    """What makes a pfs input a cron input (``input.cron``): its repo gets a commit per tick.

    Attributes:
        spec: the schedule (``"@every 60s"``, ``"*/10 * * * *"``; UTC).
        overwrite: each tick replaces the previous tick file (default: tick files accumulate).
        start: ticks are counted from this time (default: when the pipeline was created).
    """

    spec: StrictStr
    overwrite: StrictBool = False
    start: datetime | None = None

    @field_validator("spec")
    @classmethod
    def _check_spec(cls, value: str) -> str:
        try:
            return check_schedule(value)
        except InvalidArgument as err:
            raise ValueError(str(err)) from None


class PfsInput(Frozen):
    """One repo branch, split into datums by a glob.

    Attributes:
        repo: the repo to read.
        branch: the branch whose finished commits trigger jobs.
        glob: how a commit splits into datums; see ``datavc.pipelines.glob``.
        name: the directory the transform finds the files under
            (``$DATAVC_IN/<name>/``); defaults to ``repo``.
        join_on: inside a ``join`` only: the join key built from the glob's capture
            groups, e.g. ``"$1"``.
        dir: inside a ``union`` only: the directory the files are under when it is not
            ``name``. Members of one union may share a ``dir`` (a datum holds one member's
            files), as Pachyderm's union members share a name; ``name`` stays unique.
        outer_join: inside a ``join`` only: this input's datums are kept even when no
            other input has their key (Pachyderm's ``outer_join``).
        group_by: inside a ``group`` only: the group key built from the glob's capture
            groups; every file of every input of the group with one key is one datum.
    """

    repo: RepoName
    branch: BranchName = "main"
    glob: GlobPattern
    name: InputName = Field(default="", validate_default=True)
    join_on: StrictStr | None = None
    dir: InputName | None = None
    outer_join: bool = False
    group_by: StrictStr | None = None
    trigger: Trigger | None = None
    cron: CronTick | None = None

    @property
    def mount(self) -> str:
        """The directory the transform finds this input's files under: ``dir`` or ``name``."""
        return self.dir or self.name

    @model_validator(mode="before")
    @classmethod
    def _default_name(cls, data: Any) -> Any:
        if isinstance(data, Mapping) and data.get("name") is None:
            repo = data.get("repo")
            # With a bad repo the repo error is reported; do not repeat it for the name.
            name = repo if isinstance(repo, str) and NAME_RE.fullmatch(repo) else _UNNAMED
            return {**data, "name": name}
        return data

    @model_serializer(mode="wrap")
    def _drop_unset_join_on(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        data: dict[str, Any] = handler(self)
        for key in ("join_on", "dir", "group_by", "trigger", "cron"):
            if data.get(key) is None:
                data.pop(key, None)
        if not data.get("outer_join"):
            data.pop("outer_join", None)
        return data

    @field_validator("join_on", "group_by")
    @classmethod
    def _check_join_on(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is None:
            return value
        try:
            refs = join_on_refs(value)
        except InvalidArgument as err:
            raise ValueError(str(err).replace("join_on", str(info.field_name))) from None
        if not refs:
            raise ValueError(f"{value!r} must refer to a capture group of the glob, such as '$1'")
        glob = info.data.get("glob")
        if glob is not None:
            groups = compile_glob(glob).groups
            if max(refs) > groups:
                raise ValueError(
                    f"{value!r} refers to capture group ${max(refs)}, but glob {glob!r} has {groups}"
                    " (capture groups are written in parentheses, e.g. '/(*).csv')"
                )
        return value


class Input(Frozen):
    """Exactly one of: a ``pfs`` input, or a ``cross``, ``union``, ``join`` or ``group`` of inputs.

    ``cross`` pairs every datum of each input with every datum of the others; ``union``
    takes the datums of each input in turn; ``join`` pairs datums whose ``join_on`` keys
    are equal (its inputs are ``pfs`` inputs, each with ``join_on``; an input with
    ``outer_join`` also keeps its unmatched datums); ``group`` makes one datum of every
    file of its inputs sharing a ``group_by`` key (its inputs are ``pfs`` inputs, each
    with ``group_by``).
    """

    pfs: PfsInput | None = None
    cross: tuple[Input, ...] | None = None
    union: tuple[Input, ...] | None = None
    join: tuple[Input, ...] | None = None
    group: tuple[Input, ...] | None = None

    @field_validator("cross", "union", "join", "group")
    @classmethod
    def _check_count(cls, value: tuple[Input, ...] | None, info: ValidationInfo) -> tuple[Input, ...] | None:
        least = 1 if info.field_name in ("union", "group") else 2
        if value is not None and len(value) < least:
            raise ValueError(
                f"a {info.field_name} needs at least {least} input{'s' * (least > 1)}, got {len(value)}"
            )
        return value

    @model_validator(mode="after")
    def _exactly_one(self) -> Input:
        kinds = [k for k in ("pfs", "cross", "union", "join", "group") if getattr(self, k) is not None]
        if len(kinds) != 1:
            raise ValueError(
                "must have exactly one of pfs, cross, union, join, group (got "
                + (", ".join(kinds) or "none")
                + ")"
            )
        return self

    @model_serializer(mode="wrap")
    def _only_kind(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        # `{"pfs": {...}}`, not `{"pfs": {...}, "cross": null, "union": null, "join": null}`.
        data: dict[str, Any] = handler(self)
        return {k: v for k, v in data.items() if v is not None}

    @property
    def kind(self) -> Literal["pfs", "cross", "union", "join", "group"]:
        """Which one of ``pfs``, ``cross``, ``union``, ``join``, ``group`` this input is."""
        if self.pfs is not None:
            return "pfs"
        if self.cross is not None:
            return "cross"
        if self.union is not None:
            return "union"
        if self.group is not None:
            return "group"
        return "join"

    @property
    def children(self) -> tuple[Input, ...]:
        """The inputs of a cross, union, join or group; ``()`` for a pfs input."""
        return self.cross or self.union or self.join or self.group or ()

    def walk(self) -> Iterator[PfsInput]:
        """Every leaf pfs input, depth-first, in the order written."""
        if self.pfs is not None:
            yield self.pfs
        for child in self.children:
            yield from child.walk()


def input_defaults(node: Mapping[str, Any], pipeline: str, triggered: dict[str, int]) -> dict[str, Any]:
    """Pachyderm's input defaults for cron inputs and triggers (``setInputDefaults``)."""
    out = dict(node)
    cron = node.get("cron")
    if isinstance(cron, Mapping):
        out.pop("cron")
        tick = {k: v for k, v in cron.items() if k not in ("name", "repo")}
        cname = cron.get("name")
        repo = cron.get("repo") or (f"{pipeline}_{cname}" if isinstance(cname, str) else None)
        out["pfs"] = {"repo": repo, "branch": "main", "glob": "/", "name": cname, "cron": tick}
        return out
    pfs = node.get("pfs")
    if isinstance(pfs, Mapping) and isinstance(pfs.get("trigger"), Mapping) and not pfs.get("branch"):
        repo = str(pfs.get("repo"))
        triggered[repo] = triggered.get(repo, 0) + 1
        out["pfs"] = {**pfs, "branch": f"{pipeline}-trigger-{triggered[repo]}"}
    for kind in ("cross", "union", "join", "group"):
        children = node.get(kind)
        if isinstance(children, list | tuple):
            out[kind] = [
                input_defaults(c, pipeline, triggered) if isinstance(c, Mapping) else c for c in children
            ]
    return out
