"""The tokens ``datavc login`` saves: one JSON file, mode 0600, in a 0700 directory.

``{"servers": {"https://host:port": {"token": "..."}}}``. The file is replaced atomically
and created with its final mode, so the token is never readable by others, even briefly.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from datavc.errors import InvalidArgument
from datavc.remote import credentials_path


def _load(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return {"servers": {}}
    except (OSError, ValueError) as err:
        raise InvalidArgument(f"cannot read {path}: {err}") from None
    if not isinstance(data, dict) or not isinstance(data.get("servers"), dict):
        return {"servers": {}}
    return data


def _write(path: Path, data: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_name(path.name + ".tmp")
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(data, f, indent=2)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def save_token(url: str, token: str) -> Path:
    """Save ``token`` for ``url`` (a normalized server URL)."""
    path = credentials_path()
    data = _load(path)
    data["servers"][url] = {"token": token}
    _write(path, data)
    return path


def forget(url: str | None) -> list[str]:
    """Remove the token of ``url`` (every token when None); returns the URLs removed."""
    path = credentials_path()
    data = _load(path)
    servers: dict[str, Any] = data["servers"]
    removed = sorted(servers) if url is None else ([url] if url in servers else [])
    for u in removed:
        del servers[u]
    if not servers:
        path.unlink(missing_ok=True)
    elif removed:
        _write(path, data)
    return removed
