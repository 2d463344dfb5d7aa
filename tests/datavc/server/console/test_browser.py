"""The console in a real browser: Playwright driving Debian's Chromium (/usr/bin/chromium).

One server (module fixture) and one browser for the module. Each main page is
screenshotted under the test run's tmp output dir and checked with the vendored
axe-core: no critical accessibility violations.
"""

from __future__ import annotations

import os
import re
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from datavc.server.console import STATIC
from tests.datavc.pipelines.helpers import sh
from tests.datavc.server.console.conftest import Console

sync_api = pytest.importorskip(
    "playwright.sync_api", reason="the browser tests need playwright (the test extra)"
)

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
AXE = STATIC / "vendor" / "axe-core" / "axe.min.js"
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}

# On CI (scripts/test.sh installs chromium) a missing browser is a failure, not a skip.
pytestmark = pytest.mark.skipif(
    not Path(CHROMIUM).exists() and not os.environ.get("CI"),
    reason="Debian's chromium is not installed (scripts/test.sh installs it)",
)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with sync_api.sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield b
        b.close()


_STATES: dict[str, Any] = {}


def new_page(
    browser: Any, console: Console, who: str, viewport: dict[str, int] = DESKTOP, scheme: str = "light"
) -> Any:
    """A fresh browser context logged in as ``who``: through the log-in form the first time,
    then with that session's cookie (saved storage state), which is what a browser keeps."""
    # bypass_csp: only so the test can inject axe-core; the pages' own scripts are all 'self'.
    ctx = browser.new_context(
        viewport=viewport, color_scheme=scheme, bypass_csp=True, storage_state=_STATES.get(who)
    )
    page = ctx.new_page()
    page.set_default_timeout(10_000)
    page.goto(console.url + "/")
    if who not in _STATES:
        assert "/ui/login" in page.url
        page.fill("#token", console.tokens[who])
        page.click("button:has-text('Log in')")
        page.wait_for_url(re.compile(r".*/ui/$"))
        _STATES[who] = ctx.storage_state()
    assert page.url.endswith("/ui/")
    return page


def check_page(page: Any, shots: Path, name: str) -> None:
    """Screenshot the page and run axe-core on it: no critical violations."""
    page.screenshot(path=str(shots / f"{name}.png"), full_page=True)
    page.add_script_tag(path=str(AXE))
    critical = page.evaluate(
        """async () => {
            // color-contrast is never "critical" (it is "serious") and is the slowest rule.
            const r = await axe.run(document, {
                resultTypes: ["violations"], rules: {"color-contrast": {enabled: false}}});
            return r.violations.filter(v => v.impact === "critical")
                .map(v => v.id + ": " + v.nodes.map(n => n.target.join(" ")).join(", "));
        }"""
    )
    assert critical == [], f"{name}: {critical}"


def screenshot(page: Any, shots: Path, name: str) -> None:
    """Only a screenshot: for a page whose template ``check_page`` already checked."""
    page.screenshot(path=str(shots / f"{name}.png"), full_page=True)


def test_log_in_open_a_commit_its_diff_and_a_csv_preview(browser: Any, console: Console, shots: Path) -> None:
    page = new_page(browser, console, "admin")
    assert page.locator("table >> text=raw").count() >= 1
    check_page(page, shots, "repos")
    page.click("a:has-text('raw')")
    assert page.locator("h1").inner_text() == "raw"
    check_page(page, shots, "repo")
    page.click(f"a.id:has-text('{console.second_commit[:10]}')")
    assert "more labels and samples" in page.locator(".message").inner_text()
    diff = page.locator("table.diff")
    assert diff.locator("tr.modified >> text=/labels.csv").count() == 1
    assert diff.locator("tr.added >> text=/cat.png").count() == 1
    check_page(page, shots, "commit")
    page.fill("#against", console.first_commit)
    page.click("button:has-text('Diff')")
    assert "from " + console.first_commit in page.locator("h2 >> text=Diff").inner_text()
    page.click("table.diff >> text=/labels.csv")
    table = page.locator("table.data")
    assert table.locator("th").all_inner_texts() == ["image", "label", "score"]
    assert "owl" in table.locator("tbody").inner_text()
    check_page(page, shots, "file-csv")
    page.click("a:has-text('History')")
    assert page.locator("tbody tr").count() == 2  # added, then modified
    check_page(page, shots, "history")
    page.goto(console.url + "/repos/raw/tree/main")
    check_page(page, shots, "tree")
    page.goto(console.url + "/repos/raw/tree/main/cat.png")
    assert page.evaluate("document.querySelector('.preview img').naturalWidth") == 1
    page.goto(console.url + "/audit")
    check_page(page, shots, "audit")
    phone = new_page(browser, console, "admin", PHONE, scheme="dark")
    phone.goto(console.url + f"/repos/raw/commits/{console.second_commit}")
    assert phone.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")
    dark = phone.evaluate("getComputedStyle(document.body).backgroundColor")
    assert dark == "rgb(13, 17, 23)", dark  # the dark palette follows the system preference
    screenshot(phone, shots, "commit-phone-dark")
    page.context.close()
    phone.context.close()


