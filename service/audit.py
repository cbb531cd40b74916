"""The audit log: who did what, kept in the Redis stream `herald:audit`.

Stream ids are time-ordered, so "newest first" is XREVRANGE and retention is XADD's MINID.
Delivery history lives in the notification records; this is the log of requests and
unsubscribes, which outlives neither its retention nor its purpose.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from redis.asyncio import Redis

from service import jsonio
from service.models import iso
from service.archive import audit_log
from service.keys import AUDIT_KEY

if TYPE_CHECKING:
    from service.archive.pg import Archive

MAX_SCANNED = 10_000


def entry(*, actor: str, action: str, target: str, detail: dict[str, Any] | None, at: datetime) -> str:
    return jsonio.dumps({"at": iso(at), "actor": actor, "action": action, "target": target, "detail": detail or {}})


def min_id(at: datetime, retention_seconds: int) -> str:
    return f"{max(int(at.timestamp() * 1000) - retention_seconds * 1000, 0)}-0"


async def record(
    redis: Redis,
    *,
    actor: str,
    action: str,
    target: str,
    at: datetime,
    retention_seconds: int,
    detail: dict[str, Any] | None = None,
) -> None:
    await redis.xadd(
        AUDIT_KEY,
        {"entry": entry(actor=actor, action=action, target=target, detail=detail, at=at)},
        minid=min_id(at, retention_seconds),
        approximate=True,
    )


async def query(
    redis: Redis, *, actor: str | None, since: datetime | None, cursor: str | None, limit: int,
    archive: Archive | None = None,
) -> tuple[list[dict[str, Any]], str | None]:
    """Newest first. The cursor is the stream id of the last item returned. With an archive, a
    page the stream cannot fill goes on in PostgreSQL, below the oldest entry the stream holds."""
    items, next_cursor, below = await _query_stream(redis, actor=actor, since=since, cursor=cursor, limit=limit)
    if archive is None or next_cursor is not None or len(items) == limit:
        return items, next_cursor
    # Below the last entry the stream read gave: what the mover took meanwhile is all beneath it.
    since_ms = None if since is None else max(int(since.timestamp() * 1000), 0)
    more, next_cursor = await audit_log.older(archive, actor=actor, since_ms=since_ms, below=below,
                                              limit=limit - len(items))
    return items + more, next_cursor


async def _query_stream(
    redis: Redis, *, actor: str | None, since: datetime | None, cursor: str | None, limit: int
) -> tuple[list[dict[str, Any]], str | None, str | None]:
    """(items, the cursor, the lowest stream id read or the cursor given: where older ones go on)."""
    if cursor is not None and cursor.strip("0-") == "":
        return [], None, cursor  # nothing is older than 0-0
    low = "-" if since is None else f"{max(int(since.timestamp() * 1000), 0)}-0"
    high = "+" if cursor is None else f"({cursor}"
    items: list[dict[str, Any]] = []
    scanned = 0
    # Filtering by actor happens here, so read in chunks until the page is full (or the scan cap:
    # then the cursor says where to go on).
    while len(items) < limit:
        if scanned >= MAX_SCANNED:
            return items, high[1:], high[1:]
        chunk = await redis.xrevrange(AUDIT_KEY, max=high, min=low, count=max(limit * 2, 50))
        if not chunk:
            return items, None, None if high == "+" else high[1:]
        for stream_id, fields in chunk:
            scanned += 1
            high = f"({stream_id.decode()}"
            item = jsonio.loads(fields[b"entry"])
            if actor is None or item["actor"] == actor:
                items.append(item)
                if len(items) == limit:
                    return items, stream_id.decode(), stream_id.decode()
    return items, None, None if high == "+" else high[1:]
