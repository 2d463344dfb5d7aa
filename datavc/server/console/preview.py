"""File previews: highlighted text, CSV/TSV tables, JSON, images, Parquet schema and rows.

A preview reads at most ``PREVIEW_BYTES`` of the file (Parquet: its footer and first
row group, through a seekable stream), so a page over a huge file costs the same as
over a small one; the whole file is only ever sent by the download route, streamed.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field
from typing import Any

from pygments import highlight
from pygments.formatters import HtmlFormatter
from pygments.lexers import JsonLexer, TextLexer, get_lexer_for_filename
from pygments.util import ClassNotFound

from datavc.client import Client
from datavc.info import FileInfo

PREVIEW_BYTES = 256 * 1024
TABLE_ROWS = 50
PARQUET_MAX_BYTES = 512 * 1024 * 1024
IMAGE_TYPES = {
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".gif": "image/gif",
    ".webp": "image/webp",
}
_FORMATTER = HtmlFormatter(cssclass="hl", wrapcode=True)


@dataclass
class Preview:
    """What the file page shows: ``kind`` picks the template block."""

    kind: str  # text | table | image | parquet | binary | empty | none
    html: str = ""
    header: list[str] = field(default_factory=list)
    rows: list[list[str]] = field(default_factory=list)
    schema: list[tuple[str, str]] = field(default_factory=list)
    truncated: bool = False
    note: str = ""


def pygments_css() -> str:
    """Highlighting colours for light and dark preference (served as one stylesheet)."""
    light = HtmlFormatter(style="default").get_style_defs(".hl")  # type: ignore[no-untyped-call]
    dark = HtmlFormatter(style="monokai").get_style_defs(".hl")  # type: ignore[no-untyped-call]
    return f"{light}\n@media (prefers-color-scheme: dark) {{\n{dark}\n}}\n"


def extension(path: str) -> str:
    name = path.rsplit("/", 1)[-1].lower()
    return "." + name.rsplit(".", 1)[-1] if "." in name else ""


def image_type(path: str) -> str | None:
    return IMAGE_TYPES.get(extension(path))


def preview(client: Client, info: FileInfo) -> Preview:
    """The preview of one file (``info`` names its commit, so every read sees one snapshot)."""
    ext = extension(info.path)
    if info.size == 0:
        return Preview("empty")
    if image_type(info.path):
        return Preview("image")
    if ext == ".parquet":
        return _parquet(client, info)
    n = min(info.size, PREVIEW_BYTES)
    head = b"".join(client.iter_file(info.repo, info.commit, info.path, 0, n))
    truncated = info.size > n
    if b"\0" in head[:8192]:
        return Preview("binary", note="binary content: no preview")
    text = head.decode("utf-8", errors="replace")
    if truncated and "\n" in text:
        text = text[: text.rindex("\n") + 1]  # never show half a line (or half a CSV row)
    if ext in (".csv", ".tsv"):
        return _table(text, "\t" if ext == ".tsv" else ",", truncated)
    if ext == ".json" and not truncated:
        try:
            text = json.dumps(json.loads(text), indent=2, ensure_ascii=False)
        except ValueError:
            pass
        return Preview("text", html=highlight(text, JsonLexer(), _FORMATTER))
    try:
        lexer = get_lexer_for_filename(info.path, stripnl=False)
    except ClassNotFound:
        lexer = TextLexer(stripnl=False)
    return Preview("text", html=highlight(text, lexer, _FORMATTER), truncated=truncated)


def _table(text: str, delimiter: str, truncated: bool) -> Preview:
    reader = csv.reader(io.StringIO(text), delimiter=delimiter)
    rows: list[list[str]] = []
    try:
        for row in reader:
            rows.append(row)
            if len(rows) > TABLE_ROWS:
                break
    except csv.Error as err:
        return Preview(
            "text", html=highlight(text, TextLexer(), _FORMATTER), note=f"not a valid table: {err}"
        )
    if not rows:
        return Preview("empty")
    more = len(rows) > TABLE_ROWS or truncated
    return Preview("table", header=rows[0], rows=rows[1 : TABLE_ROWS + 1], truncated=more)


def _parquet(client: Client, info: FileInfo) -> Preview:
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        return Preview("none", note="install pyarrow to preview Parquet files")
    if info.size > PARQUET_MAX_BYTES:
        return Preview("none", note="too big to preview: download it")
    with client.open_file(info.repo, info.commit, info.path) as f:
        try:
            pf = pq.ParquetFile(f)
            schema = [(fld.name, str(fld.type)) for fld in pf.schema_arrow]
            rows: list[list[str]] = []
            if pf.num_row_groups:
                table = pf.read_row_group(0).slice(0, TABLE_ROWS)
                cols: list[list[Any]] = [c.to_pylist() for c in table.columns]
                rows = [[str(col[i]) for col in cols] for i in range(table.num_rows)]
            total = pf.metadata.num_rows
        except (pa.ArrowException, OSError, ValueError) as err:
            return Preview("none", note=f"not a readable Parquet file: {err}")
    return Preview(
        "parquet",
        header=[n for n, _ in schema],
        rows=rows,
        schema=schema,
        truncated=total > len(rows),
        note=f"{total} rows",
    )
