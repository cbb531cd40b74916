"""The queue as both processes see it: JSON job payloads and the names of jobs.

The web process enqueues by name and never imports a job's body.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from arq.connections import ArqRedis
from arq.jobs import serialize_job
from arq.constants import (
    default_queue_name,
    health_check_key_suffix,
    in_progress_key_prefix,
    job_key_prefix,
    result_key_prefix,
    retry_key_prefix,
)
from redis.asyncio.client import Pipeline

from service import jsonio
from service.redis_conn import connection_pool
from service.settings import Settings
from service.store import NewJob

DELIVER_JOB = "deliver"
FLUSH_DIGESTS_JOB = "flush_digests"
JOB_KEY_PREFIX = job_key_prefix
IN_PROGRESS_KEY_PREFIX = in_progress_key_prefix
RETRY_KEY_PREFIX = retry_key_prefix
RESULT_KEY_PREFIX = result_key_prefix
QUEUE_NAME = default_queue_name
# The bulk lane: newsletters, digests and batch sends wait here, served by their own worker, so a
# password reset never queues behind 10,000 of them.
BULK_QUEUE_NAME = default_queue_name + ":bulk"
WORKER_HEALTH_KEY = default_queue_name + health_check_key_suffix
BULK_WORKER_HEALTH_KEY = BULK_QUEUE_NAME + health_check_key_suffix
_BULK_CATEGORIES = frozenset({"marketing", "digest"})
LANES = {"default": QUEUE_NAME, "bulk": BULK_QUEUE_NAME}


def ask_depths(pipe: Pipeline, now_ms: int) -> None:
    """Add to a pipeline the count of jobs due now, and deferred (scheduled or retrying), per lane."""
    for queue in LANES.values():
        pipe.zcount(queue, "-inf", now_ms).zcount(queue, f"({now_ms}", "+inf")


def read_depths(replies: Sequence[int]) -> dict[str, tuple[int, int]]:
    """{lane: (due, deferred)} from the replies to ask_depths, in order."""
    return {lane: (replies[2 * i], replies[2 * i + 1]) for i, lane in enumerate(LANES)}


def lane(category: str, *, batch: bool, bulk_lane: bool = True) -> str:
    """The queue a notification's job goes to: marketing and digests, and anything sent in a
    batch, take the bulk lane; security mail never does, even in a batch."""
    if bulk_lane and category != "security" and (batch or category in _BULK_CATEGORIES):
        return BULK_QUEUE_NAME
    return QUEUE_NAME


def job_serializer(data: dict[str, Any]) -> bytes:
    # default=str: a failed job's result is an exception, which must not break serialization.
    return jsonio.dumpb(data, default=str)


def job_deserializer(raw: bytes) -> dict[str, Any]:
    return jsonio.loads(raw)


def open_queue(settings: Settings, *, max_connections: int = 64) -> ArqRedis:
    """An ArqRedis that connects lazily, so the API answers 503 rather than failing to start."""
    pool = connection_pool(settings.redis_url, max_connections=max_connections, timeout=5,
                           socket_connect_timeout=2, socket_timeout=5, health_check_interval=30)
    return ArqRedis(pool, job_serializer=job_serializer, job_deserializer=job_deserializer)


async def drop_job(queue: ArqRedis, job_id: str) -> None:
    """Take a job that is not running out of the queue (tidiness: the record already says cancelled).

    A job that has started is left alone: it re-reads the record and does nothing.
    """
    if await queue.exists(IN_PROGRESS_KEY_PREFIX + job_id):
        return
    async with queue.pipeline(transaction=True) as pipe:
        pipe.zrem(QUEUE_NAME, job_id)
        pipe.zrem(BULK_QUEUE_NAME, job_id)
        pipe.delete(JOB_KEY_PREFIX + job_id, RETRY_KEY_PREFIX + job_id)
        await pipe.execute()


def deliver_job(notification_id: str, *, score_ms: int, expires_ms: int, now_ms: int,
                queue: str = QUEUE_NAME) -> NewJob:
    """The `deliver` job as ARQ's enqueue_job would write it, to be written with its record.

    The payload is ARQ's own serialization (JSON here) and the keys are ARQ's, so the worker
    cannot tell it from `enqueue_job(DELIVER_JOB, id, _job_id=id, _defer_until=...)`; doing it
    inside the record's script saves three round trips per notification, and lets a batch of
    500 be a single pipeline.
    """
    payload = serialize_job(DELIVER_JOB, (notification_id,), {}, None, now_ms, serializer=job_serializer)
    return NewJob(
        notification_id=notification_id,
        key=JOB_KEY_PREFIX + notification_id,
        result_key=RESULT_KEY_PREFIX + notification_id,
        queue=queue,
        payload=payload,
        score_ms=score_ms,
        expires_ms=expires_ms,
    )
