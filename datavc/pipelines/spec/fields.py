"""The building blocks of spec models: a frozen base and validated field types.

Names follow ``datavc.names``; a glob must compile (``datavc.pipelines.glob``); CPU and
memory take Kubernetes quantities, numbers included (YAML reads ``cpu: 1`` as a number).
"""

from __future__ import annotations

import json
import re
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, StrictInt, StrictStr

from datavc.errors import InvalidArgument
from datavc.names import check_name
from datavc.pipelines.glob import InvalidGlob, compile_glob

__all__ = [
    "ENV_NAME_RE",
    "RESERVED_ENV_PREFIX",
    "BranchName",
    "CpuQuantity",
    "Frozen",
    "GlobPattern",
    "InputName",
    "MemoryQuantity",
    "PipelineName",
    "PositiveInt",
    "RepoName",
    "canonical",
]

ENV_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
RESERVED_ENV_PREFIX = "DATAVC_"
_CPU_RE = re.compile(r"(?:\d+(?:\.\d*)?|\.\d+)|\d+m")
_MEMORY_RE = re.compile(r"(\d+(?:\.\d+)?)(?:Ki|Mi|Gi|Ti|Pi|Ei|k|M|G|T|P|E|e\d+)?")


def named(kind: str) -> AfterValidator:
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


RepoName = Annotated[StrictStr, named("repo")]
BranchName = Annotated[StrictStr, named("branch")]
InputName = Annotated[StrictStr, named("input")]
PipelineName = Annotated[StrictStr, named("pipeline")]
GlobPattern = Annotated[StrictStr, AfterValidator(_check_glob)]
CpuQuantity = Annotated[StrictStr, BeforeValidator(_quantity_to_str), AfterValidator(_check_cpu)]
MemoryQuantity = Annotated[StrictStr, BeforeValidator(_quantity_to_str), AfterValidator(_check_memory)]
PositiveInt = Annotated[StrictInt, Field(ge=1)]


class Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


def canonical(data: Any) -> str:
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
