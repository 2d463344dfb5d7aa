"""Pachyderm 2.x pipeline specs, as published, turned into datavc's own spec.

``PipelineSpec.parse`` runs every document through ``normalize`` first, so a spec
written for ``pachctl create pipeline -f`` is accepted by ``datavc pipeline create -f``:

- keys may be camelCase or snake_case (``joinOn`` = ``join_on``), as pachctl accepts both;
  the keys of ``transform.env`` are user data and are never renamed;
- Pachyderm fields with a datavc equivalent are mapped onto it: top-level ``description``
  → ``pipeline.description``; ``parallelism_spec.constant`` → ``parallelism``;
  ``resource_requests``/``resource_limits`` → ``resources`` (one amount, used as both the
  request and the limit); Go durations (``"60s"``, ``"1h30m"``) → seconds;
- fields that change nothing here are accepted and dropped: ``pipeline.project`` and
  ``input.pfs.project`` when empty or ``default`` (a datavc store is one project);
  another ``input.pfs.project`` P reads the datavc repo ``P-<repo>`` (the input keeps the
  name ``<repo>``, as in Pachyderm);
  ``input.pfs.lazy`` and ``input.pfs.empty_files`` (datavc always copies the real files
  into the datum's input directory), and switches set to their "off" value;
- ``egress.URL`` and ``egress.object_storage.url`` become ``egress.url``; ``join_on`` with
  ``outer_join``, ``group`` with ``group_by``, ``transform.err_cmd``/``err_stdin``/``user``/
  ``secrets``, ``output_branch``, ``reprocess_spec``, ``datum_set_spec`` and
  ``autoscaling`` are datavc's own fields too (see ``datavc.pipelines.spec``);
- union members that share a name (Pachyderm stages either under ``/pfs/<name>``) keep
  it as their ``dir`` and get unique names (``images``, ``images-2``);
- fields datavc does not support are collected, each with its path and the datavc
  equivalent or "not supported yet", and refused together in one ``InvalidSpec``;
  fields nobody knows are left in place for the models to refuse as unknown.

datavc's own specs pass through unchanged (their keys are all snake_case already).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from datavc.names import NAME_RE

__all__ = ["normalize", "parse_duration"]

_CAMEL_RE = re.compile(r"(?<=[a-z0-9])([A-Z])")
_DURATION_RE = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)")
_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "μs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
_DEFAULT_PROJECTS = ("", "default")
_NOT_YET = "not supported yet"

# Pachyderm fields datavc refuses, with what to use instead. A field whose value is in
# ``_OFF`` is a no-op and accepted.
_TOP_UNSUPPORTED = {
    "s3_out": _NOT_YET + " (write the output as files under $DATAVC_OUT)",
    "spout": _NOT_YET + " (put data in from outside with 'datavc put', e.g. 'datavc put -i urls.txt')",
    "service": _NOT_YET + " ('datavc serve' serves repos over HTTP and S3)",
    "pod_spec": _NOT_YET + " (datavc builds the pod; set resource_requests/resource_limits or pod_patch)",
    "sidecar_resource_limits": _NOT_YET,
    "sidecar_resource_requests": _NOT_YET,
    "tf_job": _NOT_YET,
    "salt": _NOT_YET + " (to run every datum again use reprocess_spec: every_job or "
    "'datavc pipeline update --reprocess')",
    "metadata": _NOT_YET + " (use the top-level description)",
    "spec_commit": _NOT_YET,
    "determined": _NOT_YET,
    "update": "use 'datavc pipeline update -f'",
    "reprocess": "use 'datavc pipeline update --reprocess'",
    "dry_run": _NOT_YET + " (preview the datums with 'datavc datum list -f SPEC')",
}
_INPUT_UNSUPPORTED: dict[str, str] = {}
_PFS_UNSUPPORTED = {
    "commit": "datavc reads the branch head; pin data with a branch pointing at that commit",
    "repo_type": _NOT_YET,
    "s3": _NOT_YET + " (the transform reads its files under $DATAVC_IN)",
}
_TRANSFORM_UNSUPPORTED = {
    "debug": _NOT_YET + " (read the datums' output with 'datavc job logs')",
    "dockerfile": _NOT_YET + " (build the image and set transform.image)",
    "memory_volume": _NOT_YET,
}
_OFF: tuple[Any, ...] = (None, False, "", [], {})


class DurationError(ValueError):
    """A value that is not a Go-style duration."""


def parse_duration(value: str) -> float:
    """Seconds in a Go duration string such as ``"60s"``, ``"1h30m"`` or ``"500ms"``.

    Raises:
        DurationError: not a duration (Go's grammar: a sequence of a decimal number and a
            unit ``ns``, ``us``, ``ms``, ``s``, ``m`` or ``h``).
    """
    text = value.strip()
    pos, total = 0, 0.0
    for m in _DURATION_RE.finditer(text):
        if m.start() != pos:
            break
        total += float(m.group(1)) * _UNITS[m.group(2)]
        pos = m.end()
    if not text or pos != len(text):
        raise DurationError(f"invalid duration {value!r}: use a Go duration such as '60s', '1h30m', '500ms'")
    return total


def snake(key: str) -> str:
    """``joinOn`` → ``join_on``; a snake_case key is unchanged."""
    return _CAMEL_RE.sub(r"_\1", key).lower()


def normalize(data: Mapping[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """A Pachyderm (or datavc) spec as datavc's spec, and the problems found on the way.

    The problems name each unsupported field (``input.pfs.outer_join: not supported yet``);
    the returned document holds everything else, for the models to validate.
    """
    problems: list[str] = []
    doc = _snake_keys(data, "", problems)
    _top(doc, problems)
    return doc, problems


def _snake_keys(node: Any, path: str, problems: list[str]) -> Any:
    """Rename camelCase keys to snake_case, everywhere but inside ``env`` (user data)."""
    if isinstance(node, Mapping):
        out: dict[Any, Any] = {}
        for key, value in node.items():
            new = snake(key) if isinstance(key, str) else key
            where = f"{path}.{new}" if path else str(new)
            if new in out:
                problems.append(f"{where}: given twice (as {new!r} and in camelCase); keep one")
                continue
            out[new] = value if new == "env" else _snake_keys(value, where, problems)
        return out
    if isinstance(node, list):
        return [_snake_keys(v, f"{path}[{i}]", problems) for i, v in enumerate(node)]
    return node


def _refuse(node: dict[str, Any], table: Mapping[str, str], path: str, problems: list[str]) -> None:
    for key, hint in table.items():
        if key in node:
            value = node.pop(key)
            if value not in _OFF:
                problems.append(f"{path}{key}: {hint}")


def _top(doc: dict[str, Any], problems: list[str]) -> None:
    _refuse(doc, _TOP_UNSUPPORTED, "", problems)
    for key in ("egress", "datum_set_spec", "autoscaling", "output_branch"):
        if doc.get(key) in _OFF:
            doc.pop(key, None)  # Pachyderm writes unset fields as null, false or ""
    if isinstance(doc.get("egress"), dict):
        _egress(doc["egress"], problems)
    pipeline = doc.get("pipeline")
    if isinstance(pipeline, dict):
        _project(pipeline, "pipeline.", problems)
    if "description" in doc:
        description = doc.pop("description")
        if isinstance(pipeline, dict) and pipeline.get("description") not in (None, "", description):
            problems.append("description: given both here and as pipeline.description; keep one")
        elif isinstance(pipeline, dict):
            pipeline["description"] = description
        # else: the models report the missing or bad `pipeline`
    if "parallelism_spec" in doc:
        _parallelism(doc, problems)
    requests, limits = doc.pop("resource_requests", None), doc.pop("resource_limits", None)
    if requests is not None or limits is not None:
        if "resources" in doc:
            problems.append("resources: give either resources or resource_requests/resource_limits")
        merged: dict[str, Any] = {}
        for where, part in (("resource_requests", requests), ("resource_limits", limits)):
            if part is None:
                continue
            if not isinstance(part, Mapping):
                problems.append(f"{where}: must be a mapping")
                continue
            merged.update(part)  # a limit wins: datavc asks for one amount, as request and limit
        doc["resources"] = merged
    for key in ("datum_timeout", "job_timeout"):
        if isinstance(doc.get(key), str):
            try:
                doc[key] = parse_duration(doc[key])
            except DurationError as err:
                problems.append(f"{key}: {err}")
                doc.pop(key)
    transform = doc.get("transform")
    if isinstance(transform, dict):
        _refuse(transform, _TRANSFORM_UNSUPPORTED, "transform.", problems)
        if "image_pull_secrets" in transform:
            doc["image_pull_secrets"] = transform.pop("image_pull_secrets")
    _scheduling(doc, problems)
    if isinstance(doc.get("input"), dict):
        _input(doc["input"], "input", problems)


def _egress(egress: dict[str, Any], problems: list[str]) -> None:
    """``{URL: ...}`` or ``{object_storage: {url: ...}}`` → ``{url: ...}``; SQL egress is refused."""
    target = egress.pop("object_storage", None)
    if egress.pop("sql_database", None) not in _OFF:
        problems.append("egress.sql_database: " + _NOT_YET + " (egress goes to an s3:// URL)")
    if isinstance(target, Mapping):
        if egress.get("url") not in (None, "", target.get("url")):
            problems.append("egress: give either URL or object_storage.url")
        egress["url"] = target.get("url")
    elif target not in _OFF:
        problems.append("egress.object_storage: must be a mapping such as {url: 's3://bucket/dir'}")
    if egress.get("url") in (None, ""):
        egress.pop("url", None)


def _scheduling(doc: dict[str, Any], problems: list[str]) -> None:
    """``scheduling_spec`` becomes ``node_selector``/``priority_class_name``; a ``pod_patch``
    given as JSON text (Pachyderm's form) becomes the list it holds."""
    sched = doc.pop("scheduling_spec", None)
    if isinstance(sched, Mapping):
        for key in ("node_selector", "priority_class_name"):
            if key in sched:
                doc.setdefault(key, sched[key])
        for key in sched:
            if key not in ("node_selector", "priority_class_name"):
                problems.append(f"scheduling_spec.{key}: unknown field")
    elif sched is not None:
        problems.append("scheduling_spec: must be a mapping")
    patch = doc.get("pod_patch")
    if isinstance(patch, str):
        try:
            doc["pod_patch"] = json.loads(patch) if patch.strip() else []
        except ValueError as err:
            problems.append(f"pod_patch: not a JSON patch: {err}")
            doc.pop("pod_patch")


def _parallelism(doc: dict[str, Any], problems: list[str]) -> None:
    spec = doc.pop("parallelism_spec")
    if not isinstance(spec, Mapping):
        problems.append("parallelism_spec: must be a mapping such as {constant: 2}")
        return
    spec = dict(spec)
    constant = spec.pop("constant", None)
    if spec.pop("coefficient", None) not in _OFF:
        problems.append("parallelism_spec.coefficient: not supported yet (use parallelism_spec.constant)")
    for key in spec:
        problems.append(f"parallelism_spec.{key}: unknown field")
    if constant is not None:
        if "parallelism" in doc:
            problems.append("parallelism: give either parallelism or parallelism_spec.constant")
        doc["parallelism"] = constant


def _project(node: dict[str, Any], path: str, problems: list[str]) -> None:
    if "project" not in node:
        return
    project = node.pop("project")
    name = project.get("name", "") if isinstance(project, Mapping) else project
    if name not in _DEFAULT_PROJECTS:
        problems.append(
            f"{path}project: datavc has no projects (a store is one project); "
            f"drop it or use 'default', got {name!r}"
        )


def _input_project(pfs: dict[str, Any]) -> None:
    """``{project: P, repo: R}`` with P not the default reads datavc repo ``P-R``; the input
    keeps the name ``R`` (the directory Pachyderm code reads), as in Pachyderm."""
    project = pfs.get("project")
    name = project.get("name", "") if isinstance(project, Mapping) else project
    repo = pfs.get("repo")
    if (
        isinstance(name, str)
        and name not in _DEFAULT_PROJECTS
        and NAME_RE.fullmatch(name)
        and isinstance(repo, str)
        and NAME_RE.fullmatch(f"{name}-{repo}")
    ):
        pfs.pop("project")
        pfs.setdefault("name", repo)
        pfs["repo"] = f"{name}-{repo}"


def _input(node: dict[str, Any], path: str, problems: list[str]) -> None:
    before = len(problems)
    _refuse(node, _INPUT_UNSUPPORTED, f"{path}.", problems)
    if len(problems) > before and not node:
        # The whole input was refused: stand in a placeholder so the models do not also
        # report it as empty (the refusal already names it); the spec is refused anyway.
        node["pfs"] = {"repo": "refused", "glob": "/", "name": f"refused{before}"}
    pfs = node.get("pfs")
    if isinstance(pfs, dict):
        where = f"{path}.pfs."
        _input_project(pfs)
        _project(pfs, where, problems)
        for key in ("lazy", "empty_files"):
            if key in pfs and not isinstance(pfs.pop(key), bool):
                problems.append(f"{where}{key}: must be true or false")
        _refuse(pfs, _PFS_UNSUPPORTED, where, problems)
    for kind in ("cross", "union", "join", "group"):
        children = node.get(kind)
        if isinstance(children, list):
            for i, child in enumerate(children):
                if isinstance(child, dict):
                    _input(child, f"{path}.{kind}[{i}]", problems)
    if isinstance(node.get("union"), list):
        _share_union_names(node["union"])


def _share_union_names(members: list[Any]) -> None:
    """Union members sharing a name (Pachyderm's way to see either under one directory)
    keep that directory as ``dir`` and get unique names ``<name>-2``, ``<name>-3``...:
    datavc keys input commits by name."""
    pfs = [m["pfs"] for m in members if isinstance(m, dict) and isinstance(m.get("pfs"), dict)]
    names = [p.get("name") or p.get("repo") for p in pfs]
    taken = {n for n in names if isinstance(n, str)}
    seen: set[str] = set()
    for p, name in zip(pfs, names, strict=True):
        if not isinstance(name, str) or "dir" in p:
            continue
        if name not in seen:
            seen.add(name)
            if names.count(name) > 1:
                p["dir"] = name
            continue
        n = 2
        while f"{name}-{n}" in taken:
            n += 1
        p["name"], p["dir"] = f"{name}-{n}", name
        taken.add(p["name"])
