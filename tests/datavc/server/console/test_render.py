"""Rendering helpers: JSON embedded in pages cannot close its script element; sizes read well."""

from __future__ import annotations

import json

from datavc.server.console.render import ENV, human_size, script_json


def test_embedded_json_cannot_close_its_script_element() -> None:
    value = {"label": "</script><script>alert(1)</script>", "amp": "a&b"}
    text = script_json(value)
    assert "<" not in text and ">" not in text and "&" not in text
    assert json.loads(text) == value


def test_templates_escape_what_users_wrote() -> None:
    html = ENV.from_string("<p>{{ m }}</p>").render(m="<img src=x onerror=alert(1)>")
    assert html == "<p>&lt;img src=x onerror=alert(1)&gt;</p>"


def test_human_sizes() -> None:
    assert [human_size(n) for n in (0, 1023, 1024, 5 * 1024**3)] == ["0 B", "1023 B", "1.0 KiB", "5.0 GiB"]
    assert human_size(None) == ""
