"""Incremental planning (datavc.pipelines.incremental) equals a full plan, datum for datum.

Random edits (files added, modified, deleted, at several levels) land on two repos read
by pipelines of every input kind (globs of several levels, ``**``, ``/``, cross, union,
join, outer join, group). After each round, every job must have recorded exactly the
datums a full plan computes, and committed the tree a full merge of its datums gives.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from datavc.client import Client
from datavc.db.models import Commit, Job
from datavc.db.models import Datum as DatumRow
from datavc.pipelines import incremental, runner
from datavc.pipelines.datums import compute_datums
from datavc.pipelines.spec import PipelineSpec
from tests.datavc.helpers import open_deployment
from tests.datavc.pipelines.helpers import run_ok, sh

# One output file per datum, under a directory named after the datum id's first character
# (a datum dropped can empty a directory), holding the staged paths and their contents.
PER_DATUM = (
    'd="$DATAVC_OUT/$(printf %s "$DATAVC_DATUM_ID" | cut -c1)"; mkdir -p "$d"; cd "$DATAVC_IN" && '
    'find . -type f | sort | while read -r f; do echo "$f"; cat "$f"; done > "$d/$DATAVC_DATUM_ID"'
)
# Every datum also writes one shared (empty) file: outputs overlap, so the full merge decides.
SHARED = PER_DATUM + '; : > "$DATAVC_OUT/shared"'

INPUTS: dict[str, dict[str, Any]] = {
    "two-levels": {"pfs": {"repo": "a", "glob": "/*/*"}},
    "deep-files": {"pfs": {"repo": "a", "glob": "/d1/**"}},
    "whole": {"pfs": {"repo": "b", "glob": "/"}},
    "crossed": {"cross": [{"pfs": {"repo": "a", "glob": "/*"}}, {"pfs": {"repo": "b", "glob": "/*"}}]},
    "unioned": {
        "union": [
            {"pfs": {"repo": "a", "glob": "/*/*/*"}},
            {"pfs": {"repo": "b", "glob": "/*", "name": "bb"}},
        ]
    },
    "joined": {
        "join": [
            {"pfs": {"repo": "a", "glob": "/*/(*)", "join_on": "$1", "outer_join": True}},
            {"pfs": {"repo": "b", "glob": "/(*)", "join_on": "$1"}},
        ]
    },
    "grouped": {
        "group": [
            {"pfs": {"repo": "a", "glob": "/*/(*)", "group_by": "$1"}},
            {"pfs": {"repo": "b", "glob": "/(*)", "group_by": "$1"}},
        ]
    },
    "cross-union": {
        "cross": [
            {
                "union": [
                    {"pfs": {"repo": "a", "glob": "/d0/*"}},
                    {"pfs": {"repo": "a", "glob": "/d2/*", "name": "a2"}},
                ]
            },
            {"pfs": {"repo": "b", "glob": "/f[0-2]"}},
        ]
    },
}
NAMES = ["f0", "f1", "f2", "f3"]


@pytest.fixture(params=["sqlite+local", "postgresql+local"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Client]:
    c = open_deployment(request.param, tmp_path / "store", request)
    yield c
    c.close()


def _random_path(rng: random.Random) -> str:
    depth = rng.choice([1, 2, 2, 3])
    return (
        "/".join(rng.choice(["d0", "d1", "d2"]) for _ in range(depth - 1))
        + "/" * (depth > 1)
        + rng.choice(NAMES)
    )


def _edit(c: Client, repo: str, rng: random.Random, flat: bool) -> None:
    """A few random adds, modifications and deletions in one commit (never a file where a
    directory is, which a commit refuses)."""
    existing = [f.path.lstrip("/") for f in c.walk_files(repo, "main")]
    with c.commit(repo, "main") as tx:
        for _ in range(rng.randint(1, 3)):
            op = rng.random()
            if existing and op < 0.3:
                victim = rng.choice(existing)
                existing.remove(victim)
                tx.delete_file("/" + victim)
            else:
                path = rng.choice(NAMES) if flat else _random_path(rng)
                if any(p.startswith(path + "/") or path.startswith(p + "/") for p in existing):
                    continue
                tx.put_file("/" + path, f"{path} {rng.random()}\n".encode())
                existing.append(path)


def _check_jobs_equal_full_plans(c: Client, seen: set[str]) -> None:
    """Every new successful job recorded the datums of a full plan and committed a full merge."""
    ctx = c.context
    with ctx.db.read() as s:
        done = s.execute(select(Job.id, Commit.tree).join(Commit, Commit.id == Job.output_commit_id)).all()
    for job_id, tree in done:
        if job_id in seen:
            continue
        seen.add(job_id)
        spec, inputs, _, _, _ = runner.load_job(ctx, job_id)
        full = {d.hash for d in runner.job_datums(ctx, spec, inputs)}
        with ctx.db.read() as s:
            recorded = set(s.scalars(select(DatumRow.datum_hash).where(DatumRow.job_id == job_id)))
        assert recorded == full, f"job {job_id} of {spec.name}: datums differ from a full plan"
        merged, _ = runner._merge_outputs(ctx, job_id)
        assert tree == merged, f"job {job_id} of {spec.name}: output tree differs from a full merge"


def _seed(c: Client) -> None:
    c.create_repo("a")
    c.create_repo("b")
    with c.commit("a", "main") as tx:
        for i in range(6):
            tx.put_file(f"/d{i % 3}/d{i % 2}/f{i % 4}", f"a{i}\n".encode())
            tx.put_file(f"/d{i % 3}/f{i % 4}", f"a{i}\n".encode())
    with c.commit("b", "main") as tx:
        for name in NAMES[:3]:
            tx.put_file(f"/{name}", f"b {name}\n".encode())


def _heads(c: Client) -> dict[str, tuple[str, str, str]]:
    ctx = c.context
    out = {}
    for repo in ("a", "b"):
        head = c.inspect_commit(repo, "main").id
        with ctx.db.read() as s:
            tree = s.scalar(select(Commit.tree).where(Commit.id == head))
        assert tree is not None
        out[repo] = (repo, head, tree)
    return out


def test_the_diff_plan_is_a_full_plan_on_random_edits(tmp_path: Path) -> None:
    """Planning only: random edits, every input kind, no transform run."""
    rng = random.Random(1616)
    specs = [
        PipelineSpec.create(name, input=node, transform={"cmd": ["true"]}) for name, node in INPUTS.items()
    ]
    with Client.init(tmp_path / "store") as c:
        _seed(c)
        trees = c.context.store.trees
        old = _heads(c)
        sizes = []
        for _ in range(8):
            for repo in rng.sample(["a", "b"], rng.randint(1, 2)):
                _edit(c, repo, rng, flat=repo == "b" and rng.random() < 0.5)
            new = _heads(c)
            for spec in specs:
                before = {p.name: old[p.repo] for p in spec.inputs()}
                after = {p.name: new[p.repo] for p in spec.inputs()}
                full_old = {d.hash for d in compute_datums(trees, spec, before)}
                full_new = compute_datums(trees, spec, after)
                got = incremental.diff_datums(trees, spec, before, after)
                assert got is not None
                touched, dropped = got
                assert (full_old - dropped) | {d.hash for d in touched} == {d.hash for d in full_new}, (
                    spec.name
                )
                by_hash = {d.hash: d for d in full_new}
                assert all(by_hash[d.hash] == d for d in touched), spec.name  # same files, commits
                assert touched == [d for d in full_new if d.hash in {t.hash for t in touched}]  # same order
                if spec.name == "two-levels":
                    sizes.append((len(touched), len(full_new)))
            old = new
        # The point: a few edits touch a few datums, not all of them.
        assert sum(t for t, _ in sizes) < sum(n for _, n in sizes) / 2


def test_incremental_jobs_record_full_plans_and_commit_full_merges(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """End to end: what each job recorded and committed equals a full plan and a full merge."""
    planned: list[tuple[str, bool]] = []
    real_plan = incremental.plan_job

    def spy(*args: Any, **kwargs: Any) -> incremental.Plan | None:
        got = real_plan(*args, **kwargs)
        planned.append((args[3].name, got is not None))
        return got

    monkeypatch.setattr(incremental, "plan_job", spy)
    rng = random.Random(16)
    with Client.init(tmp_path / "store") as c:
        _seed(c)
        for name in ("crossed", "joined"):
            c.create_pipeline(name=name, input=INPUTS[name], transform={"cmd": sh(PER_DATUM)})
        shared = {"pfs": {"repo": "b", "glob": "/*"}}
        c.create_pipeline(name="shared", input=shared, transform={"cmd": sh(SHARED)})
        run_ok(c)
        seen: set[str] = set()
        _check_jobs_equal_full_plans(c, seen)
        for _ in range(1):  # two chained jobs each: after a's commit, after b's
            _edit(c, "a", rng, flat=False)
            _edit(c, "b", rng, flat=True)
            run_ok(c)
            _check_jobs_equal_full_plans(c, seen)
    took = {name for name, yes in planned if yes}
    # Each planned incrementally; the shared-output one never can (outputs overlap, so no
    # job of it is disjoint).
    assert took == {"crossed", "joined"}, planned


def test_a_spec_change_or_every_job_plans_in_full(store: Client, monkeypatch: pytest.MonkeyPatch) -> None:
    planned: list[bool] = []
    real_plan = incremental.plan_job

    def spy(*args: Any, **kwargs: Any) -> incremental.Plan | None:
        got = real_plan(*args, **kwargs)
        planned.append(got is not None)
        return got

    monkeypatch.setattr(incremental, "plan_job", spy)
    with store as c:
        c.create_repo("a")
        for i in range(3):
            c.put_file("a", "main", f"/f{i}", b"x\n")
        c.create_pipeline(name="p", input=INPUTS["crossed"]["cross"][0], transform={"cmd": sh(PER_DATUM)})
        run_ok(c)
        c.put_file("a", "main", "/f0", b"changed\n")
        run_ok(c)
        assert planned == [False, True]
        assert c.list_jobs("p", limit=1)[0].datums_processed == 1
        # A new transform: every datum's hash changes; the previous job is not this spec's.
        c.update_pipeline(
            name="p", input=INPUTS["crossed"]["cross"][0], transform={"cmd": sh(PER_DATUM + ";")}
        )
        run_ok(c)
        assert planned[-1] is False
        assert c.list_jobs("p", limit=1)[0].datums_processed == 3
        c.update_pipeline(
            name="p",
            input=INPUTS["crossed"]["cross"][0],
            transform={"cmd": sh(PER_DATUM + ";")},
            reprocess_spec="every_job",
        )
        run_ok(c)
        c.put_file("a", "main", "/f1", b"changed\n")
        run_ok(c)
        assert planned[-2:] == [False, False]
        assert c.list_jobs("p", limit=1)[0].datums_processed == 3
