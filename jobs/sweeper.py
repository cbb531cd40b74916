"""The sweeper: no accepted notification is ever left without a job.

A notification is in `herald:pending` from the moment it is accepted until it is finished.
Any that is overdue, still active and has no ARQ job (the web died between writing the record
and enqueueing, a job expired, a job failed outside Herald's hands) is enqueued again.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from arq.connections import ArqRedis

from service.queue import DELIVER_JOB, JOB_KEY_PREFIX
from service.store import ACTIVE, PENDING_KEY, Store

log = logging.getLogger("herald.sweeper")


async def sweep(ctx: dict[str, Any]) -> int:
    store: Store = ctx["store"]
    queue: ArqRedis = ctx["redis"]
    before_ms = int((time.time() - ctx["sweep_grace_seconds"]) * 1000)
    revived = 0
    for notification_id in await store.due_pending(before_ms=before_ms):
        record = await store.get(notification_id)
        if record is None or record["status"] not in ACTIVE:
            await queue.zrem(PENDING_KEY, notification_id)
            continue
        if await queue.exists(JOB_KEY_PREFIX + notification_id):
            continue
        job = await queue.enqueue_job(DELIVER_JOB, notification_id, _job_id=notification_id)
        if job is not None:
            revived += 1
            log.warning("notification %s (%s) had no job: enqueued again", notification_id, record["status"])
    return revived
