"""``RemoteClient``: the ``Client`` interface over ``datavc serve``'s HTTP API (httpx).

``DATAVC_SERVER=http(s)://host:port`` plus a token (``DATAVC_TOKEN``, or the file
``datavc login URL`` wrote) makes ``Client.from_env()`` return one, so the CLI and
Python code work unchanged. Errors come back as the same ``DatavcError`` categories
(the server sends the category; see docs/server.md). File content is streamed both
ways: uploads are sent as chunked request bodies, downloads are read as they arrive.

Operations the API does not cover yet raise :class:`NotSupportedRemotely`
(``InvalidArgument``, exit 2) naming the operation, never a half-working fallback.
"""

from __future__ import annotations

import io
import json
import os
import ssl
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import fields, replace
from datetime import datetime, timedelta
from pathlib import Path
from tempfile import SpooledTemporaryFile
from typing import IO, TYPE_CHECKING, Any, BinaryIO, Literal, TypeVar, Unpack
from urllib.parse import quote

import httpx

from datavc import batch, errors, framing, ranges, remote_workdir, transfer, walk_ahead
from datavc.batch import PiecesReader as _PiecesReader
from datavc.client import Client, Metadata, Progress, Source, _no_metadata_with_open_commit, _spec
from datavc.info import (
    BranchInfo,
    CheckoutInfo,
    CommitInfo,
    CommitSetInfo,
    CommitSetMember,
    ContentDiffInfo,
    DatumInfo,
    DiffInfo,
    FileInfo,
    FsckInfo,
    GcInfo,
    HookInfo,
    HookResultInfo,
    InlineOutcome,
    JobInfo,
    LineageInfo,
    LineageNode,
    MergeConflict,
    MergeInfo,
    OpenCommitInfo,
    PipelineInfo,
    ReflogEntry,
    RepoInfo,
    Resolution,
    StatusInfo,
    TagInfo,
)
from datavc.names import check_path
from storage.chunking import ChunkParams
from storage.writer import Chunk, Skipped

if TYPE_CHECKING:
    from datavc.accounts import RoleInfo, TokenInfo, UserInfo
    from datavc.audit import AuditInfo
    from datavc.pipelines.spec import PipelineSpec
    from datavc.s3keys import S3KeyInfo

T = TypeVar("T")
CHUNK = 1024 * 1024
TIMEOUT = httpx.Timeout(60.0, connect=10.0)
CREDENTIALS_FILE = "credentials.json"
PAGE_SIZE = 1000
WAIT_POLL = 0.2
WAIT_SLICE = 20.0  # seconds per wait request (the server blocks at most this long)


class NotSupportedRemotely(errors.InvalidArgument):
    """An operation the server API does not offer yet."""


def credentials_path() -> Path:
    """Where ``datavc login`` keeps tokens: ``$XDG_CONFIG_HOME/datavc`` or ``~/.config/datavc``."""
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "datavc" / CREDENTIALS_FILE


def normalize_url(url: str) -> str:
    u = url.strip().rstrip("/")
    if not u.startswith(("http://", "https://")):
        raise errors.InvalidArgument(f"server URL {url!r} must start with http:// or https://")
    return u


def load_saved_token(url: str) -> str | None:
    """The token ``datavc login`` saved for ``url``, if any."""
    path = credentials_path()
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as err:
        raise errors.InvalidArgument(f"cannot read {path}: {err}") from None
    token = (
        data.get("servers", {}).get(normalize_url(url), {}).get("token") if isinstance(data, dict) else None
    )
    return token if isinstance(token, str) else None


def _commit_set(data: dict[str, Any]) -> CommitSetInfo:
    """A CommitSetInfo from its JSON form (its commits and jobs decoded too)."""
    data = dict(data)
    data["commits"] = tuple(_decode(CommitSetMember, m) for m in data["commits"])
    data["jobs"] = tuple(_decode(JobInfo, j) for j in data["jobs"])
    return _decode(CommitSetInfo, data)


def _decode(cls: type[T], data: dict[str, Any]) -> T:
    """An ``...Info`` dataclass from its ``to_json`` form (ISO times back to datetimes, lists to tuples)."""
    kwargs: dict[str, Any] = {}
    for f in fields(cls):  # type: ignore[arg-type]
        if f.name not in data:
            continue
        value = data[f.name]
        kind = str(f.type)
        if isinstance(value, str) and kind.startswith("datetime"):
            value = datetime.fromisoformat(value)
        elif isinstance(value, list) and kind.startswith("tuple"):
            value = _tuples(value)
        kwargs[f.name] = value
    return cls(**kwargs)


def _tuples(value: Any) -> Any:
    return tuple(_tuples(v) for v in value) if isinstance(value, list) else value


def _file(data: dict[str, Any]) -> FileInfo:
    return FileInfo(**data)


def _q(segment: str) -> str:
    return quote(segment, safe="")


