"""History on disk: finished notifications and audit entries in PostgreSQL (`DATABASE_URL`)."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from redis.asyncio import Redis
from redis.exceptions import RedisError

from service.keys import ARCHIVING_KEY
from service.settings import Settings

if TYPE_CHECKING:
    from service.archive.pg import Archive

log = logging.getLogger("herald.archive")
ARCHIVING_TTL_SECONDS = 86_400


async def open_archive(settings: Settings, *, max_size: int = 10, wait: bool = True) -> Archive | None:
    """The archive DATABASE_URL names, its tables brought up to date; None when it is unset.
    `wait=False` (the web, the worker): start without PostgreSQL if it is away (Archive.open)."""
    if not settings.database_url:
        return None
    # Imported here, so that a Redis-only deployment never loads asyncpg.
    from service.archive.pg import Archive

    return await Archive.open(settings.database_url, retention_days=settings.history_retention_days,
                              max_size=max_size, wait=wait)


async def mark_archiving(redis: Redis) -> None:
    """From now on the scripts index finished records for the mover (lua/common.lua). Set by every
    process that opens the archive, and again after each round (a Redis that lost it). It lapses a
    day after the last: a deployment that drops DATABASE_URL stops indexing, and prune_indexes
    clears what is left."""
    try:
        await redis.set(ARCHIVING_KEY, "1", ex=ARCHIVING_TTL_SECONDS)
    except RedisError as exc:  # a web starting while Redis is away: the mover's next round sets it
        log.warning("archive: could not mark Redis as archiving: %s", exc)
