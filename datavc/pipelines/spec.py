"""The pipeline spec: what a pipeline reads, what it runs, and how.

A spec is YAML or JSON text (or a dict) validated into frozen pydantic models::

    pipeline: {name: wordcount, description: "count words per file"}
    input:
      pfs: {repo: texts, branch: main, glob: "/*"}
    transform:
      image: python:3.12-slim
      cmd: ["python3", "/code/count.py"]
    parallelism: 2

Every problem is reported at once, each naming its field:
``invalid pipeline spec: input.cross[1].pfs.glob: must start with '/'``. Cycles across
several pipelines are checked where pipelines are created, not here.

Hostile specs are bounded before anything walks them: at most ``MAX_SPEC_BYTES`` of
text, ``MAX_DEPTH`` levels of nesting and ``MAX_VALUES`` values once YAML aliases are
expanded (a "billion laughs" document is refused, not expanded).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator, Mapping
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    StrictBool,
    StrictInt,
    StrictStr,
    ValidationError,
    ValidationInfo,
    field_serializer,
    field_validator,
    model_serializer,
    model_validator,
)
from pydantic_core import ErrorDetails

from datavc.errors import InvalidArgument
from datavc.names import NAME_RE, check_name
from datavc.pipelines import pachyderm
from datavc.pipelines.glob import InvalidGlob, compile_glob, join_on_refs
from datavc.schedule import check_schedule, parse_size

__all__ = [
    "DatumSetSpec",
    "Egress",
    "Gpu",
    "Input",
    "InvalidSpec",
    "PfsInput",
    "PipelineMeta",
    "PipelineSpec",
    "Resources",
    "Sandbox",
    "Secret",
    "Transform",
]

_ENV_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_RESERVED_ENV_PREFIX = "DATAVC_"
_CPU_RE = re.compile(r"(?:\d+(?:\.\d*)?|\.\d+)|\d+m")
_MEMORY_RE = re.compile(r"(\d+(?:\.\d+)?)(?:Ki|Mi|Gi|Ti|Pi|Ei|k|M|G|T|P|E|e\d+)?")
_UNNAMED = "unnamed"
MAX_SPEC_BYTES = 1024 * 1024
MAX_DEPTH = 64
MAX_VALUES = 100_000
# PipelineSpec fields added after the first release: dumped (and hashed) only when set.
_USER_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]*|\d{1,10}(:\d{1,10})?")
_LATER_FIELDS = (
    "job_timeout",
    "sandbox",
    "node_selector",
    "tolerations",
    "priority_class_name",
    "service_account",
    "image_pull_secrets",
    "pod_patch",
)


class InvalidSpec(InvalidArgument):
    """A pipeline spec that does not parse or validate; ``problems`` lists each as ``field: problem``."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("invalid pipeline spec: " + "; ".join(problems))
        self.problems = tuple(problems)


# --- field types ----------------------------------------------------------------------


def _named(kind: str) -> AfterValidator:
    def check(value: str) -> str:
        try:
            return check_name(value, kind)
        except InvalidArgument as err:
            raise ValueError(str(err)) from None

    return AfterValidator(check)


def _check_glob(value: str) -> str:
    try:
        compile_glob(value)
    except InvalidGlob as err:
        raise ValueError(err.problem) from None
    return value


def _quantity_to_str(value: Any) -> Any:
    # YAML reads `cpu: 1` as a number; Kubernetes takes numbers and strings alike.
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return value


def _check_cpu(value: str) -> str:
    if not _CPU_RE.fullmatch(value):
        raise ValueError(
            f"invalid CPU quantity {value!r}: use cores like '1' or '0.5', or millicores like '500m'"
        )
    if float(value.removesuffix("m")) == 0:
        raise ValueError(f"invalid CPU quantity {value!r}: must be > 0")
    return value


def _check_memory(value: str) -> str:
    m = _MEMORY_RE.fullmatch(value)
    if not m:
        raise ValueError(
            f"invalid memory quantity {value!r}: use bytes like '1000000', "
            "or a suffix like '512Mi', '1Gi', '500M'"
        )
    if float(m.group(1)) == 0:
        raise ValueError(f"invalid memory quantity {value!r}: must be > 0")
    return value


