"""Retention for the history indexes: entries whose record has expired are removed.

Records expire on their own (a TTL of the retention); their index entries are removed here,
so that neither an index nor a query ever carries an orphan for long.
"""

from __future__ import annotations

import time
from typing import Any

from service.keys import PREFIX

from service.store import Store

BATCH = 500
BUDGET_SECONDS = 20  # the rest waits for the next run, ten minutes on


async def prune_indexes(ctx: dict[str, Any]) -> int:
    store: Store = ctx["store"]
    cutoff_ms = int((time.time() - store.retention) * 1000)
    deadline = time.monotonic() + BUDGET_SECONDS
    removed = 0
    async for key in store.redis.scan_iter(match=f"{PREFIX}idx:*", count=200):
        removed += await _prune(store, key, cutoff_ms)
        if time.monotonic() > deadline:
            break
    return removed


async def _prune(store: Store, key: bytes, cutoff_ms: int) -> int:
    """Older than the retention is only a candidate: a far-future reminder's record lives on."""
    removed = offset = 0
    while True:
        ids = await store.redis.zrangebyscore(key, "-inf", cutoff_ms, start=offset, num=BATCH)
        if not ids:
            return removed
        alive = await store.live([nid.decode() for nid in ids])
        gone = [nid for nid, exists in zip(ids, alive, strict=True) if not exists]
        if gone:
            await store.redis.zrem(key, *gone)
        removed += len(gone)
        offset += len(ids) - len(gone)
