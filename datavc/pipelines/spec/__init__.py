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

The package splits by concept: ``inputs`` (pfs inputs and their combinations),
``transform`` (what runs), ``resources`` (where and how it runs), ``pipeline`` (the whole
spec), ``text`` (reading bounded YAML/JSON), ``problems`` (error messages) and ``fields``
(shared field types). Pachyderm's field names are mapped in ``datavc.pipelines.pachyderm``.
"""

from datavc.pipelines.spec.inputs import CronTick, Input, PfsInput, Trigger
from datavc.pipelines.spec.pipeline import Egress, PipelineMeta, PipelineSpec
from datavc.pipelines.spec.problems import InvalidSpec
from datavc.pipelines.spec.resources import DatumSetSpec, Gpu, Resources, Sandbox
from datavc.pipelines.spec.text import MAX_DEPTH, MAX_SPEC_BYTES, MAX_VALUES
from datavc.pipelines.spec.transform import Secret, Transform

__all__ = [
    "MAX_DEPTH",
    "MAX_SPEC_BYTES",
    "MAX_VALUES",
    "CronTick",
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
    "Trigger",
]
