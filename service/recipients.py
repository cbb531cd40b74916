"""What a recipient agreed to receive: per-category preferences and the suppression list."""

from __future__ import annotations

import json
from typing import Any

from redis.asyncio import Redis

from service.store import SUPPRESSED_KEY, prefs_key
from service.templates import ALWAYS_SENT, CATEGORIES

OPTIONAL_CATEGORIES = sorted(CATEGORIES - ALWAYS_SENT)


async def preferences(redis: Redis, email: str) -> dict[str, bool]:
    raw = await redis.hgetall(prefs_key(email))
    opted_out = {k.decode() for k, v in raw.items() if v == b"0"}
    return {category: category not in opted_out for category in sorted(CATEGORIES)}


async def set_preferences(redis: Redis, email: str, categories: dict[str, bool]) -> None:
    """Sets the categories named; the others keep their value. Opted in is the default."""
    if categories:
        await redis.hset(prefs_key(email), mapping={c: "1" if on else "0" for c, on in categories.items()})


async def suppression(redis: Redis, email: str) -> dict[str, Any] | None:
    raw = await redis.hget(SUPPRESSED_KEY, email.lower())
    return json.loads(raw) if raw else None


async def suppress(redis: Redis, email: str, *, reason: str, at: str) -> None:
    value = json.dumps({"reason": reason, "at": at}, separators=(",", ":"))
    await redis.hset(SUPPRESSED_KEY, email.lower(), value)


async def unsuppress(redis: Redis, email: str) -> bool:
    return bool(await redis.hdel(SUPPRESSED_KEY, email.lower()))


async def list_suppressions(redis: Redis, *, cursor: int, limit: int) -> tuple[list[dict[str, Any]], int]:
    """One HSCAN step: Redis's cursor is the page cursor (0 when the scan is complete)."""
    next_cursor, found = await redis.hscan(SUPPRESSED_KEY, cursor=cursor, count=limit)
    items = [{"email": k.decode()} | json.loads(v) for k, v in found.items()]
    return sorted(items, key=lambda i: i["email"]), next_cursor
