"""POST /v1/digests/flush: send the pending digests now instead of at the cron's hour."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict

from service import audit
from service.errors import V1_RESPONSES
from service.deps import ActorDep, QueueDep, SettingsDep
from service.queue import FLUSH_DIGESTS_JOB

router = APIRouter(prefix="/v1/digests", tags=["digests"], responses=V1_RESPONSES)


class FlushIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    period: Literal["daily", "weekly"]


@router.post("/flush", status_code=202)
async def flush_digests(body: FlushIn, actor: ActorDep, queue: QueueDep, settings: SettingsDep) -> dict[str, Any]:
    """Queued for the worker; a flush racing the cron still sends each digest once."""
    now = datetime.now(UTC)
    job = await queue.enqueue_job(FLUSH_DIGESTS_JOB, body.period)
    await audit.record(queue, actor=actor, action="digest.flush", target=body.period, at=now,
                       retention_seconds=settings.audit_retention_seconds)
    return {"period": body.period, "job_id": job.job_id if job else None}
