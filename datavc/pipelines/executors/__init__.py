"""Where datums run: ``local`` (subprocesses) and, later, ``kubernetes``."""
