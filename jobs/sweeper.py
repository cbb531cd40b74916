"""The sweeper: no accepted notification is ever left without a job.

A notification is in `herald:pending` from the moment it is accepted until it is finished.
Any that is overdue, still active and has no ARQ job (the web died between writing the record
and enqueueing, a job expired, a job failed outside Herald's hands) is enqueued again.

The bulk lane needs no looking after: the default lane's workers serve it too (jobs.starter).
"""

from __future__ import annotations

import logging
import time
from typing import Any

from arq.connections import ArqRedis
from redis.exceptions import RedisError

from service.queue import JOB_KEY_PREFIX, QUEUE_NAME, deliver_job
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

