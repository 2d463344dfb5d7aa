"""Cursor pagination for listings: ``?limit=N&after=CURSOR`` -> ``{"items": [...], "next": CURSOR|null}``.

The cursor is the key of the last item returned (a name, a path); the next page starts
after it. Listings of a ref pin the ref to a commit id on the first page (returned as
``commit``) so later pages read the same snapshot even if the branch moves.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Annotated, Any, TypeVar

from fastapi import Query

T = TypeVar("T")

DEFAULT_LIMIT = 1000
MAX_LIMIT = 10_000

Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Items per page.")]
After = Annotated[str | None, Query(description="The `next` cursor of the previous page.")]


def page(
    items: Iterable[T], limit: int, after: str | None, key: Callable[[T], str], to_json: Callable[[T], Any]
) -> dict[str, Any]:
    """One page of ``items`` (in their own order): those after the one whose key is ``after``.

    An ``after`` that matches nothing gives an empty page (the listing changed under the cursor).
    """
    it = iter(items)
    if after is not None:
        for item in it:
            if key(item) == after:
                break
    out: list[T] = []
    for item in it:
        out.append(item)
        if len(out) == limit:
            break
    more = len(out) == limit and next(it, None) is not None
    return {"items": [to_json(i) for i in out], "next": key(out[-1]) if more else None}