def test_a_job_goes_from_running_to_success_in_the_dag(
    browser: Any, console: Console, shots: Path, tmp_path: Path
) -> None:
    c = console.srv.direct
    release = tmp_path / "release-slow"
    # The transform waits (up to 20 s) for a file the test writes once it has seen "running".
    c.create_pipeline(
        name="slow",
        input={"pfs": {"repo": "raw", "branch": "main", "glob": "/"}},
        transform={
            "cmd": sh(
                f"i=0; while [ ! -e {release} ] && [ $i -lt 200 ]; do sleep 0.1; i=$((i+1)); done; "
                'echo done > "$DATAVC_OUT/done"'
            ),
        },
    )
    page = new_page(browser, console, "admin")
    page.goto(console.url + "/pipelines")
    badge = page.locator("tr[data-pipeline='slow'] .jobstate")
    assert badge.get_attribute("data-job-state") == "created"
    runner = threading.Thread(target=c.run, kwargs={"wait_for_others": False}, daemon=True)
    runner.start()
    try:
        page.wait_for_selector("tr[data-pipeline='slow'] .jobstate[data-job-state='running']", timeout=15_000)
        assert page.evaluate("window.datavcGraph.getElementById('pipeline:slow').data('state')") == "running"
        screenshot(page, shots, "pipelines-running")
    finally:
        release.write_text("go")
        runner.join(timeout=30)
    page.wait_for_selector("tr[data-pipeline='slow'] .jobstate[data-job-state='success']", timeout=15_000)
    assert page.evaluate("window.datavcGraph.getElementById('pipeline:slow').data('state')") == "success"
    check_page(page, shots, "pipelines")
    page.click("a:has-text('slow')")
    page.click("table .id >> nth=0")
    assert page.locator("dd >> .badge.success").count() == 1
    assert page.locator("table tbody tr").count() == 1  # one datum ("/")
    check_page(page, shots, "job")
    page.context.close()


def test_click_through_a_files_lineage(browser: Any, console: Console, shots: Path) -> None:
    page = new_page(browser, console, "admin")
    page.goto(console.url + "/repos/upper/tree/main/labels.csv")
    assert "OWL" in page.locator("table.data").inner_text()
    page.click("a:has-text('Lineage')")
    source = page.locator("a.source")
    assert source.count() == 1 and source.inner_text().startswith("raw@")
    assert page.locator("ul.nodes a:has-text('raw@')").count() == 1
    check_page(page, shots, "lineage-file")
    source.click()
    assert page.locator("h1.crumbs").inner_text().startswith("raw@")
    assert "owl" in page.locator("table.data").inner_text()  # the input the output came from
    page.go_back()
    page.click("ul.nodes a:has-text('raw@')")
    assert page.locator("h1").inner_text().startswith("Commit ")
    page.click("a:has-text('Downstream lineage')")
    assert page.locator("ul.nodes a:has-text('upper@')").count() == 1
    screenshot(page, shots, "lineage-downstream")
    page.context.close()


def test_a_reader_sees_no_write_controls_and_a_forged_post_is_refused(
    browser: Any, console: Console, shots: Path
) -> None:
    writer = new_page(browser, console, "writer")
    writer.goto(console.url + f"/repos/raw/commits/{console.second_commit}")
    assert writer.locator("form[data-write]").count() == 1
    writer.goto(console.url + "/pipelines/upper")
    assert writer.locator("button:has-text('Stop pipeline')").count() == 1
    writer.context.close()

    reader = new_page(browser, console, "reader")
    reader.goto(console.url + f"/repos/raw/commits/{console.second_commit}")
    assert reader.locator("form[data-write]").count() == 0
    assert reader.locator("text=Create branch").count() == 0
    reader.goto(console.url + "/pipelines/upper")
    assert reader.locator("form[data-write], button:has-text('Stop pipeline')").count() == 0
    check_page(reader, shots, "pipeline-as-reader")
    csrf = reader.locator("input[name=csrf]").first.get_attribute("value")
    # The reader's own session, with and without its CSRF token: refused either way.
    for form in ({"csrf": csrf}, {}):
        resp = reader.request.post(console.url + "/pipelines/upper/stop", form=form, max_redirects=0)
        assert resp.status == 403, resp.text()
    resp = reader.request.post(
        console.url + "/repos/raw/branches", form={"csrf": csrf, "name": "x", "from_ref": "main"}
    )
    assert resp.status == 403
    assert console.srv.direct.inspect_pipeline("upper").state == "running"
    assert "x" not in [b.name for b in console.srv.direct.list_branches("raw")]
    reader.context.close()
