"""The audit log: who did what, kept in the Redis stream `herald:audit`.

Stream ids are time-ordered, so "newest first" is XREVRANGE and retention is XADD's MINID.
Delivery history lives in the notification records; this is the log of requests and
unsubscribes, which outlives neither its retention nor its purpose.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from redis.asyncio import Redis

from service import jsonio
from service.models import iso
from service.keys import AUDIT_KEY

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
    redis: Redis, *, actor: str | None, since: datetime | None, cursor: str | None, limit: int
) -> tuple[list[dict[str, Any]], str | None]:
    """Newest first. The cursor is the stream id of the last item returned."""
    if cursor is not None and cursor.strip("0-") == "":
        return [], None  # nothing is older than 0-0
    low = "-" if since is None else f"{max(int(since.timestamp() * 1000), 0)}-0"
    high = "+" if cursor is None else f"({cursor}"
    items: list[dict[str, Any]] = []
    scanned = 0
    # Filtering by actor happens here, so read in chunks until the page is full (or the scan cap:
    # then the cursor says where to go on).
    while len(items) < limit:
        if scanned >= MAX_SCANNED:
            return items, high[1:]
        chunk = await redis.xrevrange(AUDIT_KEY, max=high, min=low, count=max(limit * 2, 50))
        if not chunk:
            return items, None
        for stream_id, fields in chunk:
            scanned += 1
            high = f"({stream_id.decode()}"
            item = jsonio.loads(fields[b"entry"])
            if actor is None or item["actor"] == actor:
                items.append(item)
                if len(items) == limit:
                    return items, stream_id.decode()
    return items, None
