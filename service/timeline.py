"""The last hour, minute by minute: what the dashboard's chart draws.

Each minute is a hash `herald:minute:<minutes since the epoch>` that lives two hours. The
scripts that accept a notification and record an attempt add to it (no extra round trip):
`accepted`, for each recorded attempt the status it left the notification in (`sent`,
`retrying`, `failed`), and `suppressed` when an unsubscribe or bounce arrived while it waited. The sweeper, which runs on the default worker every 30 s, adds how many
jobs were due in each lane (`depth_default`, `depth_bulk`), so a minute with no worker alive has
no depth.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from redis.asyncio import Redis

from service.queue import ask_depths, read_depths

PREFIX = "herald:minute:"
KEEP_SECONDS = 7200


def minute_key(minute: int) -> str:
    return f"{PREFIX}{minute}"


@dataclass(frozen=True)
class Minute:
    start: int  # seconds since the epoch
    counts: dict[str, int] = field(default_factory=dict)

    def get(self, name: str) -> int:
        return self.counts.get(name, 0)

    @property
    def depth(self) -> int | None:
        if "depth_default" not in self.counts and "depth_bulk" not in self.counts:
            return None
        return self.get("depth_default") + self.get("depth_bulk")


async def last_hour(redis: Redis, *, now: float | None = None, minutes: int = 60) -> list[Minute]:
    """Oldest first, the current (unfinished) minute last: one pipelined round trip."""
    current = int((time.time() if now is None else now) // 60)
    span = range(current - minutes + 1, current + 1)
    async with redis.pipeline(transaction=False) as pipe:
        for minute in span:
            pipe.hgetall(minute_key(minute))
        replies = await pipe.execute()
    return [Minute(minute * 60, {k.decode(): int(v) for k, v in raw.items()}) for minute, raw in zip(span, replies)]


async def sample_depth(redis: Redis, *, now: float | None = None) -> None:
    """Record how many jobs are due in each lane right now (the later sample of a minute wins)."""
    now = time.time() if now is None else now
    async with redis.pipeline(transaction=False) as pipe:
        ask_depths(pipe, int(now * 1000))
        depths = read_depths(await pipe.execute())
    key = minute_key(int(now // 60))
    async with redis.pipeline(transaction=True) as pipe:
        pipe.hset(key, mapping={f"depth_{lane}": due for lane, (due, _) in depths.items()})
        pipe.expire(key, KEEP_SECONDS)
        await pipe.execute()
