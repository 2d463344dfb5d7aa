"""Helpers every console page uses: the caller's client and role, and paging."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TypeVar

from fastapi import Request

from datavc import accounts
from datavc.accounts import ROLE_RANK
from datavc.server.auth import base_client, check_repo_role, current_identity

T = TypeVar("T")

PAGE = 50


def role(request: Request, repo: str) -> str | None:
    """The caller's role on ``repo`` (admins are owners everywhere): decides which buttons show."""
    me = current_identity(request)
    if me.is_admin:
        return "owner"
    return accounts.role_on(base_client(request).context, me.user_id, repo)


def can(request: Request, repo: str, needed: str) -> bool:
    have = role(request, repo)
    return have is not None and ROLE_RANK[have] >= ROLE_RANK[needed]


def need_reader(request: Request, repo: str) -> None:
    """Raise Forbidden unless the caller may read ``repo`` (for repos a page shows besides its own)."""
    check_repo_role(request, current_identity(request), repo, "reader")


def after_key(
    items: Iterable[T], after: str | None, key: Callable[[T], str], limit: int
) -> tuple[list[T], str | None]:
    """One page of a streamed listing: up to ``limit`` items after the one keyed ``after``.

    Returns the items and the cursor of the next page (None on the last one). Only the
    items up to the end of the page are read from the stream.
    """
    it = iter(items)
    if after is not None:
        for item in it:
            if key(item) == after:
                break
    out: list[T] = []
    for item in it:
        if len(out) == limit:
            return out, key(out[-1])
        out.append(item)
    return out, None
