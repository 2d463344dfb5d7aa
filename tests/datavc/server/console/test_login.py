"""The console's audit page (datavc/server/console/login.py): newest entries first, full paths."""

from __future__ import annotations

from contextlib import closing

from datavc import audit
from tests.datavc.server.console.conftest import Console, csrf_of


def test_the_audit_page_shows_the_newest_entries_first_with_the_consoles_own_paths(console: Console) -> None:
    with closing(console.session("writer")) as http:
        for action in ("stop", "start"):  # a stop, then a start: the start is the newest
            resp = http.post(f"/pipelines/upper/{action}", data={"csrf": csrf_of(http.get("/").text)})
            assert resp.status_code == 303
    mine = [e for e in audit.list_entries(console.srv.direct.context, user="writer") if e.method == "POST"]
    assert [e.path for e in mine][-2:] == ["/ui/pipelines/{repo}/stop", "/ui/pipelines/{repo}/start"]
    with closing(console.session("admin")) as http:
        html = http.get("/audit", params={"user": "writer"}).text
    start = html.index("POST /ui/pipelines/{repo}/start")
    assert start < html.index("POST /ui/pipelines/{repo}/stop")
    newest_first = audit.list_entries(console.srv.direct.context, user="writer", newest_first=True, limit=1)
    assert newest_first[0].path == "/ui/pipelines/{repo}/start"
