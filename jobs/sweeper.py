"""The sweeper: no accepted notification is ever left without a job.

A notification is in `herald:pending` from the moment it is accepted until it is finished.
Any that is overdue, still active and has no ARQ job (the web died between writing the record
and enqueueing, a job expired, a job failed outside Herald's hands) is enqueued again.

It also looks after the bulk lane: while no bulk worker is alive (none deployed yet, or the lane
turned off with `BULK_LANE=false` while jobs still waited in it), overdue bulk jobs move to the
default lane rather than wait for ever.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from arq.connections import ArqRedis
from redis.exceptions import RedisError

from service.queue import BULK_QUEUE_NAME, BULK_WORKER_HEALTH_KEY, JOB_KEY_PREFIX, QUEUE_NAME, deliver_job
from service import timeline
from service.keys import PENDING_KEY
from service.store import ACTIVE, Store

log = logging.getLogger("herald.sweeper")


async def sweep(ctx: dict[str, Any]) -> int:
    """Besides the depth sample, three round trips for all the overdue: two pipelined reads, one repair."""
    store: Store = ctx["store"]
    queue: ArqRedis = ctx["redis"]
    try:
        await timeline.sample_depth(queue)  # the dashboard's queue-depth line
    except RedisError as exc:  # a chart sample must never stand in the way of the repair below
        log.warning("could not sample the queue depth: %s", exc)
    before_ms = int((time.time() - ctx["sweep_grace_seconds"]) * 1000)
    await _rescue_bulk(queue, before_ms)
    ids = await store.due_pending(before_ms=before_ms)
    if not ids:
        return 0
    records = await store.get_many(ids, attempts=False)
    async with queue.pipeline(transaction=False) as pipe:
        for notification_id in ids:
            pipe.exists(JOB_KEY_PREFIX + notification_id)
        has_job = await pipe.execute()
    finished = [nid for nid, record in zip(ids, records, strict=True) if record is None or record["status"] not in ACTIVE]
    if finished:
        await queue.zrem(PENDING_KEY, *finished)
    now_ms = int(time.time() * 1000)
    lost = [nid for nid, record, job_exists in zip(ids, records, has_job, strict=True)
            if record is not None and record["status"] in ACTIVE and not job_exists]
    if not lost:
        return 0
    queues = {record["id"]: record.get("queue") or QUEUE_NAME for record in records if record is not None}
    jobs = [deliver_job(nid, score_ms=now_ms, expires_ms=store.retention * 1000, now_ms=now_ms, queue=queues[nid])
            for nid in lost]
    revived = sum(await store.enqueue_many(jobs))
    log.warning("%d notifications had no job and were queued again (first: %s)", revived, lost[0])
    return revived


async def _rescue_bulk(queue: ArqRedis, before_ms: int) -> int:
    if await queue.exists(BULK_WORKER_HEALTH_KEY):
        return 0
    overdue = await queue.zrangebyscore(BULK_QUEUE_NAME, "-inf", before_ms, start=0, num=1000, withscores=True)
    if not overdue:
        return 0
    async with queue.pipeline(transaction=True) as pipe:
        pipe.zadd(QUEUE_NAME, dict(overdue))
        pipe.zrem(BULK_QUEUE_NAME, *(job_id for job_id, _ in overdue))
        await pipe.execute()
    log.warning("no bulk worker is running: %d overdue bulk jobs moved to the default lane", len(overdue))
    return len(overdue)
