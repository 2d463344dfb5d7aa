"""The whole pipeline spec: ``PipelineSpec`` and its top-level fields.

Parsing goes text (``spec.text``) -> Pachyderm mapping (``datavc.pipelines.pachyderm``)
-> validation, and every problem is reported at once (``spec.problems``).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    Field,
    SerializerFunctionWrapHandler,
    StrictStr,
    ValidationError,
    field_serializer,
    field_validator,
    model_serializer,
    model_validator,
)

from datavc.errors import InvalidArgument
from datavc.pipelines import pachyderm
from datavc.pipelines.spec.fields import BranchName, Frozen, PipelineName, PositiveInt, canonical
from datavc.pipelines.spec.inputs import Input, PfsInput, input_defaults
from datavc.pipelines.spec.problems import InvalidSpec, TreeProblems, problems_of, type_name
from datavc.pipelines.spec.resources import DatumSetSpec, Resources, Sandbox
from datavc.pipelines.spec.text import MAX_SPEC_BYTES, check_size, load_text
from datavc.pipelines.spec.transform import Transform

__all__ = ["Egress", "PipelineMeta", "PipelineSpec"]

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


class PipelineMeta(Frozen):
    """The pipeline's name (also its output repo's) and a description."""

    name: PipelineName
    description: StrictStr = ""


class Egress(Frozen):
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


class PipelineSpec(Frozen):
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
        return {**data, "input": input_defaults(data["input"], name, {})}

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
            raise TreeProblems(problems)
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
        data = load_text(source, fmt) if isinstance(source, str) else source
        check_size(data)
        if not isinstance(data, Mapping):
            raise InvalidSpec([f"must be a mapping of fields, got {type_name(data)}"])
        doc, refused = pachyderm.normalize(data)
        try:
            spec = cls.model_validate(doc)
        except ValidationError as err:
            raise InvalidSpec(refused + problems_of(err)) from None
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
        return canonical(self.to_dict())

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
        return hashlib.sha256(canonical(data).encode("utf-8")).hexdigest()
