"""The queue as both processes see it: JSON job payloads and the names of jobs.

The web process enqueues by name and never imports a job's body.
"""

from __future__ import annotations

import json
from typing import Any

from arq.connections import ArqRedis
from arq.constants import (
    default_queue_name,
    health_check_key_suffix,
    in_progress_key_prefix,
    job_key_prefix,
    retry_key_prefix,
)
from redis.asyncio import BlockingConnectionPool

from service.settings import Settings

DELIVER_JOB = "deliver"
JOB_KEY_PREFIX = job_key_prefix
IN_PROGRESS_KEY_PREFIX = in_progress_key_prefix
RETRY_KEY_PREFIX = retry_key_prefix
WORKER_HEALTH_KEY = default_queue_name + health_check_key_suffix


def job_serializer(data: dict[str, Any]) -> bytes:
    # default=str: a failed job's result is an exception, which must not break serialization.
    return json.dumps(data, default=str, separators=(",", ":")).encode()


def job_deserializer(raw: bytes) -> dict[str, Any]:
    return json.loads(raw)


def open_queue(settings: Settings, *, max_connections: int = 64) -> ArqRedis:
    """An ArqRedis that connects lazily, so the API answers 503 rather than failing to start."""
    pool = BlockingConnectionPool.from_url(
        settings.redis_url,
        max_connections=max_connections,
        timeout=5,
        socket_connect_timeout=2,
        socket_timeout=5,
        health_check_interval=30,
    )
    return ArqRedis(pool, job_serializer=job_serializer, job_deserializer=job_deserializer)


async def drop_job(queue: ArqRedis, job_id: str) -> None:
    """Take a job that is not running out of the queue (tidiness: the record already says cancelled).

    A job that has started is left alone: it re-reads the record and does nothing.
    """
    if await queue.exists(IN_PROGRESS_KEY_PREFIX + job_id):
        return
    async with queue.pipeline(transaction=True) as pipe:
        pipe.zrem(queue.default_queue_name, job_id)
        pipe.delete(JOB_KEY_PREFIX + job_id, RETRY_KEY_PREFIX + job_id)
        await pipe.execute()
