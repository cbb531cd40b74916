"""The in-app inbox: each recipient's items, newest first, with read / seen / archived state.

An item is its inbox delivery's record (the rendered title, body and url in `inbox_item`, the
state in `read_at`, `seen_at`, `archived_at`), so it lives and expires exactly as records do.
Sorted sets by delivery time order the items and count the unread and unseen; entries older
than the retention are dropped as they are read, the sets themselves expire when idle. Every
change is published on the recipient's channel, which the SSE stream relays.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, Literal

from redis.asyncio import Redis

from service import jsonio
from service.keys import PREFIX, record_key
from service.models import iso

State = Literal["read", "seen", "archived"]
STATES: tuple[State, ...] = ("read", "seen", "archived")


def _key(recipient: str, part: str) -> str:
    return f"{PREFIX}inbox:{recipient}:{part}"


def events_channel(recipient: str) -> str:
    return f"{PREFIX}inbox-events:{recipient}"


def _keys(recipient: str) -> dict[str, str]:
    return {part: _key(recipient, part) for part in ("items", "unread", "unseen", "archived")}


async def file(redis: Redis, recipient: str, delivery_id: str, item: dict[str, Any], *, retention: int) -> None:
    """Put a delivered item in the inbox: safe to repeat (a retried job files it once)."""
    at_ms = int(time.time() * 1000)
    keys = _keys(recipient)
    async with redis.pipeline(transaction=True) as pipe:
        pipe.hsetnx(record_key(delivery_id), "delivered_ms", at_ms)
        pipe.hset(record_key(delivery_id), "inbox_item", jsonio.dumps(item))
        for part in ("items", "unread", "unseen"):
            pipe.zadd(keys[part], {delivery_id: at_ms}, nx=True)
        for key in keys.values():
            pipe.expire(key, retention)
        await pipe.execute()
    await publish(redis, recipient, "inbox.item", {"id": delivery_id})


async def publish(redis: Redis, recipient: str, event: str, data: dict[str, Any]) -> None:
    await redis.publish(events_channel(recipient), jsonio.dumps({"event": event, **data}))


async def counts(redis: Redis, recipient: str, *, retention: int) -> dict[str, int]:
    keys = _keys(recipient)
    oldest = int(time.time() * 1000) - retention * 1000
    async with redis.pipeline(transaction=False) as pipe:
        for key in keys.values():
            pipe.zremrangebyscore(key, "-inf", f"({oldest}")
        for part in ("items", "unread", "unseen"):
            pipe.zcard(keys[part])
        *_, total, unread, unseen = await pipe.execute()
    return {"total": total, "unread": unread, "unseen": unseen}


async def page(redis: Redis, recipient: str, *, archived: bool, before: tuple[int, str] | None,
               limit: int) -> tuple[list[str], tuple[int, str] | None]:
    """Item ids newest first, after the cursor position (delivered ms, id); the next position."""
    key = _key(recipient, "archived" if archived else "items")
    high = "+inf" if before is None else before[0]
    found = await redis.zrevrangebyscore(key, high, "-inf", start=0, num=limit + 50, withscores=True)
    ids: list[tuple[int, str]] = []
    for raw, score in found:
        position = (int(score), raw.decode())
        if before is None or position < before:
            ids.append(position)
    taken = ids[:limit]
    more = len(ids) > limit or len(found) == limit + 50
    return [i for _, i in taken], (taken[-1] if more and taken else None)


async def since(redis: Redis, recipient: str, last_id: str, *, limit: int = 100) -> list[str]:
    """The items filed after `last_id` (a stream's Last-Event-ID), oldest first: what a stream
    that reconnects missed. Nothing when that item is unknown (the page reloads its list)."""
    key = _key(recipient, "items")
    score = await redis.zscore(key, last_id)
    if score is None:
        return []
    found = await redis.zrangebyscore(key, score, "+inf", start=0, num=limit + 1, withscores=True)
    return [raw.decode() for raw, at in found if (at, raw.decode()) > (score, last_id)][:limit]


def item(record: dict[str, Any]) -> dict[str, Any]:
    """What the API and the stream show of an inbox record."""
    content = jsonio.loads(record.get("inbox_item") or "{}")
    delivered = int(record.get("delivered_ms") or 0)
    return {"id": record["id"], "notification": record.get("notification") or record["id"],
            "template": record.get("template"), "category": record.get("category"),
            "title": content.get("title"), "body": content.get("body"), "url": content.get("url"),
            "data": content.get("data"),
            "delivered_at": iso(datetime.fromtimestamp(delivered / 1000, UTC)) if delivered else None,
            **{f"{s}_at": record.get(f"{s}_at") or None for s in STATES}}


async def mark(redis: Redis, recipient: str, ids: Sequence[str], state: State, on: bool) -> list[str]:
    """Set or clear one state on the given items; returns the ids that changed."""
    keys = _keys(recipient)
    changed = await _present(redis, keys, ids)
    if not changed:
        return []
    now = iso(datetime.now(UTC))
    async with redis.pipeline(transaction=True) as pipe:
        for delivery_id, score in changed:
            _mark_one(pipe, keys, delivery_id, score, state, on, now)
        await pipe.execute()
    await publish(redis, recipient, "inbox.updated", {"ids": [i for i, _ in changed], "state": state, "on": on})
    return [i for i, _ in changed]


async def all_ids(redis: Redis, recipient: str, state: State) -> list[str]:
    """The items that marking everything `state` would change."""
    part = {"read": "unread", "seen": "unseen", "archived": "items"}[state]
    return [raw.decode() for raw in await redis.zrange(_key(recipient, part), 0, -1)]


async def _present(redis: Redis, keys: dict[str, str], ids: Sequence[str]) -> list[tuple[str, float]]:
    async with redis.pipeline(transaction=False) as pipe:
        for delivery_id in ids:
            pipe.zscore(keys["items"], delivery_id)
            pipe.zscore(keys["archived"], delivery_id)
        scores = await pipe.execute()
    out = []
    for n, delivery_id in enumerate(ids):
        score = scores[2 * n] if scores[2 * n] is not None else scores[2 * n + 1]
        if score is not None:
            out.append((delivery_id, score))
    return out


def _mark_one(pipe: Any, keys: dict[str, str], delivery_id: str, score: float, state: State, on: bool,
              now: str) -> None:
    record = record_key(delivery_id)
    if on:
        pipe.hset(record, f"{state}_at", now)
    else:
        pipe.hdel(record, f"{state}_at")
    if state == "archived":
        source, target = ("items", "archived") if on else ("archived", "items")
        pipe.zrem(keys[source], delivery_id)
        pipe.zadd(keys[target], {delivery_id: score})
        return
    parts = ("unread",) if state == "read" else ("unseen",)
    if state == "read" and on:  # what has been read has been seen
        pipe.hsetnx(record, "seen_at", now)
        parts = ("unread", "unseen")
    for part in parts:
        if on:
            pipe.zrem(keys[part], delivery_id)
        else:
            pipe.zadd(keys[part], {delivery_id: score})
