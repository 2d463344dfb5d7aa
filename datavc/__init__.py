"""datavc: version control and lineage for data."""

__version__ = "0.1.0"
