"""Delivery reports that matched no notification: kept, so that none is dropped unseen."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from service import cursors, events
from service.deps import ActorDep, StoreDep
from service.errors import unprocessable

router = APIRouter(prefix="/v1/reports", tags=["delivery events"])


@router.get("/unmatched")
async def list_unmatched(
    _: ActorDep, store: StoreDep,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(max_length=100)] = None,
) -> dict[str, Any]:
    """Bounces, complaints and unparsed mail whose notification was unknown or gone (their
    addresses were still suppressed where the report said so), newest first."""
    try:
        before = cursors.decode(cursor) if cursor else None
    except cursors.BadCursor:
        before = ""
    if before is not None and not _stream_id(before):
        raise unprocessable(["query", "cursor"], "invalid cursor")
    items, last = await events.unmatched(store.redis, before=before, limit=limit)
    return {"items": items, "next_cursor": cursors.encode(last) if last else None}


def _stream_id(position: str) -> bool:
    ms, dash, seq = position.partition("-")
    return bool(dash) and ms.isdigit() and seq.isdigit() and int(ms) < 2**64 and int(seq) < 2**64
