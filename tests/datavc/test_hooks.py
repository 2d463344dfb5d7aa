"""Hooks (``datavc/hooks.py``): pre-commit and pre-merge hooks that pass, fail, time out or crash;
post-commit and post-merge notifications; the example hook that refuses a changed CSV header."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from datavc import hooks
from datavc.client import Client
from datavc.errors import AlreadyExists, InvalidArgument, NotFound
from datavc.hooks import HookRefused
from tests.datavc.helpers import snapshot_state

#: The example from docs/collaboration.md: refuse a commit that changes any CSV's header.
SAME_HEADERS = """
import os, pathlib, sys
new, old = pathlib.Path(os.environ["DATAVC_COMMIT_DIR"]), pathlib.Path(os.environ["DATAVC_BASE_DIR"])
bad = []
for f in sorted(new.rglob("*.csv")):
    before = old / f.relative_to(new)
    if before.exists():
        h0, h1 = before.read_text().split("\\n", 1)[0], f.read_text().split("\\n", 1)[0]
        if h0 != h1:
            bad.append(f"{f.relative_to(new)}: header {h0!r} became {h1!r}")
print("\\n".join(bad) or "headers unchanged")
sys.exit(1 if bad else 0)
"""


@pytest.fixture
def api(tmp_path: Path) -> Iterator[Client]:
    """A SQLite store (hooks on PostgreSQL, direct and remote: tests/datavc/server/test_contract_merge.py)."""
    c = Client.init(tmp_path / "store")
    yield c
    hooks.wait_notifications(30)
    c.close()


def test_pre_commit_hook_refuses_a_changed_csv_header_and_records_its_result(api: Client) -> None:
    api.create_repo("r")
    api.put_file("r", "main", "/people.csv", b"id,name\n1,ana\n")
    api.add_hook("r", "headers", "pre-commit", cmd=[sys.executable, "-c", SAME_HEADERS], branches="ma*")
    ok = api.put_file("r", "main", "/people.csv", b"id,name\n1,ana\n2,bob\n")
    (res,) = api.hook_results("r", ok.id)
    assert (res.hook, res.event, res.passed, res.exit_code) == ("headers", "pre-commit", True, 0)
    assert "headers unchanged" in res.log
    before = snapshot_state(api)
    with pytest.raises(HookRefused) as err:
        api.put_file("r", "main", "/people.csv", b"id,full_name\n1,ana\n")
    msg = str(err.value)
    assert "pre-commit hook 'headers' refused r@main (exit 1)" in msg
    assert "people.csv: header 'id,name' became 'id,full_name'" in msg
    assert err.value.exit_code == 5
    assert snapshot_state(api) == before  # nothing landed, no open commit left
    # other branches do not match the pattern
    api.create_branch("r", "wild")
    api.put_file("r", "wild", "/people.csv", b"id,full_name\n1,ana\n")
    # pre-merge hooks judge the merged tree: merging that branch into main is refused too
    api.add_hook("r", "merge-headers", "pre-merge", cmd=[sys.executable, "-c", SAME_HEADERS])
    with pytest.raises(HookRefused, match="pre-merge hook 'merge-headers'"):
        api.merge("r", "wild", "main")
    assert snapshot_state(api)["r"]["heads"]["main"] == before["r"]["heads"]["main"]


def test_hooks_that_time_out_crash_or_write_to_the_candidate(api: Client) -> None:
    api.create_repo("r")
    api.put_file("r", "main", "/a", b"a")
    api.add_hook("r", "slow", "pre-commit", cmd=["sleep", "30"], timeout=0.5)
    with pytest.raises(HookRefused, match=r"timed out.*killed after the hook timeout of 0\.5s"):
        api.put_file("r", "main", "/b", b"b")
    api.delete_hook("r", "slow")
    api.add_hook("r", "missing", "pre-commit", cmd=["/nonexistent/hook"])
    with pytest.raises(HookRefused, match=r"hook .missing. refused.*(No such file|cannot run)"):
        api.put_file("r", "main", "/b", b"b")
    api.delete_hook("r", "missing")
    writer = "import os; open(os.path.join(os.environ['DATAVC_COMMIT_DIR'], 'a'), 'w').write('x')"
    api.add_hook("r", "vandal", "pre-commit", cmd=[sys.executable, "-c", writer])
    with pytest.raises(HookRefused, match="vandal"):  # the candidate is read-only
        api.put_file("r", "main", "/b", b"b")
    assert api.get_file("r", "main", "/a") == b"a"
    api.delete_hook("r", "vandal")
    assert api.put_file("r", "main", "/b", b"b").file_count == 2


def test_post_hooks_notify_and_never_block(api: Client) -> None:
    api.create_repo("r")
    api.create_branch("r", "dev")
    api.add_hook("r", "tell", "post-commit", cmd=["sh", "-c", 'echo "$DATAVC_EVENT $DATAVC_COMMIT"; exit 3'])
    api.add_hook("r", "hook-url", "post-merge", url="http://127.0.0.1:9/unreachable", timeout=2)
    c = api.put_file("r", "main", "/a", b"a")  # the failing post-hook does not fail the commit
    hooks.wait_notifications(30)
    (res,) = api.hook_results("r", c.id)
    assert (res.passed, res.exit_code, res.log.strip()) == (False, 3, f"post-commit {c.id}")
    api.put_file("r", "dev", "/d", b"d")
    m = api.merge("r", "dev", "main")
    hooks.wait_notifications(30)
    (res,) = [r for r in api.hook_results("r", "main") if r.hook == "hook-url"]
    assert res.event == "post-merge" and not res.passed and m.commit is not None


def test_hook_declarations_are_checked(api: Client) -> None:
    api.create_repo("r")
    api.add_hook("r", "h", "pre-commit", cmd=["true"])
    assert [h.name for h in api.list_hooks("r")] == ["h"]
    with pytest.raises(AlreadyExists):
        api.add_hook("r", "h", "pre-commit", cmd=["true"])
    for bad in (
        {"event": "sometimes", "cmd": ["true"]},
        {"event": "pre-commit"},
        {"event": "pre-commit", "url": "http://x"},
        {"event": "post-commit", "url": "file:///etc/passwd"},
        {"event": "pre-commit", "cmd": ["true"], "timeout": 0},
    ):
        with pytest.raises(InvalidArgument):
            api.add_hook("r", "bad", **bad)  # type: ignore[arg-type]
    with pytest.raises(NotFound):
        api.delete_hook("r", "nosuch")
