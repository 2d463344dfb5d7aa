"""How and where workers run: Kubernetes resources, the local sandbox, datum sets.

None of these go into a datum hash: changing them reprocesses no datum.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field, SerializerFunctionWrapHandler, StrictBool, StrictInt, StrictStr, model_serializer

from datavc.pipelines.spec.fields import CpuQuantity, Frozen, MemoryQuantity

__all__ = ["DatumSetSpec", "Gpu", "Resources", "Sandbox"]


class Gpu(Frozen):
    """GPUs per worker: ``number`` of the extended resource ``type`` (e.g. ``nvidia.com/gpu``)."""

    type: Annotated[StrictStr, Field(min_length=1)] | None = None  # None: the executor's gpu_resource
    number: Annotated[StrictInt, Field(ge=0)]

    @model_serializer(mode="wrap")
    def _drop_unset(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        data: dict[str, Any] = handler(self)
        if data.get("type") is None:
            data.pop("type", None)
        return data


class Resources(Frozen):
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


class Sandbox(Frozen):
    """How the local executor confines a transform (bubblewrap; see docs/security.md).

    Attributes:
        network: whether the transform may use the network (its own empty network
            namespace when false).
    """

    network: StrictBool = True


class DatumSetSpec(Frozen):
    """Pachyderm's ``datum_set_spec``: accepted; datavc schedules datums one at a time (locally)
    or in shards of the job (Kubernetes), so it changes nothing here."""

    number: Annotated[StrictInt, Field(ge=0)] = 0
    size_bytes: Annotated[StrictInt, Field(ge=0)] = 0
    per_worker: Annotated[StrictInt, Field(ge=0)] = 0