RepoName = Annotated[StrictStr, _named("repo")]
BranchName = Annotated[StrictStr, _named("branch")]
InputName = Annotated[StrictStr, _named("input")]
PipelineName = Annotated[StrictStr, _named("pipeline")]
GlobPattern = Annotated[StrictStr, AfterValidator(_check_glob)]
CpuQuantity = Annotated[StrictStr, BeforeValidator(_quantity_to_str), AfterValidator(_check_cpu)]
MemoryQuantity = Annotated[StrictStr, BeforeValidator(_quantity_to_str), AfterValidator(_check_memory)]
PositiveInt = Annotated[StrictInt, Field(ge=1)]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


# --- models ---------------------------------------------------------------------------


class Trigger(_Frozen):
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
    def _check_size(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                parse_size(value)
            except InvalidArgument as err:
                raise ValueError(str(err)) from None
        return value


class CronTick(_Frozen):
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


class PfsInput(_Frozen):
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


class Input(_Frozen):
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


class Secret(_Frozen):
    """A secret the transform reads (Pachyderm's ``transform.secrets`` item).

    On Kubernetes ``name`` is a Secret in the job's namespace: with ``env_var`` its ``key``
    becomes that variable, with ``mount_path`` the whole Secret is mounted there. Locally
    (``datavc.pipelines.secrets``) the value of ``env_var`` is read from the file
    ``<secrets dir>/<name>/<key>``; ``mount_path`` needs a pod and fails the datum.
    """

    name: Annotated[StrictStr, Field(min_length=1, max_length=253)]
    key: StrictStr | None = None
    env_var: StrictStr | None = None
    mount_path: StrictStr | None = None

    @model_serializer(mode="wrap")
    def _drop_unset(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        data: dict[str, Any] = handler(self)
        return {k: v for k, v in data.items() if v is not None}

    @model_validator(mode="after")
    def _one_target(self) -> Secret:
        if (self.env_var is None) == (self.mount_path is None):
            raise ValueError("give exactly one of env_var (with key) or mount_path")
        if self.env_var is not None:
            if not self.key:
                raise ValueError("key: required with env_var (the Secret's key to read)")
            if not _ENV_NAME_RE.fullmatch(self.env_var):
                raise ValueError(
                    f"env_var: invalid variable name {self.env_var!r}: use letters, digits and '_'"
                )
            if self.env_var.startswith((_RESERVED_ENV_PREFIX, "PACH_")):
                raise ValueError(f"env_var: {self.env_var!r} is reserved: datavc sets DATAVC_* and PACH_*")
        if self.key is not None and ("/" in self.key or self.key in ("", ".", "..")):
            raise ValueError(f"key: {self.key!r} is not a Secret key (no '/', not '.' or '..')")
        if not re.fullmatch(r"[a-z0-9]([-a-z0-9.]*[a-z0-9])?", self.name):
            raise ValueError(
                f"name: {self.name!r} is not a Kubernetes Secret name (lower case, digits, '-', '.')"
            )
        if self.mount_path is not None and not self.mount_path.startswith("/"):
            raise ValueError(f"mount_path: must be an absolute path, got {self.mount_path!r}")
        return self


class Transform(_Frozen):
    """What runs for each datum.

    Attributes:
        image: the container image (used on Kubernetes; the local executor ignores it).
        cmd: the command and its arguments.
        stdin: lines fed to the command's standard input.
        env: extra environment variables (names starting with ``DATAVC_`` are reserved).
        accept_return_code: exit codes besides 0 that count as success (Pachyderm's field).
        working_dir: the directory the command runs in; it must exist where the datum
            runs (by default the datum's scratch directory).
        err_cmd: run (with ``err_stdin``) when ``cmd`` has failed a datum's last try; if it
            exits 0 the datum counts as recovered: it does not fail the job, contributes
            no output, and is not remembered (the next job runs it again).
        err_stdin: lines fed to ``err_cmd``'s standard input.
        datum_batching: start the command once per worker; it asks for datums one at a
            time (``datavc.datums()``, ``datavc datum next``), as in Pachyderm 2.x.
        user: the user the command runs as: a name, a uid or ``uid:gid``, in the sandbox
            (inside its user namespace) or the pod (``runAsUser``/``runAsGroup``; a pod
            never runs as root). Without the sandbox it runs as the scheduler's user.
        secrets: Kubernetes Secrets the command reads (see ``Secret``).
    """

    image: StrictStr | None = None
    cmd: tuple[StrictStr, ...] = Field(min_length=1)
    stdin: tuple[StrictStr, ...] = ()
    env: dict[StrictStr, StrictStr] = Field(default_factory=dict)
    accept_return_code: tuple[StrictInt, ...] = ()
    working_dir: StrictStr | None = None
    err_cmd: tuple[StrictStr, ...] = ()
    err_stdin: tuple[StrictStr, ...] = ()
    datum_batching: StrictBool = False
    user: Annotated[StrictStr, Field(min_length=1, max_length=64)] | None = None
    secrets: tuple[Secret, ...] = ()

    @model_serializer(mode="wrap")
    def _drop_unset(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        # Fields added later appear only when set: existing specs keep their hashes.
        data: dict[str, Any] = handler(self)
        for key in ("accept_return_code", "err_cmd", "err_stdin", "secrets"):
            if not data.get(key):
                data.pop(key, None)
        for key in ("working_dir", "user"):
            if data.get(key) is None:
                data.pop(key, None)
        if not data.get("datum_batching"):
            data.pop("datum_batching", None)
        return data

    @field_validator("user")
    @classmethod
    def _check_user(cls, value: str | None) -> str | None:
        if value is not None and not _USER_RE.fullmatch(value):
            raise ValueError(f"{value!r}: use a user name, a uid or 'uid:gid'")
        return value

    def uid_gid(self) -> tuple[int, int | None] | None:
        """``user`` as numbers (``root`` is 0), or None when unset or a name (which only the
        machine or image that runs the command can resolve)."""
        if self.user is None:
            return None
        if self.user == "root":
            return 0, 0
        uid, _, gid = self.user.partition(":")
        if not uid.isdigit():
            return None
        return int(uid), int(gid) if gid else None

    @field_validator("err_cmd")
    @classmethod
    def _check_err_cmd(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if value and not value[0]:
            raise ValueError("the program (first item) must not be empty")
        return value

    @field_validator("working_dir")
    @classmethod
    def _check_working_dir(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith("/"):
            raise ValueError(f"must be an absolute path, got {value!r}")
        return value

    def succeeded(self, exit_code: int | None) -> bool:
        """Whether a command that ended with ``exit_code`` succeeded: 0 or an accepted code."""
        return exit_code == 0 or (exit_code is not None and exit_code in self.accept_return_code)

    @field_validator("image")
    @classmethod
    def _check_image(cls, value: str | None) -> str | None:
        if value is not None and (not value or value != value.strip()):
            raise ValueError("must be an image reference such as 'python:3.12-slim'")
        return value

    @field_validator("cmd")
    @classmethod
    def _check_cmd(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if value and not value[0]:
            raise ValueError("the program (first item) must not be empty")
        return value

    @field_validator("env")
    @classmethod
    def _check_env(cls, value: dict[str, str]) -> dict[str, str]:
        for key in value:
            if not _ENV_NAME_RE.fullmatch(key):
                raise ValueError(f"invalid variable name {key!r}: use letters, digits and '_'")
            if key.startswith(_RESERVED_ENV_PREFIX):
                raise ValueError(f"{key!r} is reserved: datavc sets the {_RESERVED_ENV_PREFIX}* variables")
        return value

    def __hash__(self) -> int:
        return hash(
            (
                self.image,
                self.cmd,
                self.stdin,
                tuple(sorted(self.env.items())),
                self.accept_return_code,
                self.working_dir,
                self.err_cmd,
                self.err_stdin,
                self.datum_batching,
                self.user,
                self.secrets,
            )
        )


class Gpu(_Frozen):
    """GPUs per worker: ``number`` of the extended resource ``type`` (e.g. ``nvidia.com/gpu``)."""

    type: Annotated[StrictStr, Field(min_length=1)] | None = None  # None: the executor's gpu_resource
    number: Annotated[StrictInt, Field(ge=0)]

    @model_serializer(mode="wrap")
    def _drop_unset(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        data: dict[str, Any] = handler(self)
        if data.get("type") is None:
            data.pop("type", None)
        return data


class Resources(_Frozen):
    """What each worker asks of Kubernetes (requests = limits); ignored by the local executor.

    ``disk`` is the worker's ephemeral storage.
    """

    cpu: CpuQuantity | None = None
    memory: MemoryQuantity | None = None
    gpu: Gpu | None = None
    disk: MemoryQuantity | None = None

    @model_serializer(mode="wrap")
    def _drop_unset(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        data: dict[str, Any] = handler(self)
        for key in ("gpu", "disk"):
            if data.get(key) is None:
                data.pop(key, None)
        return data


class Sandbox(_Frozen):
    """How the local executor confines a transform (bubblewrap; see docs/security.md).

    Attributes:
        network: whether the transform may use the network (its own empty network
            namespace when false).
    """

    network: StrictBool = True


class PipelineMeta(_Frozen):
    """The pipeline's name (also its output repo's) and a description."""

    name: PipelineName
    description: StrictStr = ""


class Egress(_Frozen):
    """Where a successful job's output is copied: ``s3://bucket/prefix`` (Pachyderm's
    ``egress.URL`` or ``egress.object_storage.url``), by the scheduler with the standard AWS
    configuration of its environment (``AWS_*``, ``AWS_ENDPOINT_URL`` for MinIO and others)."""

    url: StrictStr

    @field_validator("url")
    @classmethod
    def _check_url(cls, value: str) -> str:
        scheme, sep, rest = value.partition("://")
        if not sep or scheme != "s3":
            raise ValueError(f"{value!r}: only s3:// URLs are supported (s3://bucket/prefix)")
        bucket = rest.split("/", 1)[0]
        if not re.fullmatch(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]", bucket):
            raise ValueError(f"{value!r}: {bucket!r} is not an S3 bucket name")
        if any(part in (".", "..") for part in rest.split("/")[1:]):
            raise ValueError(f"{value!r}: the prefix must not contain '.' or '..'")
        return value

    @property
    def bucket(self) -> str:
        """The bucket of ``url``."""
        return self.url.removeprefix("s3://").split("/", 1)[0]

    @property
    def prefix(self) -> str:
        """The key prefix of ``url``, ending in ``/`` unless empty."""
        rest = self.url.removeprefix("s3://").partition("/")[2].strip("/")
        return rest + "/" if rest else ""


class DatumSetSpec(_Frozen):
    """Pachyderm's ``datum_set_spec``: accepted; datavc schedules datums one at a time (locally)
    or in shards of the job (Kubernetes), so it changes nothing here."""

    number: Annotated[StrictInt, Field(ge=0)] = 0
    size_bytes: Annotated[StrictInt, Field(ge=0)] = 0
    per_worker: Annotated[StrictInt, Field(ge=0)] = 0


class _TreeProblems(ValueError):
    """Problems found by walking the whole input tree, each already naming its field."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


class PipelineSpec(_Frozen):
    """A validated pipeline spec. Build it with ``parse``, ``from_file`` or ``create``.

    Attributes:
        pipeline: name and description.
        input: what the pipeline reads.
        transform: what it runs per datum.
        parallelism: datums run at once (>= 1).
        datum_tries: attempts per datum before it counts as failed (>= 1).
        datum_timeout: seconds one attempt may run (> 0); a Go duration such as
            ``"60s"`` or ``"1h30m"`` is read as seconds.
        job_timeout: seconds the job's datums may run in all (> 0), or None for no limit.
        resources: Kubernetes CPU, memory, GPU and disk per worker.
        output_branch: the branch of the output repo the job's output commit goes to.
        egress: where a successful job's output is also copied (``s3://``).
        reprocess_spec: ``until_success`` (datums already processed are skipped) or
            ``every_job`` (every job runs every datum).
        datum_set_spec: accepted for Pachyderm specs; no effect (see ``DatumSetSpec``).
        autoscaling: accepted for Pachyderm specs; no effect: local runs start when jobs
            do, and each Kubernetes job's pods end with it (workers scale to zero anyway).
        sandbox: how the local executor confines the transform (``network``).
        node_selector, tolerations, priority_class_name, service_account,
            image_pull_secrets: where and how Kubernetes runs the worker pods.
        pod_patch: a JSON patch (RFC 6902) applied to the worker pod template.

    Pachyderm 2.x specs are accepted too: ``datavc.pipelines.pachyderm`` maps them here.
    """

    pipeline: PipelineMeta
    input: Input
    transform: Transform
    parallelism: PositiveInt = 1
    datum_tries: PositiveInt = 3
    datum_timeout: Annotated[float, Field(gt=0, strict=True)] = 3600
    job_timeout: Annotated[float, Field(gt=0, strict=True)] | None = None
    resources: Resources | None = None
    output_branch: BranchName = "main"
    egress: Egress | None = None
    reprocess_spec: Literal["until_success", "every_job"] = "until_success"
    datum_set_spec: DatumSetSpec | None = None
    autoscaling: bool = False
    sandbox: Sandbox | None = None
    node_selector: dict[StrictStr, StrictStr] = Field(default_factory=dict)
    tolerations: tuple[dict[StrictStr, Any], ...] = ()
    priority_class_name: StrictStr | None = None
    service_account: StrictStr | None = None
    image_pull_secrets: tuple[Annotated[StrictStr, Field(min_length=1)], ...] = ()
    pod_patch: tuple[dict[StrictStr, Any], ...] = ()

    @model_serializer(mode="wrap")
    def _drop_unset(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        # Fields added later appear only when set: existing specs keep their hashes.
        data: dict[str, Any] = handler(self)
        for key in _LATER_FIELDS:
            if data.get(key) in (None, {}, [], ()):
                data.pop(key, None)
        for key, default in (
            ("output_branch", "main"),
            ("egress", None),
            ("reprocess_spec", "until_success"),
            ("datum_set_spec", None),
            ("autoscaling", False),
        ):
            if data.get(key) == default:
                data.pop(key, None)
        return data

    @model_validator(mode="before")
    @classmethod
    def _cron_and_trigger_defaults(cls, data: Any) -> Any:
        """``input.cron`` becomes a pfs input of its tick repo; a triggered input's branch and
        a cron input's repo get Pachyderm's defaults (they are named after the pipeline)."""
        if not isinstance(data, Mapping) or not isinstance(data.get("pipeline"), Mapping):
            return data
        name = data["pipeline"].get("name")
        if not isinstance(name, str) or not isinstance(data.get("input"), Mapping):
            return data
        return {**data, "input": _input_defaults(data["input"], name, {})}

    @field_validator("datum_timeout", "job_timeout")
    @classmethod
    def _integral_timeout(cls, value: float | None) -> float | None:
        # 3600 and 3600.0 are one spec, shown (and hashed) as 3600.
        return int(value) if value is not None and value.is_integer() else value

    @field_serializer("datum_timeout", "job_timeout")
    def _dump_timeout(self, value: float | None) -> int | float | None:
        return int(value) if value is not None and float(value).is_integer() else value

    @model_validator(mode="after")
    def _check_tree(self) -> PipelineSpec:
        problems: list[str] = []
        seen: dict[str, str] = {}
        mounts: dict[str, tuple[str, str]] = {}  # directory -> (field, the union it is shared in)

        def visit(node: Input, path: str, parent: str, union: str = "") -> None:
            if node.pfs is not None:
                pfs, where = node.pfs, f"{path}.pfs"
                if pfs.name in seen:
                    problems.append(
                        f"{where}.name: duplicate input name {pfs.name!r} (also at {seen[pfs.name]}); "
                        "input names must be unique, set 'name' to tell them apart"
                    )
                else:
                    seen[pfs.name] = f"{where}.name"
                if pfs.dir is not None and not union:
                    problems.append(f"{where}.dir: only allowed on the inputs of a union")
                elif pfs.mount in mounts and (not union or mounts[pfs.mount][1] != union):
                    if pfs.dir is not None:  # (a clash of names is reported above)
                        problems.append(
                            f"{where}.dir: directory {pfs.mount!r} is also used at {mounts[pfs.mount][0]}; "
                            "only members of one union may share a directory"
                        )
                else:
                    mounts.setdefault(pfs.mount, (f"{where}.name", union))
                if pfs.repo == self.pipeline.name:
                    problems.append(f"{where}.repo: a pipeline cannot read its own output repo {pfs.repo!r}")
                if parent == "join" and pfs.join_on is None:
                    problems.append(f"{where}.join_on: required for an input of a join")
                if parent != "join" and pfs.join_on is not None:
                    problems.append(f"{where}.join_on: only allowed on the inputs of a join")
                if parent != "join" and pfs.outer_join:
                    problems.append(f"{where}.outer_join: only allowed on the inputs of a join")
                if parent == "group" and pfs.group_by is None:
                    problems.append(f"{where}.group_by: required for an input of a group")
                if parent != "group" and pfs.group_by is not None:
                    problems.append(f"{where}.group_by: only allowed on the inputs of a group")
                return
            for i, child in enumerate(node.children):
                where = f"{path}.{node.kind}[{i}]"
                if node.kind in ("join", "group") and child.pfs is None:
                    problems.append(
                        f"{where}: the inputs of a {node.kind} must be pfs inputs, not a {child.kind}"
                    )
                visit(child, where, node.kind, path if node.kind == "union" else "")

        visit(self.input, "input", "")
        if problems:
            raise _TreeProblems(problems)
        return self

    # --- construction -------------------------------------------------------------------

    @classmethod
    def parse(
        cls,
        source: str | bytes | Mapping[str, Any],
        *,
        fmt: Literal["yaml", "json"] | None = None,
    ) -> PipelineSpec:
        """Parse and validate a spec.

        Args:
            source: YAML or JSON text, or a mapping (e.g. already-loaded JSON).
            fmt: the text's format; by default JSON if it starts with ``{``, else YAML.

        Returns:
            The validated spec.

        Raises:
            InvalidSpec: text that does not parse, or a spec that does not validate;
                the message names every bad field.
        """
        if isinstance(source, bytes):
            try:
                source = source.decode("utf-8")
            except UnicodeDecodeError:
                raise InvalidSpec(["not UTF-8 text"]) from None
        if isinstance(source, str) and len(source) > MAX_SPEC_BYTES:
            raise InvalidSpec([f"larger than {MAX_SPEC_BYTES} bytes"])
        data = _load_text(source, fmt) if isinstance(source, str) else source
        _check_size(data)
        if not isinstance(data, Mapping):
            raise InvalidSpec([f"must be a mapping of fields, got {_type_name(data)}"])
        doc, refused = pachyderm.normalize(data)
        try:
            spec = cls.model_validate(doc)
        except ValidationError as err:
            raise InvalidSpec(refused + _problems(err)) from None
        if refused:
            raise InvalidSpec(refused)
        return spec

    @classmethod
    def from_file(cls, path: str | Path) -> PipelineSpec:
        """Read and validate a spec file; ``.json`` is JSON, ``.yaml``/``.yml`` YAML, else detected.

        Raises:
            InvalidArgument: the file cannot be read.
            InvalidSpec: the spec does not parse or validate.
        """
        p = Path(path)
        try:
            if p.is_file() and p.stat().st_size > MAX_SPEC_BYTES:
                raise InvalidSpec([f"{str(p)!r} is larger than {MAX_SPEC_BYTES} bytes"])
            text = p.read_text(encoding="utf-8")
        except OSError as err:
            raise InvalidArgument(f"cannot read pipeline spec {str(p)!r}: {err.strerror or err}") from None
        except UnicodeDecodeError:
            raise InvalidSpec([f"{str(p)!r} is not UTF-8 text"]) from None
        suffix = p.suffix.lower()
        fmt: Literal["yaml", "json"] | None = (
            "json" if suffix == ".json" else "yaml" if suffix in (".yaml", ".yml") else None
        )
        return cls.parse(text, fmt=fmt)

    @classmethod
    def create(
        cls,
        name: str,
        input: Input | PfsInput | Mapping[str, Any],
        transform: Transform | Mapping[str, Any],
        **fields: Any,
    ) -> PipelineSpec:
        """Build a spec from Python values.

        Args:
            name: the pipeline's name.
            input: an ``Input``, a ``PfsInput`` or the same as a dict
                (``{"pfs": {"repo": "texts", "glob": "/*"}}``).
            transform: a ``Transform`` or a dict (``{"cmd": ["wc", "-w"]}``).
            **fields: ``description`` and any top-level field (``parallelism``...).

        Raises:
            InvalidSpec: the spec does not validate.
        """
        description = fields.pop("description", "")
        if isinstance(input, PfsInput):
            input = {"pfs": input}
        data = {
            "pipeline": {"name": name, "description": description},
            "input": input,
            "transform": transform,
            **fields,
        }
        return cls.parse(data)

    # --- views --------------------------------------------------------------------------

    @property
    def name(self) -> str:
        """The pipeline's name."""
        return self.pipeline.name

    @property
    def output_repo(self) -> str:
        """The repo the pipeline writes to: named after the pipeline."""
        return self.pipeline.name

    def inputs(self) -> list[PfsInput]:
        """Every leaf pfs input, depth-first, in the order written."""
        return list(self.input.walk())

    def __hash__(self) -> int:
        # Mappings (node_selector, tolerations, pod_patch) are not hashable: hash the canonical
        # form, which equal specs share.
        return hash(self.canonical_json())

    def to_dict(self) -> dict[str, Any]:
        """The spec as plain JSON-able data, every default filled in."""
        return self.model_dump(mode="json")

    def canonical_json(self) -> str:
        """``to_dict()`` as compact JSON with sorted keys: equal specs give equal text."""
        return _canonical(self.to_dict())

    @property
    def spec_hash(self) -> str:
        """SHA-256 (hex) of ``canonical_json()``: the pipeline version's identity."""
        return hashlib.sha256(self.canonical_json().encode("utf-8")).hexdigest()

    @property
    def transform_hash(self) -> str:
        """SHA-256 (hex) of the canonical transform (image, cmd, stdin, env; accept_return_code
        and working_dir when set).

        It goes into every datum hash, so changing what runs reprocesses every datum,
        while changing parallelism, tries, timeout or resources reprocesses none.
        """
        data = self.transform.model_dump(mode="json")
        return hashlib.sha256(_canonical(data).encode("utf-8")).hexdigest()


# --- helpers --------------------------------------------------------------------------


def _input_defaults(node: Mapping[str, Any], pipeline: str, triggered: dict[str, int]) -> dict[str, Any]:
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
                _input_defaults(c, pipeline, triggered) if isinstance(c, Mapping) else c for c in children
            ]
    return out


def _canonical(data: Any) -> str:
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


class _UniqueKeyLoader(yaml.SafeLoader):
    """A safe loader that refuses duplicate keys instead of keeping the last one."""


def _construct_mapping(loader: yaml.SafeLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    loader.flatten_mapping(node)
    out: dict[Any, Any] = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        if key in out:
            raise InvalidSpec([f"duplicate key {key!r} (line {key_node.start_mark.line + 1})"])
        out[key] = loader.construct_object(value_node, deep=True)
    return out


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def _json_pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise InvalidSpec([f"duplicate key {key!r}"])
        out[key] = value
    return out


def _load_text(text: str, fmt: Literal["yaml", "json"] | None) -> Any:
    if fmt is None:
        fmt = "json" if text.lstrip().startswith("{") else "yaml"
    if fmt == "json":
        try:
            return json.loads(text, object_pairs_hook=_json_pairs)
        except json.JSONDecodeError as err:
            raise InvalidSpec([f"JSON: {err.msg} at line {err.lineno} column {err.colno}"]) from None
        except RecursionError:
            raise InvalidSpec([f"nested more than {MAX_DEPTH} levels deep"]) from None
    if fmt != "yaml":
        raise InvalidArgument(f"unknown spec format {fmt!r}: use 'yaml' or 'json'")
    try:
        data = yaml.load(text, Loader=_UniqueKeyLoader)  # a SafeLoader subclass
    except yaml.MarkedYAMLError as err:
        where = (
            f" at line {err.problem_mark.line + 1} column {err.problem_mark.column + 1}"
            if err.problem_mark
            else ""
        )
        raise InvalidSpec([f"YAML: {err.problem or err}{where}"]) from None
    except yaml.YAMLError as err:
        raise InvalidSpec([f"YAML: {err}"]) from None
    except RecursionError:
        raise InvalidSpec([f"nested more than {MAX_DEPTH} levels deep"]) from None
    if data is None:
        raise InvalidSpec(["the spec is empty"])
    return data


def _check_size(data: Any) -> None:
    """Refuse data nested deeper than ``MAX_DEPTH`` or holding more than ``MAX_VALUES`` values.

    Iterative, and it stops at the first excess: YAML aliases make a small document stand
    for an exponentially large one, which must never be walked in full.
    """
    seen = 0
    stack: list[tuple[Any, int]] = [(data, 1)]
    while stack:
        value, depth = stack.pop()
        seen += 1
        if seen > MAX_VALUES:
            raise InvalidSpec([f"more than {MAX_VALUES} values (after expanding YAML aliases)"])
        if isinstance(value, Mapping | list | tuple):
            if depth > MAX_DEPTH:
                raise InvalidSpec([f"nested more than {MAX_DEPTH} levels deep"])
            items = value.values() if isinstance(value, Mapping) else value
            stack.extend((v, depth + 1) for v in items)


def _type_name(value: Any) -> str:
    names = {
        dict: "a mapping",
        list: "a list",
        tuple: "a list",
        str: "a string",
        bool: "a boolean",
        int: "an integer",
        float: "a number",
        type(None): "null",
    }
    return names.get(type(value), type(value).__name__)


def _number(value: Any) -> str:
    return str(int(value)) if isinstance(value, float) and value.is_integer() else str(value)


def _field_path(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


_TYPE_MESSAGES = {
    "string_type": "must be a string",
    "int_type": "must be an integer",
    "int_from_float": "must be an integer",
    "float_type": "must be a number",
    "bool_type": "must be true or false",
    "tuple_type": "must be a list",
    "list_type": "must be a list",
    "dict_type": "must be a mapping",
    "model_type": "must be a mapping",
    "model_attributes_type": "must be a mapping",
}


def _problems(err: ValidationError) -> list[str]:
    problems: list[str] = []
    for e in err.errors():
        problems.extend(_describe(e))
    return problems


def _describe(e: ErrorDetails) -> list[str]:
    kind, ctx = e["type"], e.get("ctx") or {}
    where = _field_path(e["loc"])
    error = ctx.get("error")
    if isinstance(error, _TreeProblems):
        return list(error.problems)
    if kind == "value_error" and error is not None:
        msg = str(error)
    elif kind == "missing":
        msg = "required"
    elif kind == "extra_forbidden":
        msg = "unknown field"
    elif kind in _TYPE_MESSAGES:
        msg = f"{_TYPE_MESSAGES[kind]}, got {_type_name(e['input'])}"
    elif kind == "greater_than_equal":
        msg = f"must be >= {_number(ctx['ge'])}"
    elif kind == "greater_than":
        msg = f"must be > {_number(ctx['gt'])}"
    elif kind == "too_short" and ctx["min_length"] == 1:
        msg = "must not be empty"
    elif kind == "too_short":
        msg = f"must have at least {ctx['min_length']} items"
    else:
        msg = e["msg"][:1].lower() + e["msg"][1:]
    return [f"{where}: {msg}" if where else msg]
