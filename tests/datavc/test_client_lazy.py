"""The Client imports the pipelines service (pydantic, PyYAML) only when a pipeline method is called."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from datavc import Client

PROBE = """
import sys
from datavc.cli import main
try:
    main(sys.argv[1:], standalone_mode=False)
finally:
    print("pydantic" in sys.modules, "datavc.pipelines.pipelines" in sys.modules, file=sys.stderr)
"""


def probe(home: Path, *args: str) -> str:
    env = {**os.environ, "DATAVC_HOME": str(home)}
    done = subprocess.run(
        [sys.executable, "-c", PROBE, *args], env=env, capture_output=True, text=True, check=True
    )
    return done.stderr.strip().splitlines()[-1]


def test_ls_does_not_import_pipelines_but_a_pipeline_command_does(tmp_path: Path) -> None:
    with Client.init(tmp_path / "store") as c:
        c.create_repo("r")
        c.put_file("r", "main", "/a", b"a")
    home = tmp_path / "store"
    assert probe(home, "ls", "r@main") == "False False"
    assert probe(home, "pipeline", "list") == "True True"
