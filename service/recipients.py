"""What a recipient agreed to receive: per-category preferences and the suppression list."""

from __future__ import annotations

import json
from typing import Any

from redis.asyncio import Redis

from service.channels import CHANNELS
from service.keys import SUPPRESSED_KEY, SUPPRESSED_ORDER_KEY, prefs_key
from service.templates import ALWAYS_SENT, CATEGORIES

OPTIONAL_CATEGORIES = sorted(CATEGORIES - ALWAYS_SENT)


async def preferences(redis: Redis, email: str) -> dict[str, bool]:
    categories, _ = await all_preferences(redis, email)
    return categories


async def all_preferences(redis: Redis, key: str) -> tuple[dict[str, bool], dict[str, dict[str, bool]]]:
    """By category, and by category and channel (`category:channel` fields; a category that is
    off is off on every channel)."""
    raw = await redis.hgetall(prefs_key(key))
    opted_out = {k.decode() for k, v in raw.items() if v == b"0"}
    categories = {category: category not in opted_out for category in sorted(CATEGORIES)}
    channels = {category: {c: f"{category}:{c}" not in opted_out for c in CHANNELS}
                for category in OPTIONAL_CATEGORIES}
    return categories, channels


async def set_preferences(redis: Redis, email: str, categories: dict[str, bool],
                          channels: dict[str, dict[str, bool]] | None = None) -> None:
    """Sets what is named; the rest keeps its value. Opted in is the default."""
    mapping = {c: "1" if on else "0" for c, on in categories.items()}
    mapping |= {f"{c}:{ch}": "1" if on else "0" for c, by in (channels or {}).items() for ch, on in by.items()}
    if mapping:
        await redis.hset(prefs_key(email), mapping=mapping)


async def suppression(redis: Redis, email: str) -> dict[str, Any] | None:
    raw = await redis.hget(SUPPRESSED_KEY, email.lower())
    return json.loads(raw) if raw else None


async def suppress(redis: Redis, email: str, *, reason: str, at: str) -> None:
    value = json.dumps({"reason": reason, "at": at}, separators=(",", ":"))
    async with redis.pipeline(transaction=True) as pipe:
        pipe.hset(SUPPRESSED_KEY, email.lower(), value)
        pipe.zadd(SUPPRESSED_ORDER_KEY, {email.lower(): 0})
        await pipe.execute()


async def unsuppress(redis: Redis, email: str) -> bool:
    async with redis.pipeline(transaction=True) as pipe:
        pipe.hdel(SUPPRESSED_KEY, email.lower())
        pipe.zrem(SUPPRESSED_ORDER_KEY, email.lower())
        removed, _ = await pipe.execute()
    return bool(removed)


async def list_suppressions(redis: Redis, *, after: str | None, limit: int) -> tuple[list[dict[str, Any]], str | None]:
    """In address order; the hash holds the details, a sorted set (all scores 0) the order."""
    low = f"({after}" if after else "-"
    emails = await redis.zrangebylex(SUPPRESSED_ORDER_KEY, low, "+", start=0, num=limit + 1)
    page = emails[:limit]
    details = await redis.hmget(SUPPRESSED_KEY, page) if page else []
    items = [{"email": e.decode()} | json.loads(d) for e, d in zip(page, details, strict=True) if d]
    return items, page[-1].decode() if len(emails) > limit else None
