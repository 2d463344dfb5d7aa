"""Choosing an executor: the kubernetes one needs the optional ``kubernetes`` extra."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from datavc import Client

# Run the CLI with the kubernetes package made unimportable, as in an install without the extra.
PROBE = """
import sys
sys.modules["kubernetes"] = None
from datavc.cli import main
main(sys.argv[1:])
"""


def test_kubernetes_executor_without_the_extra_names_it(tmp_path: Path) -> None:
    with Client.init(tmp_path / "store"):
        pass
    env = {**os.environ, "DATAVC_HOME": str(tmp_path / "store"), "DATAVC_EXECUTOR": "kubernetes"}
    done = subprocess.run(
        [sys.executable, "-c", PROBE, "run"], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert done.stderr == (
        "error: the kubernetes executor needs the kubernetes package, which is not installed: "
        "pip install 'datavc[kubernetes]'\n"
    )


def test_local_executor_runs_without_the_extra(tmp_path: Path) -> None:
    with Client.init(tmp_path / "store"):
        pass
    env = {**os.environ, "DATAVC_HOME": str(tmp_path / "store"), "DATAVC_EXECUTOR": "local"}
    done = subprocess.run(
        [sys.executable, "-c", PROBE, "run"], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, (done.stdout, done.stderr)
