"""An fsspec filesystem over datavc: ``datavc://repo@ref/path``, direct or through a server.

pandas, polars, pyarrow and DuckDB (``register_filesystem``) read commits through it and
write branches. Reads are seekable with range reads (only the chunks a range touches are
fetched); a file opened for reading stays on the commit its ref named at open time.

Writes go to a branch. Outside a transaction each file written is one commit; inside
``with fs.transaction:`` every file (and ``rm``) joins one open commit per repo and
branch, finished when the block ends and aborted if it raises.

Which store: ``DatavcFileSystem(client=...)``, or ``server=`` + ``token=`` (remote),
``home=`` (direct), else the environment as the CLI reads it (``Client.from_env``).
Registered for the ``datavc://`` protocol through the ``fsspec.specs`` entry point.
"""

from __future__ import annotations

import tempfile
from datetime import datetime
from typing import Any

from fsspec.spec import AbstractBufferedFile, AbstractFileSystem
from fsspec.transaction import Transaction

from datavc.client import Client
from datavc.errors import NotFound
from datavc.info import FileInfo

SPOOL_MEMORY = 8 * 1024 * 1024


def _split(path: str) -> tuple[str, str, str]:
    """``(repo, ref, path)`` of ``repo@ref/path`` (ref defaults to main)."""
    head, _, rest = path.strip("/").partition("/")
    repo, _, ref = head.partition("@")
    return repo, ref or "main", rest


class DatavcTransaction(Transaction):
    """One datavc commit per (repo, branch) for every write of a ``with fs.transaction:`` block."""

    def __init__(self, fs: DatavcFileSystem, **kwargs: Any) -> None:
        super().__init__(fs, **kwargs)
        self.commits: dict[tuple[str, str], str] = {}
        self._client = fs.client

    def commit_for(self, repo: str, branch: str) -> str:
        key = (repo, branch)
        if key not in self.commits:
            self.commits[key] = self._client.start_commit(repo, branch, message="fsspec transaction").id
        return self.commits[key]

    def complete(self, commit: bool = True) -> None:
        try:
            super().complete(commit=commit)
        except BaseException:
            commit = False
            raise
        finally:
            for (repo, _), cid in self.commits.items():
                if commit:
                    self._client.finish_commit(repo, cid)
                else:
                    self._client.abort_commit(repo, cid)
            self.commits = {}


