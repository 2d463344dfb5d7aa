"""datavc: version control and lineage for data.

``datavc.Client`` is the Python API (see ``help(datavc.Client)``); errors are in
``datavc.errors``. Importing ``datavc`` is cheap: the client loads on first use. A batched
transform iterates ``datavc.datums()`` (``datavc.batching``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from datavc.batching import datums
    from datavc.client import Client, CommitTransaction

__all__ = ["Client", "CommitTransaction", "__version__", "datums"]


def __getattr__(name: str) -> Any:
    if name in ("Client", "CommitTransaction"):
        from datavc import client

        return getattr(client, name)
    if name == "datums":
        from datavc.batching import datums

        return datums
    raise AttributeError(f"module 'datavc' has no attribute {name!r}")