class RemoteClient(Client):
    """A ``Client`` whose every call is an HTTP request to a datavc server."""

    def __init__(self, url: str, token: str | None, *, verify: bool | str = True) -> None:
        # No store of our own: Client.__init__ is not called, and direct-only members are overridden.
        self.url = normalize_url(url)
        self.page_size = PAGE_SIZE
        self._http = httpx.Client(
            base_url=self.url,
            headers={"Authorization": f"Bearer {token}"} if token else {},
            timeout=TIMEOUT,
            verify=ssl.create_default_context(cafile=verify) if isinstance(verify, str) else verify,
        )
        self._verify = verify
        self._ranges_lock = threading.Lock()
        self._ranges_reader: ranges.RangeReader | None = None
        self._ranges_made = False
        self._cuts_lock = threading.Lock()
        self._cuts_asked = False
        self._cuts_found: ChunkParams | None = None

    @classmethod
    def from_env(cls) -> RemoteClient:
        """``DATAVC_SERVER`` with ``DATAVC_TOKEN`` or the token ``datavc login`` saved for it.

        ``DATAVC_CA_BUNDLE`` names a CA certificate file for a server with a private CA.
        """
        url = os.environ.get("DATAVC_SERVER", "")
        token = os.environ.get("DATAVC_TOKEN") or load_saved_token(url)
        return cls(url, token, verify=os.environ.get("DATAVC_CA_BUNDLE") or True)

    def close(self) -> None:
        self._http.close()
        if self._ranges_reader is not None:
            self._ranges_reader.close()

    def _ranges(self) -> ranges.RangeReader | None:
        """The reader for ranged GETs of large files (:mod:`datavc.ranges`); None through a proxy."""
        with self._ranges_lock:
            if not self._ranges_made:
                auth = self._http.headers.get("Authorization")
                self._ranges_reader = ranges.direct_reader(
                    self.url,
                    {"Authorization": auth} if auth else {},
                    self._verify,
                    TIMEOUT.read or 60.0,
                    self._error_for,
                )
                self._ranges_made = True
            return self._ranges_reader

    @classmethod
    def _error_for(cls, status: int, headers: Mapping[str, str], body: bytes) -> errors.DatavcError:
        """:meth:`_error` for an answer read by other means than httpx."""
        return cls._error(httpx.Response(status, headers=dict(headers), content=body))

    def __enter__(self) -> RemoteClient:
        return self

    @property
    def context(self) -> Any:
        raise NotSupportedRemotely("a remote client has no local store context")

    # ----- transport ---------------------------------------------------------

    def _request(self, method: str, path: str, **kw: Any) -> httpx.Response:
        try:
            resp = self._http.request(method, path, **kw)
        except httpx.TransportError as err:
            raise errors.BackendUnavailable(f"cannot reach the datavc server at {self.url}: {err}") from None
        if resp.status_code >= 400:
            raise self._error(resp)
        return resp

    def call(self, method: str, path: str, **kw: Any) -> Any:
        """One request to ``path`` (under the server's URL); its JSON answer (None when empty).

        For routes with no ``Client`` method of their own, such as the worker routes that
        ``datavc worker`` uses (:mod:`datavc.remote_worker`). Errors as for every call.
        """
        return self._json(method, path, **kw)

    def _json(self, method: str, path: str, **kw: Any) -> Any:
        resp = self._request(method, path, **kw)
        return resp.json() if resp.content else None

    @staticmethod
    def _error(resp: httpx.Response) -> errors.DatavcError:
        category, message = "", f"server answered HTTP {resp.status_code}"
        try:
            body = json.loads(resp.read())
            category, message = body["error"]["category"], body["error"]["message"]
        except (ValueError, KeyError, TypeError):
            pass
        if category == errors.Conflict.category and isinstance(body["error"].get("conflicts"), list):
            found = tuple(_decode(MergeConflict, c) for c in body["error"]["conflicts"])
            return errors.MergeConflicts(message, found)
        by_category = {c.category: c for c in errors.CATEGORIES}
        cls = by_category.get(category)
        if cls is None:
            cls = {401: errors.Unauthenticated, 403: errors.Forbidden, 404: errors.NotFound}.get(
                resp.status_code, errors.BackendUnavailable if resp.status_code >= 500 else errors.DatavcError
            )
        return cls(message)

    def _pages(self, path: str, params: dict[str, Any] | None = None, *, pin: bool = False) -> Iterator[Any]:
        """Every item of a paginated listing, fetched page by page as the caller iterates.

        With ``pin``, pages after the first read the commit the first page's items came from.
        """
        params = {k: v for k, v in (params or {}).items() if v is not None}
        params["limit"] = self.page_size
        while True:
            data = self._json("GET", path, params=params)
            yield from data["items"]
            if not data.get("next"):
                return
            params["after"] = data["next"]
            if pin and data["items"]:
                path = self._pinned(path, data["items"][-1]["commit"])

    @staticmethod
    def _pinned(path: str, commit: str) -> str:
        head, _, tail = path.partition("/refs/")
        return f"{head}/refs/{commit}/{tail.split('/', 1)[1]}"

    def _repo(self, repo: str) -> str:
        return f"/api/v1/repos/{_q(repo)}"

    # ----- repos -------------------------------------------------------------

    def create_repo(self, name: str, description: str = "") -> RepoInfo:
        return _decode(
            RepoInfo, self._json("POST", "/api/v1/repos", json={"name": name, "description": description})
        )

    def list_repos(self) -> list[RepoInfo]:
        return [_decode(RepoInfo, d) for d in self._pages("/api/v1/repos")]

    def inspect_repo(self, name: str) -> RepoInfo:
        return _decode(RepoInfo, self._json("GET", self._repo(name)))

    def delete_repo(self, name: str, *, force: bool = False) -> None:
        self._request("DELETE", self._repo(name), params={"force": force})

    # ----- branches and tags -------------------------------------------------

    def create_branch(self, repo: str, name: str, from_ref: str | None = None) -> BranchInfo:
        body = {"name": name, "from_ref": from_ref}
        return _decode(BranchInfo, self._json("POST", self._repo(repo) + "/branches", json=body))

    def list_branches(self, repo: str) -> list[BranchInfo]:
        return [_decode(BranchInfo, d) for d in self._pages(self._repo(repo) + "/branches")]

    def inspect_branch(self, repo: str, name: str) -> BranchInfo:
        return _decode(BranchInfo, self._json("GET", f"{self._repo(repo)}/branches/{_q(name)}"))

    def delete_branch(self, repo: str, name: str, *, force: bool = False) -> None:
        params = {"force": True} if force else None
        self._request("DELETE", f"{self._repo(repo)}/branches/{_q(name)}", params=params)

    def reset_branch(self, repo: str, name: str, to: str, *, force: bool = False) -> BranchInfo:
        path = f"{self._repo(repo)}/branches/{_q(name)}/reset"
        return _decode(BranchInfo, self._json("POST", path, json={"to": to, "force": force}))

    def protect_branch(self, repo: str, name: str, level: str = "merge") -> BranchInfo:
        path = f"{self._repo(repo)}/branches/{_q(name)}/protect"
        return _decode(BranchInfo, self._json("POST", path, json={"level": level}))

    def reflog(self, repo: str, branch: str, limit: int | None = None) -> list[ReflogEntry]:
        params = {"limit": limit} if limit is not None else {"limit": 10_000}
        data = self._json("GET", f"{self._repo(repo)}/branches/{_q(branch)}/reflog", params=params)
        return [_decode(ReflogEntry, d) for d in data["items"]]

    def create_tag(self, repo: str, ref: str, name: str) -> TagInfo:
        return _decode(
            TagInfo, self._json("POST", self._repo(repo) + "/tags", json={"name": name, "ref": ref})
        )

    def list_tags(self, repo: str) -> list[TagInfo]:
        return [_decode(TagInfo, d) for d in self._pages(self._repo(repo) + "/tags")]

    def delete_tag(self, repo: str, name: str) -> None:
        self._request("DELETE", f"{self._repo(repo)}/tags/{_q(name)}")

    # ----- commits -----------------------------------------------------------

    def start_commit(
        self, repo: str, branch: str = "main", message: str = "", *, metadata: Metadata | None = None
    ) -> CommitInfo:
        body = {"branch": branch, "message": message, "metadata": dict(metadata) if metadata else None}
        return _decode(CommitInfo, self._json("POST", self._repo(repo) + "/commits", json=body))

    def finish_commit(
        self,
        repo: str,
        commit: str,
        message: str | None = None,
        *,
        metadata: Metadata | None = None,
        force: bool = False,
    ) -> CommitInfo:
        path = f"{self._repo(repo)}/commits/{_q(commit)}/finish"
        body = {"message": message, "metadata": dict(metadata) if metadata else None, "force": force}
        return _decode(CommitInfo, self._json("POST", path, json=body))

    def abort_commit(self, repo: str, commit: str) -> None:
        self._request("POST", f"{self._repo(repo)}/commits/{_q(commit)}/abort")

    def inspect_commit(self, repo: str, ref: str) -> CommitInfo:
        return _decode(CommitInfo, self._json("GET", f"{self._repo(repo)}/commits/{_q(ref)}"))

    def log(
        self,
        repo: str,
        ref: str = "main",
        limit: int | None = None,
        *,
        where: Metadata | None = None,
        all_parents: bool = False,
        path: str | None = None,
        follow: bool = False,
    ) -> Iterator[CommitInfo]:
        params: dict[str, Any] = {"ref": ref}
        if path is not None:
            params["path"] = "/" + check_path(path)
        if follow:
            params["follow"] = True
        if where:
            params["where"] = [f"{k}={v}" for k, v in where.items()]
        if all_parents:
            params["all_parents"] = True

        def gen() -> Iterator[CommitInfo]:
            for n, d in enumerate(self._pages(self._repo(repo) + "/log", params)):
                if limit is not None and n >= limit:
                    return
                yield _decode(CommitInfo, d)

        return gen()

    def list_open_commits(self, repo: str) -> list[CommitInfo]:
        return [_decode(CommitInfo, d) for d in self._json("GET", self._repo(repo) + "/commits")["items"]]

    def open_commits(self, repo: str | None = None) -> list[OpenCommitInfo]:
        data = self._json("GET", "/api/v1/open-commits", params={"repo": repo} if repo else None)
        return [
            OpenCommitInfo(
                commit=_decode(CommitInfo, d["commit"]),
                expires_at=datetime.fromisoformat(d["expires_at"]),
                expired=d["expired"],
            )
            for d in data["items"]
        ]

    # ----- files -------------------------------------------------------------

    def put_file(
        self,
        repo: str,
        branch: str,
        path: str,
        src: Source,
        *,
        message: str = "",
        commit: str | None = None,
        progress: Progress | None = None,
        follow_symlinks: bool = False,
        on_skip: Skipped | None = None,
        metadata: Metadata | None = None,
    ) -> CommitInfo:
        if metadata:
            return self._in_new_commit(
                repo,
                branch,
                message or f"put /{check_path(path)}",
                metadata,
                commit,
                lambda cid: self.put_file(
                    repo,
                    branch,
                    path,
                    src,
                    commit=cid,
                    progress=progress,
                    follow_symlinks=follow_symlinks,
                    on_skip=on_skip,
                ),
            )
        p = check_path(path)
        if isinstance(src, str | os.PathLike) and Path(src).is_symlink():
            if not follow_symlinks:
                raise errors.InvalidArgument(
                    f"{os.fspath(src)} is a symbolic link: datavc does not store links; "
                    "give the path it points to, or use --follow-symlinks"
                )
            src = os.path.realpath(src)
        if isinstance(src, str | os.PathLike) and Path(src).is_dir():
            top = Path(src)
            return self._put_dir(
                repo, branch, p, top, message or f"put /{p}", commit, progress, follow_symlinks, on_skip
            )
        params = {"message": message or f"put /{p}", "commit": commit}
        url = f"{self._repo(repo)}/branches/{_q(branch)}/files/{quote(p)}"
        if isinstance(src, bytes):
            if progress is not None:
                progress(len(src))
            content: Any = src
            return self._put(url, params, content)
        if isinstance(src, str | os.PathLike):
            try:
                cuts = self._cuts() if os.path.getsize(src) >= transfer.LARGE else None
                if cuts is not None:
                    framed = framing.file_frames(os.fspath(src), cuts, progress)
                    return self._put(url, {**params, "framed": "true"}, framed)
                with open(src, "rb") as f:
                    return self._put(url, params, _chunks(f, progress))
            except OSError as err:
                raise errors.InvalidArgument(f"cannot read {os.fspath(src)}: {err.strerror}") from None
        return self._put(url, params, _chunks(src, progress))

    def _in_new_commit(
        self,
        repo: str,
        branch: str,
        message: str,
        metadata: Metadata,
        commit: str | None,
        write: Callable[[str], object],
    ) -> CommitInfo:
        """A write with metadata: into a new open commit (started with it), finished after."""
        _no_metadata_with_open_commit(metadata, commit)
        cid = self.start_commit(repo, branch, message, metadata=metadata).id
        try:
            write(cid)
        except BaseException:
            self.abort_commit(repo, cid)
            raise
        return self.finish_commit(repo, cid)

    def put_stream(
        self,
        repo: str,
        branch: str,
        path: str,
        stream: BinaryIO,
        *,
        message: str = "",
        commit: str | None = None,
    ) -> CommitInfo:
        return self.put_file(repo, branch, path, stream, message=message, commit=commit)

    def chunking(self) -> ChunkParams:
        cuts = self._cuts()
        if cuts is None:
            raise errors.InvalidArgument(f"the datavc server at {self.url} does not take framed uploads")
        return cuts

    def _cuts(self) -> ChunkParams | None:
        """The server's chunk sizes if it takes framed uploads (asked once; None from an older server)."""
        with self._cuts_lock:
            if not self._cuts_asked:
                try:
                    data = self._json("GET", "/api/v1/store")
                    if data.get("framed_uploads"):
                        self._cuts_found = ChunkParams.from_dict(data["chunking"])
                except errors.NotFound:
                    pass
                self._cuts_asked = True
            return self._cuts_found

    def put_chunks(
        self,
        repo: str,
        branch: str,
        path: str,
        chunks: Iterable[Chunk],
        *,
        message: str = "",
        commit: str | None = None,
    ) -> CommitInfo:
        p = check_path(path)
        url = f"{self._repo(repo)}/branches/{_q(branch)}/files/{quote(p)}"
        params = {"message": message or f"put /{p}", "commit": commit, "framed": "true"}
        return self._put(url, params, framing.frames(chunks))

    def _put(self, url: str, params: dict[str, Any], content: Any) -> CommitInfo:
        params = {k: v for k, v in params.items() if v is not None}
        return _decode(CommitInfo, self._json("PUT", url, params=params, content=content))

    def _put_dir(
        self,
        repo: str,
        branch: str,
        p: str,
        src: Path,
        message: str,
        commit: str | None,
        progress: Progress | None,
        follow_symlinks: bool,
        on_skip: Skipped | None,
    ) -> CommitInfo:
        """A directory: every file below it as one batch stream, into one commit (the open one, or a new one).

        A directory with large files sends those beside the batch, several at once
        (:func:`datavc.transfer.put_files`).

        Links are never followed out of ``src`` (the same policy as a direct put): skipped,
        and reported to ``on_skip``, unless ``follow_symlinks`` and the link's target is a
        file inside ``src``. Directory links are not descended into (:func:`batch.local_files`).
        """
        walk = batch.local_files(src, follow_symlinks=follow_symlinks, on_skip=on_skip)
        return walk_ahead.put_dir(self, repo, branch, p, walk, message, commit, progress)

    def put_batch(
        self,
        repo: str,
        branch: str,
        path: str,
        stream: BinaryIO,
        *,
        message: str = "",
        commit: str | None = None,
        progress: Progress | None = None,
    ) -> CommitInfo:
        p = check_path(path)
        url = f"{self._repo(repo)}/branches/{_q(branch)}/batch"
        params = {"path": p or "/", "message": message or f"put /{p}", "commit": commit}
        return self._put(url, params, _chunks(stream, progress))

    def iter_batch(
        self, repo: str, ref: str, path: str = "/", *, max_size: int | None = None
    ) -> Iterator[bytes]:
        url = f"{self._repo(repo)}/refs/{_q(ref)}/batch"
        params: dict[str, Any] = {"path": check_path(path) or "/"}
        if max_size is not None:
            params["max_size"] = max_size
        # Ask now (errors at the call, as the direct client gives); stream as the caller iterates.
        try:
            resp = self._http.send(self._http.build_request("GET", url, params=params), stream=True)
        except httpx.TransportError as err:
            raise errors.BackendUnavailable(f"cannot reach the datavc server at {self.url}: {err}") from None
        if resp.status_code >= 400:
            try:
                raise self._error(resp)
            finally:
                resp.close()
        return self._body(resp, f"{repo}@{ref}:/{check_path(path)}")

    def _body(self, resp: httpx.Response, what: str) -> Iterator[bytes]:
        try:
            yield from resp.iter_raw()  # as received: the batch reader re-frames, no copy here
        except httpx.TransportError as err:
            raise errors.BackendUnavailable(f"the download of {what} from {self.url} failed: {err}") from None
        finally:
            resp.close()

    def delete_file(
        self,
        repo: str,
        branch: str,
        paths: str | list[str],
        *,
        message: str = "",
        commit: str | None = None,
        metadata: Metadata | None = None,
    ) -> CommitInfo:
        if metadata:
            msg = message or "delete " + ", ".join(
                "/" + check_path(p) for p in ([paths] if isinstance(paths, str) else paths)
            )
            write = lambda cid: self.delete_file(repo, branch, paths, commit=cid)  # noqa: E731
            return self._in_new_commit(repo, branch, msg, metadata, commit, write)
        plist = [paths] if isinstance(paths, str) else list(paths)
        if not plist:
            raise errors.InvalidArgument("no paths to delete")
        body = {"paths": plist, "message": message, "commit": commit}
        return _decode(
            CommitInfo, self._json("POST", f"{self._repo(repo)}/branches/{_q(branch)}/delete", json=body)
        )

    def copy_file(
        self,
        src_repo: str,
        src_ref: str,
        src_path: str,
        dst_repo: str,
        dst_branch: str,
        dst_path: str,
        *,
        message: str = "",
        commit: str | None = None,
        metadata: Metadata | None = None,
    ) -> CommitInfo:
        if metadata:
            msg = message or f"copy {src_repo}@{src_ref}:/{src_path.strip('/')} to /{check_path(dst_path)}"

            def write(cid: str) -> object:
                return self.copy_file(src_repo, src_ref, src_path, dst_repo, dst_branch, dst_path, commit=cid)

            return self._in_new_commit(dst_repo, dst_branch, msg, metadata, commit, write)
        body = {
            "src_repo": src_repo,
            "src_ref": src_ref,
            "src_path": src_path,
            "dst_path": dst_path,
            "message": message,
            "commit": commit,
        }
        path = f"{self._repo(dst_repo)}/branches/{_q(dst_branch)}/copy"
        return _decode(CommitInfo, self._json("POST", path, json=body))

    def _content_url(self, repo: str, ref: str, path: str) -> str:
        return f"{self._repo(repo)}/refs/{_q(ref)}/files/{quote(check_path(path))}"

    def iter_file(
        self, repo: str, ref: str, path: str, start: int = 0, length: int | None = None
    ) -> Iterator[bytes]:
        if start < 0 or (length is not None and length < 0):
            raise errors.InvalidArgument("a byte range needs a non-negative start and length")
        if length == 0:
            return
        headers = {}
        if start or length is not None:
            end = "" if length is None else str(start + length - 1)
            headers["Range"] = f"bytes={start}-{end}"
        url = self._content_url(repo, ref, path)
        try:
            with self._http.stream("GET", url, headers=headers) as resp:
                if resp.status_code == 416:
                    return  # a start at or past the end: no bytes, as the direct client gives
                if resp.status_code >= 400:
                    raise self._error(resp)
                expected = int(resp.headers.get("content-length", "-1"))
                got = 0
                for piece in resp.iter_bytes(CHUNK):
                    got += len(piece)
                    yield piece
                if expected >= 0 and got != expected:
                    raise errors.BackendUnavailable(
                        f"the server closed the download of {repo}@{ref}:/{check_path(path)} early "
                        f"({got} of {expected} bytes)"
                    )
        except httpx.TransportError as err:
            raise errors.BackendUnavailable(f"download from {self.url} failed: {err}") from None

    def get_file(self, repo: str, ref: str, path: str) -> bytes:
        return b"".join(self.iter_file(repo, ref, path))

    def open_file(self, repo: str, ref: str, path: str) -> BinaryIO:
        """A seekable stream: the content is spooled (memory, then a temporary file) as it arrives."""
        spool: IO[bytes] = SpooledTemporaryFile(max_size=64 * 1024 * 1024)  # noqa: SIM115 -- returned
        try:
            for piece in self.iter_file(repo, ref, path):
                spool.write(piece)
        except BaseException:
            spool.close()
            raise
        spool.seek(0)
        return spool  # type: ignore[return-value]

    def get_to_path(
        self,
        repo: str,
        ref: str,
        path: str,
        dest: str | os.PathLike[str],
        *,
        progress: Progress | None = None,
    ) -> int:
        info = self.inspect_file(repo, ref, path)
        out = Path(dest)
        if info.kind == "file":
            if out.is_dir():
                out = out / (info.path.rsplit("/", 1)[-1] or "file")
            if info.size >= transfer.LARGE and (not out.exists() or out.is_file()):
                transfer.get_file(self, repo, info, out, progress)  # parallel ranged parts
                return 1
            self._download(repo, info.commit, info.path, out)
            if progress is not None:
                progress(info.size)
            return 1
        if out.exists() and not out.is_dir():
            raise errors.AlreadyExists(f"{out} exists and is not a directory: cannot write a directory there")
        n = transfer.get_dir(self, repo, info, out, progress)  # large files in parallel ranged parts
        if n is not None:
            return n
        # One batch stream of the whole directory, read from the commit the ref named.
        body = io.BufferedReader(_PiecesReader(self.iter_batch(repo, info.commit, info.path or "/")), CHUNK)
        return batch.extract_batch(body, out, progress=progress)

    def _download(self, repo: str, commit: str, path: str, target: Path) -> None:
        """Stream one file to ``target`` through a temporary file renamed into place."""
        tmp = target.with_name(f".{target.name}.datavc-tmp")
        try:
            with open(tmp, "wb") as f:
                for piece in self.iter_file(repo, commit, path):
                    f.write(piece)
            os.replace(tmp, target)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise

    def inspect_file(self, repo: str, ref: str, path: str) -> FileInfo:
        return _file(self._json("GET", f"{self._repo(repo)}/refs/{_q(ref)}/stat", params={"path": path}))

    def list_files(
        self, repo: str, ref: str, path: str = "/", *, recursive: bool = False
    ) -> Iterator[FileInfo]:
        params = {"path": path, "recursive": recursive}
        items = self._pages(f"{self._repo(repo)}/refs/{_q(ref)}/ls", params, pin=True)
        return (_file(d) for d in items)

    def glob_files(self, repo: str, ref: str, pattern: str) -> Iterator[FileInfo]:
        items = self._pages(f"{self._repo(repo)}/refs/{_q(ref)}/glob", {"pattern": pattern}, pin=True)
        return (_file(d) for d in items)

    def diff(
        self, repo: str, a: str, b: str | None = None, *, b_repo: str | None = None
    ) -> Iterator[DiffInfo]:
        items = self._pages(self._repo(repo) + "/diff", {"a": a, "b": b, "b_repo": b_repo})
        return (_decode(DiffInfo, d) for d in items)

    def diff_content(
        self,
        repo: str,
        a: str,
        b: str | None = None,
        *,
        b_repo: str | None = None,
        max_bytes: int = 1 << 20,
    ) -> Iterator[ContentDiffInfo]:
        params = {"a": a, "b": b, "b_repo": b_repo, "max_bytes": max_bytes}
        items = self._pages(self._repo(repo) + "/diff/content", params)
        return (_decode(ContentDiffInfo, d) for d in items)

    # ----- rollback ----------------------------------------------------------

    def rollback(
        self,
        repo: str,
        branch: str,
        to: str,
        *,
        message: str | None = None,
        metadata: Metadata | None = None,
        force: bool = False,
    ) -> CommitInfo:
        path = f"{self._repo(repo)}/branches/{_q(branch)}/rollback"
        body = {
            "to": to,
            "message": message,
            "metadata": dict(metadata) if metadata else None,
            "force": force,
        }
        return _decode(CommitInfo, self._json("POST", path, json=body))

    # ----- hooks -------------------------------------------------------------

    def add_hook(
        self,
        repo: str,
        name: str,
        event: str,
        *,
        cmd: Sequence[str] | None = None,
        url: str | None = None,
        branches: str = "*",
        image: str | None = None,
        timeout: float = 60.0,
        env: Mapping[str, str] | None = None,
    ) -> HookInfo:
        body = {
            "name": name,
            "event": event,
            "cmd": list(cmd) if cmd else None,
            "url": url,
            "branches": branches,
            "image": image,
            "timeout": timeout,
            "env": dict(env or {}),
        }
        return _decode(HookInfo, self._json("POST", self._repo(repo) + "/hooks", json=body))

    def list_hooks(self, repo: str) -> list[HookInfo]:
        return [_decode(HookInfo, d) for d in self._json("GET", self._repo(repo) + "/hooks")["items"]]

    def delete_hook(self, repo: str, name: str) -> None:
        self._request("DELETE", f"{self._repo(repo)}/hooks/{_q(name)}")

    def hook_results(self, repo: str, ref: str) -> list[HookResultInfo]:
        data = self._json("GET", f"{self._repo(repo)}/commits/{_q(ref)}/hooks")
        return [_decode(HookResultInfo, d) for d in data["items"]]

    # ----- merge, revert, cherry-pick ----------------------------------------

    def merge(
        self, repo: str, source: str, branch: str, *, no_ff: bool = False, **how: Unpack[Resolution]
    ) -> MergeInfo:
        body = {"source": source, "branch": branch, "no_ff": no_ff, **_resolution(how)}
        return _merge_info(self._json("POST", self._repo(repo) + "/merge", json=body))

    def cherry_pick(
        self, repo: str, ref: str, branch: str, *, force: bool = False, **how: Unpack[Resolution]
    ) -> MergeInfo:
        body = {"ref": ref, "branch": branch, "force": force, **_resolution(how)}
        return _merge_info(self._json("POST", self._repo(repo) + "/cherry-pick", json=body))

    def revert(
        self,
        repo: str,
        ref: str,
        branch: str | None = None,
        *,
        force: bool = False,
        **how: Unpack[Resolution],
    ) -> MergeInfo:
        body = {"ref": ref, "branch": branch, "force": force, **_resolution(how)}
        return _merge_info(self._json("POST", self._repo(repo) + "/revert", json=body))

    # ----- pipelines and jobs ------------------------------------------------

    def create_pipeline(
        self, spec: PipelineSpec | str | dict[str, Any] | None = None, **fields: Any
    ) -> PipelineInfo:
        body = {"spec": _spec(spec, fields).to_dict()}
        return _decode(PipelineInfo, self._json("POST", "/api/v1/pipelines", json=body))

    def update_pipeline(
        self,
        spec: PipelineSpec | str | dict[str, Any] | None = None,
        *,
        reprocess: bool = False,
        **fields: Any,
    ) -> PipelineInfo:
        parsed = _spec(spec, fields)
        body = {"spec": parsed.to_dict(), "reprocess": reprocess}
        return _decode(PipelineInfo, self._json("PUT", f"/api/v1/pipelines/{_q(parsed.name)}", json=body))

    def list_pipelines(self) -> list[PipelineInfo]:
        return [_decode(PipelineInfo, d) for d in self._pages("/api/v1/pipelines")]

    def inspect_pipeline(self, name: str) -> PipelineInfo:
        return _decode(PipelineInfo, self._json("GET", f"/api/v1/pipelines/{_q(name)}"))

    def delete_pipeline(self, name: str) -> None:
        self._request("DELETE", f"/api/v1/pipelines/{_q(name)}")

    def stop_pipeline(self, name: str) -> PipelineInfo:
        return _decode(PipelineInfo, self._json("POST", f"/api/v1/pipelines/{_q(name)}/stop"))

    def start_pipeline(self, name: str) -> PipelineInfo:
        return _decode(PipelineInfo, self._json("POST", f"/api/v1/pipelines/{_q(name)}/start"))

    def list_jobs(self, pipeline: str | None = None, limit: int | None = None) -> list[JobInfo]:
        out: list[JobInfo] = []
        for d in self._pages("/api/v1/jobs", {"pipeline": pipeline}):
            if limit and len(out) >= limit:
                break
            out.append(_decode(JobInfo, d))
        return out

    def inspect_job(self, job: str) -> JobInfo:
        return _decode(JobInfo, self._json("GET", f"/api/v1/jobs/{_q(job)}"))

    def wait_job(self, job: str, timeout: float | None = None) -> JobInfo:
        """Poll the job until it is done (the same Conflict as the direct client on timeout)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            info = self.inspect_job(job)
            if info.done:
                return info
            if deadline is not None and time.monotonic() > deadline:
                raise errors.Conflict(f"job {info.id} is still {info.state} after {timeout}s")
            time.sleep(WAIT_POLL)

    def run_triggered(
        self, since: datetime | None = None, on_job: Callable[[str, str], None] | None = None
    ) -> InlineOutcome:
        """The server's scheduler runs jobs: nothing runs in this process."""
        return InlineOutcome("server", ())

    def pipelines_run_mode(self, value: str | None = None) -> str:
        raise errors.InvalidArgument(
            "pipelines.run is not available through the datavc server API: the server's scheduler runs jobs"
        )

    def inspect_commit_set(self, commit_set: str) -> CommitSetInfo:
        return _commit_set(self._json("GET", f"/api/v1/commit-sets/{_q(commit_set)}"))

    def wait_commit_set(self, commit_set: str, timeout: float | None = None) -> CommitSetInfo:
        """Poll the set until none of its jobs is pending (the same Conflict as the direct client)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            data = self._json("GET", f"/api/v1/commit-sets/{_q(commit_set)}")
            info = _commit_set(data)
            if not data["pending"]:
                return info
            if deadline is not None and time.monotonic() > deadline:
                raise errors.Conflict(f"commit set {info.id} still has pending jobs after {timeout}s")
            time.sleep(WAIT_POLL)

    def wait(self, repo: str, branch: str = "main", timeout: float | None = None) -> list[JobInfo]:
        """Wait for the jobs downstream of the branch's head as it is now (the head is pinned first)."""
        head = self.inspect_commit(repo, branch).id
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            left = WAIT_SLICE if deadline is None else max(0.0, min(WAIT_SLICE, deadline - time.monotonic()))
            data = self._json(
                "GET", self._repo(repo) + "/wait", params={"ref": head, "timeout": left}, timeout=left + 30
            )
            if data["done"]:
                return [_decode(JobInfo, d) for d in data["items"]]
            if deadline is not None and time.monotonic() >= deadline:
                raise errors.Conflict(
                    f"jobs downstream of {repo}@{branch} are still running after {timeout}s"
                )

    def list_datums(self, job: str) -> Iterator[DatumInfo]:
        return (_decode(DatumInfo, d) for d in self._pages(f"/api/v1/jobs/{_q(job)}/datums"))

    def job_logs(self, job: str, datum: str | None = None) -> Iterator[tuple[str, str]]:
        data = self._json("GET", f"/api/v1/jobs/{_q(job)}/logs", params={"datum": datum} if datum else None)
        return iter([(d, text) for d, text in data["items"]])

    def preview_datums(self, spec: PipelineSpec | str | dict[str, Any]) -> list[DatumInfo]:
        body = {"spec": _spec(spec, {}).to_dict()}
        data = self._json("POST", "/api/v1/datums/preview", json=body)
        return [_decode(DatumInfo, d) for d in data["items"]]

    def stop_job(self, job: str) -> JobInfo:
        return _decode(JobInfo, self._json("POST", f"/api/v1/jobs/{_q(job)}/stop"))

    def kill_job(self, job: str) -> JobInfo:
        return self.stop_job(job)

    def follow_job_logs(self, job: str, poll: float = 0.5) -> Iterator[tuple[str, str]]:
        return super().follow_job_logs(job, poll)  # polls the methods above

    def restart_job(self, job: str) -> JobInfo:
        return _decode(JobInfo, self._json("POST", f"/api/v1/jobs/{_q(job)}/restart"))

    def restart_datum(self, job: str, datum: str) -> JobInfo:
        return _decode(JobInfo, self._json("POST", f"/api/v1/jobs/{_q(job)}/datums/{_q(datum)}/restart"))

    # ----- maintenance and lineage -------------------------------------------

    def fsck(self) -> FsckInfo:
        return _decode(FsckInfo, self._json("POST", "/api/v1/admin/fsck"))

    def gc(
        self,
        *,
        dry_run: bool = False,
        grace: timedelta | None = None,
        force: bool = False,
        upload_max_age: timedelta | None = None,
    ) -> GcInfo:
        body = {
            "dry_run": dry_run,
            "force": force,
            "grace_seconds": grace.total_seconds() if grace is not None else None,
            "upload_max_age_seconds": upload_max_age.total_seconds() if upload_max_age is not None else None,
        }
        return _decode(GcInfo, self._json("POST", "/api/v1/admin/gc", json=body))

    def lineage(
        self,
        repo: str,
        ref: str = "main",
        path: str | None = None,
        direction: Literal["upstream", "downstream"] = "upstream",
    ) -> LineageInfo:
        params = {"ref": ref, "path": path, "direction": direction}
        data = self._json("GET", self._repo(repo) + "/lineage", params={k: v for k, v in params.items() if v})
        data["root"] = _decode(LineageNode, data["root"])
        data["nodes"] = [_decode(LineageNode, n) for n in data["nodes"]]
        return _decode(LineageInfo, data)

    # ----- users, tokens, roles, audit (the server's own) ---------------------

    def whoami(self) -> dict[str, Any]:
        data: dict[str, Any] = self._json("GET", "/api/v1/auth/whoami")
        return data

    def create_user(self, name: str, *, admin: bool = False) -> UserInfo:
        from datavc.accounts import UserInfo

        return _decode(
            UserInfo, self._json("POST", "/api/v1/auth/users", json={"name": name, "admin": admin})
        )

    def list_users(self) -> list[UserInfo]:
        from datavc.accounts import UserInfo

        return [_decode(UserInfo, d) for d in self._pages("/api/v1/auth/users")]

    def delete_user(self, name: str) -> None:
        self._request("DELETE", f"/api/v1/auth/users/{_q(name)}")

    def create_token(
        self, user: str | None = None, *, name: str = "", expires_in: timedelta | None = None
    ) -> TokenInfo:
        from datavc.accounts import TokenInfo

        body = {
            "user": user,
            "name": name,
            "expires_in_seconds": int(expires_in.total_seconds()) if expires_in is not None else None,
        }
        return _decode(TokenInfo, self._json("POST", "/api/v1/auth/tokens", json=body))

    def list_tokens(self, user: str | None = None) -> list[TokenInfo]:
        from datavc.accounts import TokenInfo

        return [_decode(TokenInfo, d) for d in self._pages("/api/v1/auth/tokens", {"user": user})]

    def revoke_token(self, token_id: str) -> TokenInfo:
        from datavc.accounts import TokenInfo

        return _decode(TokenInfo, self._json("DELETE", f"/api/v1/auth/tokens/{_q(token_id)}"))

    def create_s3_key(self, user: str | None = None, *, name: str = "") -> S3KeyInfo:
        from datavc.s3keys import S3KeyInfo

        body = {"user": user, "name": name}
        return _decode(S3KeyInfo, self._json("POST", "/api/v1/auth/s3-keys", json=body))

    def list_s3_keys(self, user: str | None = None) -> list[S3KeyInfo]:
        from datavc.s3keys import S3KeyInfo

        params = {"user": user} if user is not None else None
        items = self._json("GET", "/api/v1/auth/s3-keys", params=params)["items"]
        return [_decode(S3KeyInfo, d) for d in items]

    def revoke_s3_key(self, access_key_id: str) -> S3KeyInfo:
        from datavc.s3keys import S3KeyInfo

        return _decode(S3KeyInfo, self._json("DELETE", f"/api/v1/auth/s3-keys/{_q(access_key_id)}"))

    def grant_role(self, repo: str, user: str, role: str) -> RoleInfo:
        from datavc.accounts import RoleInfo

        return _decode(
            RoleInfo, self._json("PUT", self._repo(repo) + "/roles", json={"user": user, "role": role})
        )

    def revoke_role(self, repo: str, user: str) -> None:
        self._request("DELETE", f"{self._repo(repo)}/roles/{_q(user)}")

    def list_roles(self, repo: str) -> list[RoleInfo]:
        from datavc.accounts import RoleInfo

        return [_decode(RoleInfo, d) for d in self._json("GET", self._repo(repo) + "/roles")["items"]]

    # ----- working copies (datavc.remote_workdir) -----------------------------

    def checkout(
        self,
        repo: str,
        ref: str,
        dir: str | os.PathLike[str],
        *,
        force: bool = False,
        progress: Progress | None = None,
    ) -> CheckoutInfo:
        return remote_workdir.checkout(self, repo, ref, dir, force=force, progress=progress)

    def status(self, dir: str | os.PathLike[str] = ".", *, on_skip: Skipped | None = None) -> StatusInfo:
        return remote_workdir.status(dir, on_skip=on_skip)

    def commit_workdir(
        self,
        dir: str | os.PathLike[str] = ".",
        message: str = "",
        *,
        rebase: bool = False,
        on_skip: Skipped | None = None,
        metadata: Metadata | None = None,
    ) -> CommitInfo:
        return remote_workdir.commit_workdir(
            self, dir, message, rebase=rebase, on_skip=on_skip, metadata=metadata
        )

    def audit(
        self, *, repo: str | None = None, user: str | None = None, since: datetime | None = None
    ) -> list[AuditInfo]:
        from datavc.audit import AuditInfo

        params = {"repo": repo, "user": user, "since": since.isoformat() if since else None}
        data = self._json("GET", "/api/v1/auth/audit", params={k: v for k, v in params.items() if v})
        return [_decode(AuditInfo, d) for d in data["items"]]


