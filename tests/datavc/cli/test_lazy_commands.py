"""A fast CLI start: ``datavc ls`` imports only what it needs, and commands load lazily."""

from __future__ import annotations

from pathlib import Path

import pytest

from datavc import Client
from datavc.cli import COMMAND_INDEX, COMMAND_MODULES, all_commands, command_module
from tests.datavc.helpers import cli_modules

#: What a plain listing must not load: each costs tens to hundreds of milliseconds.
HEAVY = ("boto3", "botocore", "kubernetes", "fastapi", "pydantic", "sqlalchemy", "alembic", "rich", "yaml")
#: Nor these, each a few milliseconds of every start (more where sources are compiled on
#: each run): logging (with concurrent.futures), hashlib (OpenSSL; an xxh3 store needs none),
#: the two dozen ``...Info`` classes, and the command modules that upload or commit.
LIGHT_PATH_NEVER = (
    "logging",
    "concurrent",
    "hashlib",
    "secrets",
    "datavc.info",
    "datavc.commit_metadata",
    "datavc.cli.files",
    "datavc.cli.workdir",
    "datavc.cli.meta",
    "datavc.cli.triggered",
    "storage.cache",
)


def _not_light(modules: set[str]) -> list[str]:
    """The modules loaded that a light ``ls`` or ``status`` must not load."""
    return sorted(
        m
        for m in modules
        if m.split(".")[0] in HEAVY or any(m == n or m.startswith(n + ".") for n in LIGHT_PATH_NEVER)
    )


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("lazy") / "store"
    with Client.init(root) as c:
        c.create_repo("r")
        c.put_file("r", "main", "/d/a.txt", b"a")
        c.checkout("r", "main", root.parent / "co")
    return root


def test_a_plain_ls_imports_no_heavy_library(home: Path) -> None:
    out, modules = cli_modules(home, "ls", "r@main:/d")
    assert "/d/a.txt" in out
    assert _not_light(modules) == []
    assert not [m for m in modules if m.startswith(("datavc.pipelines", "datavc.server", "datavc.client"))]
    cli = {m for m in modules if m.startswith("datavc.cli.")}
    assert "datavc.cli.auth" not in cli and "datavc.cli.jobs" not in cli


def test_status_of_a_clean_checkout_imports_no_heavy_library(home: Path) -> None:
    co = home.parent / "co"
    out, modules = cli_modules(home, "status", str(co))
    assert "nothing to commit" in out
    assert _not_light(modules) == []
    (co / "d" / "new.txt").write_text("new")
    out, _ = cli_modules(home, "status", str(co))
    assert "A /d/new.txt" in out
    (co / "d" / "new.txt").unlink()


def test_ls_of_something_light_reads_decline_still_works(home: Path) -> None:
    out, modules = cli_modules(home, "ls", "r@main~0:/d")
    assert "/d/a.txt" in out
    assert "sqlalchemy" in modules  # the full client answered


def test_the_command_index_names_every_command() -> None:
    commands = all_commands()
    assert set(COMMAND_INDEX) == set(commands)
    for name, module in COMMAND_INDEX.items():
        assert commands[name] in command_module(module).COMMANDS
    assert set(COMMAND_INDEX.values()) <= set(COMMAND_MODULES)
