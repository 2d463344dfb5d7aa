"""Validation of objects received by the fake Kubernetes API server.

Two layers, like a real apiserver:

1. Decoding against the official OpenAPI schema (offline, from the ``kubernetes-validate``
   package, *strict* variant: unknown fields are errors). Unknown fields and wrong JSON types are
   what a real server reports as ``400 BadRequest`` ("strict decoding error"); other schema
   violations (missing required fields, enum values) are reported as field errors (422).
2. The apiserver's own validation rules that the schema does not express (names, restartPolicy,
   Indexed-Job rules, ...), reported as ``422 Invalid`` field errors.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import Any

import jsonschema
from kubernetes_validate import utils as kv_utils
from referencing import Registry, Resource

# The Kubernetes minor version whose schema the fake server validates against.  Matches the
# official `kubernetes` Python client 36.x (Kubernetes 1.36); kubernetes-validate ships it.
SCHEMA_VERSION = "1.36"

DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
DNS1123_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
ENV_VAR_NAME = re.compile(r"^[-._a-zA-Z][-._a-zA-Z0-9]*$")
LABEL_NAME = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
SECRET_KEY = re.compile(r"^[-._a-zA-Z0-9]+$")


@dataclass(frozen=True)
class FieldError:
    field: str
    reason: str  # FieldValueInvalid, FieldValueRequired, FieldValueNotSupported, FieldValueForbidden
    message: str

    def __str__(self) -> str:
        return f"{self.field}: {self.message}"


class DecodeError(Exception):
    """Unknown field or wrong type: a real server answers 400 BadRequest."""


@functools.cache
def _validator(kind: str, api_version: str) -> jsonschema.protocols.Validator:
    group_version = re.sub(r"^([^./]*)(?:\.[^/]*)?/", r"\1-", api_version)
    version = [v for v in kv_utils.all_versions() if kv_utils.major_minor(v) <= SCHEMA_VERSION][-1]
    schema_dir = f"kubernetes-json-schema/v{version}-local-strict"
    schema = kv_utils.schema_contents(f"{schema_dir}/{kind.lower()}-{group_version}.json", version)
    definitions = kv_utils.schema_contents(f"{schema_dir}/_definitions.json", version)
    registry: Registry[Any] = Resource.from_contents(schema) @ Registry()
    registry = Resource.from_contents(definitions) @ registry
    cls = jsonschema.validators.Draft202012Validator
    return cls(schema, registry=registry)


def _path(parts: Any) -> str:
    out = ""
    for p in parts:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out


def schema_errors(obj: dict[str, Any], *, strict: bool = True) -> list[FieldError]:
    """Validate ``obj`` against the official schema.

    Raises DecodeError for unknown fields (when ``strict``) and wrong JSON types; with
    ``strict=False`` unknown fields are removed from ``obj`` in place (fieldValidation=Ignore/Warn).
    Returns the remaining schema violations as field errors.
    """
    validator = _validator(obj["kind"], obj["apiVersion"])
    decode: list[str] = []
    errors: list[FieldError] = []
    for err in sorted(validator.iter_errors(obj), key=lambda e: list(map(str, e.absolute_path))):
        where = _path(err.absolute_path)
        if err.validator == "additionalProperties":
            allowed = set(err.schema.get("properties", {}))
            for key in sorted(set(err.instance) - allowed):
                if strict:
                    decode.append(f'unknown field "{where + "." if where else ""}{key}"')
                else:
                    del err.instance[key]
        elif err.validator == "type":
            decode.append(f"{where}: {err.message}")
        elif err.validator == "required":
            missing = err.message.split("'")[1] if "'" in err.message else err.message
            errors.append(
                FieldError(f"{where}.{missing}" if where else missing, "FieldValueRequired", "Required value")
            )
        elif err.validator == "enum":
            supported = ", ".join(f'"{v}"' for v in err.validator_value if v is not None)
            errors.append(
                FieldError(
                    where,
                    "FieldValueNotSupported",
                    f"Unsupported value: {err.instance!r}: supported values: {supported}",
                )
            )
        else:
            errors.append(FieldError(where, "FieldValueInvalid", f"Invalid value: {err.message}"))
    if decode:
        raise DecodeError("strict decoding error: " + ", ".join(decode))
    return errors


def _name_errors(field: str, name: Any, *, max_len: int = 253) -> list[FieldError]:
    if not isinstance(name, str) or not name:
        return [FieldError(field, "FieldValueRequired", "Required value: name or generateName is required")]
    out = []
    if len(name) > max_len:
        out.append(
            FieldError(
                field,
                "FieldValueInvalid",
                f'Invalid value: "{name}": must be no more than {max_len} characters',
            )
        )
    if not DNS1123_SUBDOMAIN.match(name):
        out.append(
            FieldError(
                field,
                "FieldValueInvalid",
                (
                    f'Invalid value: "{name}": a lowercase RFC 1123 subdomain must consist of lower case '
                    "alphanumeric characters, '-' or '.', and must start and end with an alphanumeric "
                    "character"
                ),
            )
        )
    return out


def _label_errors(field: str, labels: Any) -> list[FieldError]:
    out = []
    for key, value in (labels or {}).items():
        prefix, _, name = key.rpartition("/")
        if (
            (prefix and (len(prefix) > 253 or not DNS1123_SUBDOMAIN.match(prefix)))
            or len(name) > 63
            or not LABEL_NAME.match(name)
        ):
            out.append(FieldError(field, "FieldValueInvalid", f'Invalid value: "{key}": invalid label key'))
        if not isinstance(value, str) or len(value) > 63 or not LABEL_VALUE.match(value):
            out.append(
                FieldError(
                    f"{field}",
                    "FieldValueInvalid",
                    f'Invalid value: "{value}": a valid label must be an empty string or '
                    "consist of at most 63 alphanumeric characters, '-', '_' or '.', and "
                    "must start and end with an alphanumeric character",
                )
            )
    return out


def metadata_errors(meta: dict[str, Any], *, max_name_len: int = 253) -> list[FieldError]:
    out = []
    if not meta.get("generateName") or meta.get("name"):
        out += _name_errors("metadata.name", meta.get("name"), max_len=max_name_len)
    out += _label_errors("metadata.labels", meta.get("labels"))
    return out


def _env_errors(field: str, env: list[dict[str, Any]]) -> list[FieldError]:
    out = []
    for i, var in enumerate(env):
        f = f"{field}[{i}]"
        name = var.get("name", "")
        if not name:
            out.append(FieldError(f"{f}.name", "FieldValueRequired", "Required value"))
        elif not ENV_VAR_NAME.match(name):
            out.append(
                FieldError(
                    f"{f}.name",
                    "FieldValueInvalid",
                    (
                        f'Invalid value: "{name}": a valid environment variable name must consist of '
                        "alphabetic "
                        "characters, digits, '_', '-', or '.', and must not start with a digit"
                    ),
                )
            )
        source = var.get("valueFrom")
        if source is not None:
            if var.get("value"):
                out.append(
                    FieldError(
                        f"{f}.valueFrom",
                        "FieldValueInvalid",
                        'Invalid value: "": may not be specified when `value` is not empty',
                    )
                )
            kinds = [
                k
                for k in ("fieldRef", "resourceFieldRef", "configMapKeyRef", "secretKeyRef", "fileKeyRef")
                if source.get(k) is not None
            ]
            if len(kinds) != 1:
                out.append(
                    FieldError(
                        f"{f}.valueFrom",
                        "FieldValueInvalid",
                        "Invalid value: must specify exactly one of: `fieldRef`, "
                        "`resourceFieldRef`, `configMapKeyRef` or `secretKeyRef`",
                    )
                )
            for ref in ("secretKeyRef", "configMapKeyRef"):
                if source.get(ref) is not None:
                    if not source[ref].get("name"):
                        out.append(
                            FieldError(f"{f}.valueFrom.{ref}.name", "FieldValueRequired", "Required value")
                        )
                    key = source[ref].get("key", "")
                    if not SECRET_KEY.match(key):
                        out.append(
                            FieldError(
                                f"{f}.valueFrom.{ref}.key",
                                "FieldValueInvalid",
                                f'Invalid value: "{key}": a valid config key must consist '
                                "of alphanumeric characters, '-', '_' or '.'",
                            )
                        )
    return out


def pod_spec_errors(field: str, spec: dict[str, Any]) -> list[FieldError]:
    out = []
    containers = spec.get("containers") or []
    if not containers:
        out.append(FieldError(f"{field}.containers", "FieldValueRequired", "Required value"))
    seen: set[str] = set()
    for group in ("initContainers", "containers"):
        for i, c in enumerate(spec.get(group) or []):
            f = f"{field}.{group}[{i}]"
            name = c.get("name", "")
            if not DNS1123_LABEL.match(name) or len(name) > 63:
                out.append(
                    FieldError(
                        f"{f}.name",
                        "FieldValueInvalid",
                        (
                            f'Invalid value: "{name}": a lowercase RFC 1123 label must consist of lower case '
                            "alphanumeric characters or '-', and must start and end with an alphanumeric "
                            "character"
                        ),
                    )
                )
            elif name in seen:
                out.append(FieldError(f"{f}.name", "FieldValueDuplicate", f'Duplicate value: "{name}"'))
            seen.add(name)
            if not c.get("image"):
                out.append(FieldError(f"{f}.image", "FieldValueRequired", "Required value"))
            out += _env_errors(f"{f}.env", c.get("env") or [])
            for j, src in enumerate(c.get("envFrom") or []):
                refs = [k for k in ("secretRef", "configMapRef") if src.get(k) is not None]
                if len(refs) != 1:
                    out.append(
                        FieldError(
                            f"{f}.envFrom[{j}]",
                            "FieldValueInvalid",
                            "Invalid value: must specify one of: `configMapRef` or `secretRef`",
                        )
                    )
                for ref in refs:
                    if not src[ref].get("name"):
                        out.append(
                            FieldError(f"{f}.envFrom[{j}].{ref}.name", "FieldValueRequired", "Required value")
                        )
    return out


def job_errors(job: dict[str, Any]) -> list[FieldError]:
    """apiserver rules for a batch/v1 Job (create), after defaulting."""
    # Pods get a label (and hostnames) derived from the Job name: a real server rejects names
    # whose pod labels would exceed 63 characters.
    out = metadata_errors(job.get("metadata", {}), max_name_len=63)
    spec = job.get("spec") or {}
    for key in (
        "parallelism",
        "completions",
        "backoffLimit",
        "backoffLimitPerIndex",
        "maxFailedIndexes",
        "ttlSecondsAfterFinished",
    ):
        v = spec.get(key)
        if isinstance(v, int) and v < 0:
            out.append(
                FieldError(
                    f"spec.{key}",
                    "FieldValueInvalid",
                    f"Invalid value: {v}: must be greater than or equal to 0",
                )
            )
    ads = spec.get("activeDeadlineSeconds")
    if isinstance(ads, int) and ads <= 0:
        out.append(
            FieldError(
                "spec.activeDeadlineSeconds",
                "FieldValueInvalid",
                f"Invalid value: {ads}: must be greater than 0",
            )
        )
    indexed = spec.get("completionMode") == "Indexed"
    if indexed:
        if spec.get("completions") is None:
            out.append(
                FieldError(
                    "spec.completions",
                    "FieldValueRequired",
                    "Required value: when completion mode is Indexed",
                )
            )
        elif spec["completions"] > 100_000:
            out.append(
                FieldError(
                    "spec.completions",
                    "FieldValueInvalid",
                    f"Invalid value: {spec['completions']}: must be less than or equal to "
                    "100000 when completion mode is Indexed",
                )
            )
    if spec.get("backoffLimitPerIndex") is not None and not indexed:
        out.append(
            FieldError(
                "spec.backoffLimitPerIndex",
                "FieldValueForbidden",
                "Forbidden: requires indexed completion mode",
            )
        )
    if spec.get("maxFailedIndexes") is not None:
        if spec.get("backoffLimitPerIndex") is None:
            out.append(
                FieldError(
                    "spec.maxFailedIndexes",
                    "FieldValueRequired",
                    "Required value: when maxFailedIndexes is specified",
                )
            )
        elif spec.get("completions") is not None and spec["maxFailedIndexes"] > spec["completions"]:
            out.append(
                FieldError(
                    "spec.maxFailedIndexes",
                    "FieldValueInvalid",
                    f"Invalid value: {spec['maxFailedIndexes']}: must be less than or equal to completions",
                )
            )
    if spec.get("selector") is not None and not spec.get("manualSelector"):
        out.append(
            FieldError(
                "spec.selector", "FieldValueInvalid", "Invalid value: `selector` will be auto-generated"
            )
        )
    template = spec.get("template") or {}
    out += _label_errors("spec.template.metadata.labels", (template.get("metadata") or {}).get("labels"))
    pod_spec = template.get("spec") or {}
    policy = pod_spec.get("restartPolicy")
    if policy is None:
        out.append(
            FieldError(
                "spec.template.spec.restartPolicy",
                "FieldValueRequired",
                'Required value: valid values: "OnFailure", "Never"',
            )
        )
    elif policy not in ("OnFailure", "Never"):
        out.append(
            FieldError(
                "spec.template.spec.restartPolicy",
                "FieldValueNotSupported",
                f'Unsupported value: "{policy}": supported values: "OnFailure", "Never"',
            )
        )
    if spec.get("podFailurePolicy") is not None and policy != "Never":
        out.append(
            FieldError(
                "spec.template.spec.restartPolicy",
                "FieldValueInvalid",
                f'Invalid value: "{policy}": only "Never" is supported when podFailurePolicy is specified',
            )
        )
    out += pod_spec_errors("spec.template.spec", pod_spec)
    return out


def data_errors(obj: dict[str, Any]) -> list[FieldError]:
    """Secret / ConfigMap rules."""
    out = metadata_errors(obj.get("metadata", {}))
    for field in ("data", "stringData"):
        for key in obj.get(field) or {}:
            if not SECRET_KEY.match(key) or len(key) > 253:
                out.append(
                    FieldError(
                        f"{field}[{key}]",
                        "FieldValueInvalid",
                        f'Invalid value: "{key}": a valid config key must consist of '
                        "alphanumeric characters, '-', '_' or '.'",
                    )
                )
    return out