def _resolution(how: Resolution) -> dict[str, Any]:
    """A merge's, cherry-pick's or revert's shared options as the server's JSON body has them."""
    metadata = how.get("metadata")
    return {
        "strategy": how.get("strategy"),
        "ours": list(how.get("ours", ())),
        "theirs": list(how.get("theirs", ())),
        "dry_run": how.get("dry_run", False),
        "message": how.get("message"),
        "metadata": dict(metadata) if metadata else None,
    }


def _merge_info(data: dict[str, Any]) -> MergeInfo:
    """A MergeInfo from its JSON form (the commit and the conflicts are nested values)."""
    commit = _decode(CommitInfo, data["commit"]) if data.get("commit") else None
    conflicts = tuple(_decode(MergeConflict, c) for c in data.get("conflicts", []))
    info = _decode(MergeInfo, {**data, "commit": None, "conflicts": []})
    return replace(info, commit=commit, conflicts=conflicts)


def _chunks(f: BinaryIO | IO[bytes], progress: Progress | None) -> Iterator[bytes]:
    while True:
        piece = f.read(CHUNK)
        if not piece:
            return
        if progress is not None:
            progress(len(piece))
        yield piece


_JOBS_RUN_BESIDE = (
    "pipeline jobs run beside the server: 'datavc serve' runs them itself (unless --no-scheduler), "
    "or start 'datavc daemon' on the store's host (with the store, not DATAVC_SERVER), "
    "as docs/deploy.md shows"
)
_WHY_UNSUPPORTED = {
    "run": _JOBS_RUN_BESIDE,
    "daemon": _JOBS_RUN_BESIDE,
    "repair_objects": "it reads files on the caller's disk: run 'datavc fsck --repair' on the store's host",
}


def _unsupported(name: str) -> Callable[..., Any]:
    why = _WHY_UNSUPPORTED.get(name)

    def method(self: RemoteClient, *args: Any, **kwargs: Any) -> Any:
        raise NotSupportedRemotely(
            f"{name} is not available through the datavc server API" + (f": {why}" if why else " yet")
        )

    method.__name__ = name
    method.__doc__ = f"Not available remotely yet: raises NotSupportedRemotely ({name})."
    return method


REMOTE_UNSUPPORTED = (
    "adopt",
    "run",
    "daemon",
    "repair_objects",  # reads files on the caller's disk: run it on the store's host
)
"""``Client`` operations the server API does not cover yet (docs/server.md lists them)."""

for _name in REMOTE_UNSUPPORTED:
    setattr(RemoteClient, _name, _unsupported(_name))
del _name

__all__ = ["REMOTE_UNSUPPORTED", "NotSupportedRemotely", "RemoteClient"]
