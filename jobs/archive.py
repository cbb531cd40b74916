"""The move to PostgreSQL: finished notifications and old audit entries leave Redis.

Each round reads a batch of records that finished ARCHIVE_AFTER_SECONDS ago or more, commits them
to PostgreSQL, and only then drops them from Redis (lua/archived.lua), keeping a key of their
fingerprint where a repeat of the request could come. A crash between the two leaves a record in
both, and the next round writes it again over itself: nothing is lost and nothing is doubled.
"""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from service.archive import audit_log, mark_archiving, moves, schema
from service.keys import FINISHED_INDEX, STATS_KEY
from service.store import TERMINAL, Store

if TYPE_CHECKING:
    import asyncpg

    from service.archive.pg import Archive

log = logging.getLogger("herald.archive")

BATCH = 500
BUDGET_SECONDS = 8  # a round runs every 10 s (jobs.worker): the rest waits for the next


async def archive_finished(ctx: dict[str, Any]) -> int:
    """One round of the mover; how many records moved."""
    archive: Archive | None = ctx.get("archive")
    if archive is None:
        return 0
    store: Store = ctx["store"]
    # First, whatever comes of the round: even while PostgreSQL is away, what finishes meanwhile
    # is indexed, to be moved once it is back.
    await mark_archiving(store.redis)
    started = time.monotonic()
    try:
        moved = await _round(store, archive, ctx["archive_after_seconds"], started + BUDGET_SECONDS)
    except ConnectionError as exc:  # ArchiveUnavailable: PostgreSQL is away; the next round tries again
        log.warning("archive: %s", exc)
        return 0
    if moved:
        await store.redis.hincrby(STATS_KEY, "a|moved", moved)  # /metrics: herald_archived_notifications_total
        log.info("archive: %d notifications moved to PostgreSQL in %.3f s", moved, time.monotonic() - started)
    return moved


async def _round(store: Store, archive: Archive, after_seconds: int, deadline: float) -> int:
    moved = 0
    async with archive.exclusive() as conn:
        if conn is None:  # another worker's round is still running
            return 0
        before_ms = int(time.time() * 1000) - after_seconds * 1000
        while time.monotonic() < deadline:
            count, more = await move_batch(store, archive, conn, before_ms=before_ms)
            moved += count
            if not more:
                break
        await audit_log.move(store.redis, archive, conn, before_ms=before_ms)
    return moved


async def move_batch(store: Store, archive: Archive, conn: asyncpg.Connection, *,
                     before_ms: int) -> tuple[int, bool]:
    """(records moved, whether more are due)."""
    ids = [i.decode() for i in await store.redis.zrangebyscore(FINISHED_INDEX, "-inf", before_ms, start=0,
                                                               num=BATCH)]
    if not ids:
        return 0, False
    records = await store.get_many(ids)
    ready = [r for r in records if r is not None and r["status"] in TERMINAL and r.get("channel") != "inbox"]
    # Expired ones, and inbox items, which live on in Redis as the inbox itself (service.inbox).
    stale = [i for i, r in zip(ids, records, strict=True) if r is None or r.get("channel") == "inbox"]
    if stale:
        await store.redis.zrem(FINISHED_INDEX, *stale)
    await archive.write(conn, ready)
    dropped = await moves.drop(store, ready)
    return sum(dropped), len(ids) == BATCH


async def drop_expired_history(ctx: dict[str, Any]) -> list[str]:
    """Daily: the day partitions older than HISTORY_RETENTION_DAYS go, whole."""
    archive: Archive | None = ctx.get("archive")
    if archive is None:
        return []
    try:
        async with (await archive.ready()).acquire() as conn:
            dropped = await schema.drop_expired(conn, now=datetime.now(UTC), retention_days=archive.retention_days)
    except ConnectionError as exc:  # PostgreSQL away: tomorrow's run drops them
        log.warning("archive: %s", exc)
        return []
    archive.partitions.difference_update(dropped)  # a far-future reminder may need its day again
    if dropped:
        log.info("archive: dropped %s", ", ".join(dropped))
    return dropped
