"""Hostile tree objects: names that would escape a directory never reach the disk.

Each case writes tree objects straight into the object store (valid bytes under their own
id, as any writer with object-store access can) and points a commit at them. Every command
that materialises files (``get -o``, ``checkout`` fresh and as an update, local pipeline
staging, the Kubernetes worker's staging) must fail with exit 6 naming the bad tree, leave
the canary files around it untouched and write nothing outside its target; ``fsck``
must report the tree.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner

from datavc.cli import main
from datavc.client import Client
from datavc.errors import Integrity
from datavc.pipelines.datums import Datum, DatumFile
from datavc.pipelines.executors.local import run_datum, stage
from datavc.pipelines.spec import PipelineSpec
from storage.model import DIR, Entry
from tests.datavc.crafting import PAYLOAD, commit_with_tree, dir_item, file_item, page, put_raw

CANARY = b"canary: must survive\n"


@dataclass
class Crafted:
    """A crafted tree: the commit's root and the id of the tree object that holds the bad entry."""

    root: str
    bad: str


def _chain(client: Client, names: list[str], leaf: list[object]) -> Crafted:
    """Directories ``names[0]/names[1]/...`` holding ``leaf``; the deepest tree is the bad one."""
    tree = put_raw(client, page([leaf]))
    bad = tree
    for name in reversed(names):
        tree = put_raw(client, page([dir_item(client, name, tree)]))
    return Crafted(tree, bad)


def craft(client: Client, case: str, tmp: Path) -> Crafted:
    """One hostile tree per case; absolute names point into ``tmp`` so an escape is visible."""
    if case == "256-byte name":
        return _chain(client, [], file_item(client, "n" * 256))
    if case == "path over 4096 bytes":
        # every name is valid (255 bytes); only the path they add up to is too long
        return _long_path(client)
    if case == "deeper than 256 levels":
        return _deep_path(client)
    if case.startswith("dir "):  # a directory entry with a bad name, holding a valid file
        inner = put_raw(client, page([file_item(client, "x")]))
        tree = put_raw(client, page([dir_item(client, _name(case[4:], tmp), inner)]))
        return Crafted(tree, tree)
    if case.startswith("nested "):  # the bad file one level down: the sub-tree is the bad one
        return _chain(client, ["sub"], file_item(client, _name(case[7:], tmp)))
    return _chain(client, [], file_item(client, _name(case, tmp)))


def _name(case: str, tmp: Path) -> str:
    return {
        "..": "..",
        ".": ".",
        "../x": "../x",
        "../../x": "../../x",
        "absolute": str(tmp / "abs-canary" / "x"),
        "a/b": "a/b",
        "empty": "",
        "NUL": "a\x00b",
        "newline": "a\nb",
        "ESC": "a\x1b[31mb",
        "DEL": "a\x7fb",
        "C1": "a\x9bb",
    }[case]


def _long_path(client: Client) -> Crafted:
    # 16 directories of 255-byte names make a 4095-byte path; the file below is 4097 bytes
    names = [f"{i:02d}" + "d" * 253 for i in range(16)]
    return _chain(client, names, file_item(client, "f"))


def _deep_path(client: Client) -> Crafted:
    return _chain(client, ["d"] * 256, file_item(client, "f"))  # the file is 257 levels deep


CASES = [
    "..",
    ".",
    "../x",
    "../../x",
    "absolute",
    "a/b",
    "empty",
    "NUL",
    "newline",
    "ESC",
    "DEL",
    "C1",
    "256-byte name",
    "path over 4096 bytes",
    "deeper than 256 levels",
    "dir ..",
    "dir absolute",
    "dir ../x",
    "nested ..",
    "nested ../x",
]


@pytest.fixture
def world(tmp_path: Path) -> Iterator[tuple[Client, Path]]:
    """A store in ``tmp_path/store`` and a sandbox ``tmp_path/box`` for targets and canaries."""
    box = tmp_path / "box"
    (box / "abs-canary").mkdir(parents=True)
    with Client.init(tmp_path / "store") as c:
        yield c, box


def _plant_canaries(box: Path) -> list[Path]:
    """Canary files in every directory a target below ``box/t/`` could escape to."""
    paths = [box / "canary", box / "abs-canary" / "canary", box.parent / "canary", box / "t" / "canary"]
    for p in paths:
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(CANARY)
    return paths


def _snapshot(box: Path) -> dict[str, bytes | None]:
    """Every path under the sandbox's parent except the target and the store: what must not change."""
    out: dict[str, bytes | None] = {}
    for p in sorted(box.parent.rglob("*")):
        rel = p.relative_to(box.parent)
        if rel.parts[0] == "store" or rel.parts[:2] == ("box", "t"):
            continue
        out[str(rel)] = None if p.is_dir() else p.read_bytes()
    return out


def _assert_untouched(box: Path, before: dict[str, bytes | None], canaries: list[Path]) -> None:
    for c in canaries:
        assert c.read_bytes() == CANARY, c
    assert _snapshot(box) == before
    store = box.parent / "store"
    leaked = [p for p in box.parent.rglob("*") if p.is_file() and p.read_bytes() == PAYLOAD]
    assert all(box / "t" in p.parents or store in p.parents for p in leaked), leaked


