"""Delivery history: notifications newest first, filtered, in pages.

Each record is indexed at creation in sorted sets scored by creation time: all, by recipient,
by template and by status (kept current by the status scripts). A query walks the most
selective index that applies and checks the other filters on the records themselves.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from service import cursors
from service.cursors import BadCursor
from service.keys import INDEX_ALL, recipient_email, recipient_index, status_index, template_index
from service.store import Store

SCAN_CHUNK = 200
MAX_SCANNED = 5000  # per page: a rare filter over a huge index answers with a cursor, not a stall


@dataclass(frozen=True)
class Query:
    to: str | None = None
    status: str | None = None
    template: str | None = None
    since_ms: int | None = None
    until_ms: int | None = None
    limit: int = 50

    def index(self) -> str:
        if self.to:
            return recipient_index(self.to)
        if self.template:
            return template_index(self.template)
        if self.status:
            return status_index(self.status)
        return INDEX_ALL

    def where(self) -> dict[str, Any]:
        """The same filters, as the archive's columns (service.archive)."""
        return {"recipient": self.to.lower() if self.to else None, "status": self.status,
                "template": self.template, "since_ms": self.since_ms, "until_ms": self.until_ms}

    def matches(self, record: dict[str, Any]) -> bool:
        return (
            (self.status is None or record["status"] == self.status)
            and (self.template is None or record["template"] == self.template)
            and (self.to is None or recipient_email(record) == self.to.lower())
        )


def encode_cursor(score: int, notification_id: str) -> str:
    return cursors.encode(f"{score}\n{notification_id}")


def decode_cursor(cursor: str) -> tuple[int, str]:
    score, _, notification_id = cursors.decode(cursor).partition("\n")
    try:
        position = int(score), notification_id
    except ValueError:
        raise BadCursor("invalid cursor") from None
    # What PostgreSQL could not take either: a bigint, text without NUL.
    if not 0 <= position[0] < 2**63 or "\x00" in notification_id:
        raise BadCursor("invalid cursor")
    return position


async def search(store: Store, query: Query, cursor: str | None) -> tuple[list[dict[str, Any]], str | None]:
    """Newest first, with their attempts; the cursor is the (score, id) of the last entry looked at."""
    found, next_cursor = await _scan(store, query, cursor)
    full = [r for r in await store.get_many([r["id"] for r in found]) if r is not None]
    if store.archive is None:
        return full, next_cursor
    return await _with_archived(store, query, cursor, full, next_cursor)


async def _with_archived(store: Store, query: Query, cursor: str | None, found: list[dict[str, Any]],
                         next_cursor: str | None) -> tuple[list[dict[str, Any]], str | None]:
    """Redis's page merged with PostgreSQL's, in one order. Each source is complete only down to
    where its read stopped (Redis's scan, PostgreSQL's `limit` rows): the page holds what lies
    above both, and goes on from the higher of the two when that leaves it short."""
    assert store.archive is not None
    read = await store.archive.search(query.where(), before=decode_cursor(cursor) if cursor else None,
                                      limit=query.limit)
    # One that Redis holds again (a retry, a late bounce) is Redis's to show, or not; one Redis
    # showed and the mover took since is shown once.
    live = await store.live([r["id"] for r in read])
    shown = {r["id"] for r in found}
    older = [r for r, alive in zip(read, live, strict=True) if not alive and r["id"] not in shown]
    frontiers = [decode_cursor(next_cursor)] if next_cursor else []
    if len(read) == query.limit:
        frontiers.append(_position(read[-1]))
    frontier = max(frontiers, default=None)
    merged = sorted(found + older, key=_position, reverse=True)
    if frontier is not None:
        merged = [r for r in merged if _position(r) >= frontier]
    page = merged[:query.limit]
    if len(page) == query.limit:
        return page, encode_cursor(*_position(page[-1]))
    return page, None if frontier is None else encode_cursor(*frontier)


def _position(record: dict[str, Any]) -> tuple[int, str]:
    return int(record["created_ms"]), record["id"]


async def _scan(store: Store, query: Query, cursor: str | None) -> tuple[list[dict[str, Any]], str | None]:
    after = decode_cursor(cursor) if cursor else None
    high = after[0] if after else (query.until_ms if query.until_ms is not None else "+inf")
    low = query.since_ms if query.since_ms is not None else "-inf"
    found: list[dict[str, Any]] = []
    offset = scanned = 0
    last: tuple[int, str] | None = None
    while scanned < MAX_SCANNED:
        chunk = await store.redis.zrevrangebyscore(query.index(), high, low, start=offset, num=SCAN_CHUNK,
                                                   withscores=True)
        if not chunk:
            return found, None
        offset += len(chunk)
        entries = [(int(score), member.decode()) for member, score in chunk]
        entries = [e for e in entries if after is None or e[0] < after[0] or e[1] < after[1]]
        records = await store.get_many([nid for _, nid in entries], attempts=False)
        for (score, nid), record in zip(entries, records, strict=True):
            scanned += 1
            last = (score, nid)
            if record is not None and query.matches(record):
                found.append(record)
                if len(found) == query.limit:
                    return found, encode_cursor(score, nid)
    return found, encode_cursor(*last) if last else None
