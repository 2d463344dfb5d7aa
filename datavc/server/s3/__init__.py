"""The S3-compatible gateway of ``datavc serve``: bucket = repo, key = ``<ref>/<path>``."""