def _cli(home: Path, *args: str | Path) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, ["--home", str(home), *map(str, args)], catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def _assert_integrity_error(code: int, stderr: str, bad: str) -> None:
    assert code == 6, stderr
    assert stderr.startswith("error: ") and stderr.count("\n") == 1, stderr
    assert bad in stderr and "Traceback" not in stderr


@pytest.mark.parametrize("case", CASES)
def test_get_o_refuses_a_crafted_tree(world: tuple[Client, Path], case: str) -> None:
    client, box = world
    crafted = craft(client, case, box)
    client.create_repo("r")
    commit_with_tree(client, "r", crafted.root)
    canaries = _plant_canaries(box)
    before = _snapshot(box)
    code, _, err = _cli(client.config.home.parent, "get", "r@main:/", "-o", box / "t" / "out")
    _assert_integrity_error(code, err, crafted.bad)
    _assert_untouched(box, before, canaries)


@pytest.mark.parametrize("case", CASES)
def test_checkout_refuses_a_crafted_tree(world: tuple[Client, Path], case: str) -> None:
    client, box = world
    crafted = craft(client, case, box)
    client.create_repo("r")
    client.put_file("r", "main", "/ok.txt", b"ok\n")
    canaries = _plant_canaries(box)
    home = client.config.home.parent
    # an existing checkout updated to the crafted commit (the diff path) ...
    assert _cli(home, "checkout", "r@main", box / "t" / "co")[0] == 0
    commit_with_tree(client, "r", crafted.root)
    before = _snapshot(box)
    code, _, err = _cli(home, "checkout", "r@main", box / "t" / "co")
    _assert_integrity_error(code, err, crafted.bad)
    _assert_untouched(box, before, canaries)
    # ... and a fresh one
    code, _, err = _cli(home, "checkout", "r@main", box / "t" / "fresh")
    _assert_integrity_error(code, err, crafted.bad)
    _assert_untouched(box, before, canaries)


@pytest.mark.parametrize("case", CASES)
def test_fsck_reports_a_crafted_tree(world: tuple[Client, Path], case: str) -> None:
    client, box = world
    crafted = craft(client, case, box)
    client.create_repo("r")
    client.put_file("r", "main", "/good.txt", b"good\n")
    commit_with_tree(client, "r", crafted.root)
    report = client.fsck()
    assert not report.ok
    assert any(crafted.bad in t for t in report.bad_trees), report.bad_trees
    code, out, err = _cli(client.config.home.parent, "fsck")
    assert code == 6 and crafted.bad in out and "ok" not in out.splitlines()[-1], (out, err)


def _datum(client: Client, crafted: Crafted) -> Datum:
    entry = Entry("", DIR, 0, crafted.root, (), 0)  # not loaded here: staging meets the tree first
    return Datum((DatumFile("in", "r", "0" * 32, "", entry),), "d" * 64)


@pytest.mark.parametrize("case", CASES)
def test_local_staging_refuses_a_crafted_tree(world: tuple[Client, Path], case: str) -> None:
    client, box = world
    crafted = craft(client, case, box)
    canaries = _plant_canaries(box)
    before = _snapshot(box)
    in_dir = box / "t" / "in"
    in_dir.mkdir(parents=True)
    with pytest.raises(Integrity, match=crafted.bad):
        stage(client.context, _datum(client, crafted), in_dir)
    _assert_untouched(box, before, canaries)


@pytest.mark.parametrize(
    "case", ["..", "../x", "absolute", "dir ..", "nested ../x", "deeper than 256 levels"]
)
def test_worker_staging_refuses_a_crafted_tree(world: tuple[Client, Path], case: str) -> None:
    """The worker stages into its pod's ``/pfs`` (``pfs_root``): the same rules hold there."""
    client, box = world
    crafted = craft(client, case, box)
    canaries = _plant_canaries(box)
    before = _snapshot(box)
    spec = PipelineSpec.create(
        "p", {"pfs": {"repo": "r", "glob": "/", "name": "in"}}, {"cmd": ["sh", "-c", "touch $DATAVC_OUT/ran"]}
    )
    scratch = box / "t" / "scratch"
    scratch.mkdir(parents=True)
    with pytest.raises(Integrity, match=crafted.bad):
        run_datum(client.context, spec, "job", _datum(client, crafted), scratch, pfs_root=box / "t" / "pfs")
    _assert_untouched(box, before, canaries)
    assert not list((box / "t").rglob("ran"))  # the transform never ran on a corrupt input


def test_a_valid_tree_written_the_same_way_is_accepted(world: tuple[Client, Path]) -> None:
    """The crafting helpers make trees the store accepts when the names are good."""
    client, box = world
    tree = put_raw(client, page([file_item(client, "ok.txt")]))
    root = put_raw(client, page([dir_item(client, "sub", tree)]))
    client.create_repo("r")
    commit_with_tree(client, "r", root)
    assert client.get_to_path("r", "main", "/", box / "t" / "out") == 1
    assert (box / "t" / "out" / "sub" / "ok.txt").read_bytes() == PAYLOAD
    assert client.fsck().ok
