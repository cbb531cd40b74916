"""The queue as both processes see it: JSON job payloads and the names of jobs.

The web process enqueues by name and never imports a job's body.
"""

from __future__ import annotations

import json
from typing import Any

from arq.connections import ArqRedis
from redis.asyncio import BlockingConnectionPool

from service.settings import Settings

DELIVER_JOB = "deliver"
JOB_KEY_PREFIX = "arq:job:"
WORKER_HEALTH_KEY = "arq:queue:health-check"


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