class DatavcFileSystem(AbstractFileSystem):
    """``datavc://repo@ref/path`` over a ``Client`` (direct) or a ``RemoteClient``."""

    protocol = "datavc"
    root_marker = ""
    transaction_type = DatavcTransaction

    def __init__(
        self,
        client: Client | None = None,
        *,
        home: str | None = None,
        server: str | None = None,
        token: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if client is None:
            if server:
                from datavc.remote import RemoteClient

                client = RemoteClient(server, token)
            elif home:
                client = Client.open(home)
            else:
                client = Client.from_env()
        self.client = client

    @classmethod
    def _strip_protocol(cls, path: Any) -> Any:
        if isinstance(path, list):
            return [cls._strip_protocol(p) for p in path]
        text = str(path)
        if text.startswith("datavc://"):
            text = text[len("datavc://") :]
        return text.rstrip("/")

    def _name(self, repo: str, ref: str, path: str) -> str:
        return f"{repo}@{ref}/{path.strip('/')}".rstrip("/")

    def _entry(self, repo: str, ref: str, f: FileInfo) -> dict[str, Any]:
        return {
            "name": self._name(repo, ref, f.path),
            "size": f.size if f.kind == "file" else 0,
            "type": "file" if f.kind == "file" else "directory",
            "commit": f.commit,
            "hash": f.hash,
        }

    def info(self, path: str, **kwargs: Any) -> dict[str, Any]:
        repo, ref, p = _split(self._strip_protocol(path))
        try:
            return self._entry(repo, ref, self.client.inspect_file(repo, ref, p or "/"))
        except NotFound:
            raise FileNotFoundError(path) from None

    def modified(self, path: str) -> datetime:
        """When the commit holding ``path`` (at its ref) was made."""
        repo, _, _ = _split(self._strip_protocol(path))
        c = self.client.inspect_commit(repo, self.info(path)["commit"])
        return c.finished_at or c.created_at

    def ls(self, path: str, detail: bool = True, **kwargs: Any) -> list[Any]:
        repo, ref, p = _split(self._strip_protocol(path))
        try:
            entries = [self._entry(repo, ref, f) for f in self.client.list_files(repo, ref, p or "/")]
        except NotFound:
            raise FileNotFoundError(path) from None
        return entries if detail else [e["name"] for e in entries]

    def find(
        self,
        path: str,
        maxdepth: int | None = None,
        withdirs: bool = False,
        detail: bool = False,
        **kwargs: Any,
    ) -> Any:
        if maxdepth is not None or withdirs:
            return super().find(path, maxdepth=maxdepth, withdirs=withdirs, detail=detail, **kwargs)
        repo, ref, p = _split(self._strip_protocol(path))
        try:
            found = {
                e["name"]: e
                for e in (self._entry(repo, ref, f) for f in self.client.walk_files(repo, ref, p or "/"))
            }
        except NotFound:
            found = {}
        return found if detail else sorted(found)

    def cat_file(self, path: str, start: int | None = None, end: int | None = None, **kwargs: Any) -> bytes:
        info = self.info(path)
        repo, _, p = _split(self._strip_protocol(path))
        size = int(info["size"])
        s = 0 if start is None else (start if start >= 0 else max(size + start, 0))
        e = size if end is None else (end if end >= 0 else max(size + end, 0))
        if e <= s:
            return b""
        return b"".join(self.client.iter_file(repo, info["commit"], p, s, min(e, size) - s))

    def _open(
        self,
        path: str,
        mode: str = "rb",
        block_size: Any = "default",
        autocommit: bool = True,
        cache_options: Any = None,
        **kwargs: Any,
    ) -> DatavcFile:
        return DatavcFile(
            self,
            path,
            mode,
            block_size=block_size,
            autocommit=autocommit,
            cache_options=cache_options,
            **kwargs,
        )

    def _put(self, path: str, stream: Any) -> None:
        """Store ``stream`` at ``path`` (a branch): its own commit, or the transaction's."""
        repo, branch, p = _split(self._strip_protocol(path))
        commit = self.transaction.commit_for(repo, branch) if self._intrans else None
        self.client.put_file(repo, branch, p, stream, message=f"fsspec put /{p}", commit=commit)

    def rm_file(self, path: str) -> None:
        repo, branch, p = _split(self._strip_protocol(path))
        commit = self.transaction.commit_for(repo, branch) if self._intrans else None
        try:
            self.client.delete_file(repo, branch, p, message=f"fsspec rm /{p}", commit=commit)
        except NotFound:
            raise FileNotFoundError(path) from None

    def _rm(self, path: str) -> None:
        self.rm_file(path)

    def mkdir(self, path: str, create_parents: bool = True, **kwargs: Any) -> None:
        """Directories exist through their files: nothing to do."""

    def makedirs(self, path: str, exist_ok: bool = False) -> None:
        """Directories exist through their files: nothing to do."""


class DatavcFile(AbstractBufferedFile):
    """Reads fetch byte ranges of one commit; writes spool (memory, then disk) until committed."""

    def __init__(self, fs: DatavcFileSystem, path: str, mode: str = "rb", **kwargs: Any) -> None:
        self._spool: Any = None
        super().__init__(fs, path, mode, **kwargs)
        if "r" in mode:
            self._repo, _, self._path = _split(fs._strip_protocol(path))
            self._commit = self.details["commit"]

    def _fetch_range(self, start: int, end: int) -> bytes:
        if end <= start:
            return b""
        client = self.fs.client
        return b"".join(client.iter_file(self._repo, self._commit, self._path, start, end - start))

    def _initiate_upload(self) -> None:
        self._spool = tempfile.SpooledTemporaryFile(max_size=SPOOL_MEMORY)  # noqa: SIM115 -- closed in commit/discard

    def _upload_chunk(self, final: bool = False) -> bool:
        if self._spool is None:
            self._initiate_upload()
        self._spool.write(self.buffer.getbuffer())
        if final and self.autocommit:
            self.commit()
        return True

    def commit(self) -> None:
        if self._spool is None:
            self._initiate_upload()
        try:
            self._spool.seek(0)
            self.fs._put(self.path, self._spool)
        finally:
            self._spool.close()
            self._spool = None

    def discard(self) -> None:
        if self._spool is not None:
            self._spool.close()
            self._spool = None
