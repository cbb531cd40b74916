"""POST /v1/notifications/batch: up to 500 notifications, each judged on its own.

Every item is validated and rendered on its own; the valid ones are written by one pipeline,
so 500 items cost a couple of Redis round trips, not 500 requests' worth.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from service.accept import Accepted, Conflict, Rejected, accept_requests
from service.errors import V1_RESPONSES
from service.deps import AcceptContextDep, MetricsDep, StoreDep
from service.models import NotificationIn, NotificationOut

router = APIRouter(prefix="/v1/notifications", tags=["notifications"], responses=V1_RESPONSES)
MAX_ITEMS = 500


class BatchIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    notifications: Annotated[list[Any], Field(min_length=1, max_length=MAX_ITEMS)]


def _parse(item: Any) -> NotificationIn | Rejected:
    try:
        return NotificationIn.model_validate(item)
    except ValidationError as exc:
        rejected = Rejected([], "invalid notification")
        rejected.detail = [{k: v for k, v in e.items() if k in ("loc", "msg", "type")} for e in exc.errors()]
        return rejected


@router.post("/batch")
async def create_batch(body: BatchIn, ctx: AcceptContextDep, store: StoreDep, web_metrics: MetricsDep) -> dict[str, Any]:
    requests = [_parse(item) for item in body.notifications]
    outcomes = await accept_requests(store, replace(ctx, batch=True), requests, now=datetime.now(UTC))
    repeats = await store.get_many([o.notification_id for o in outcomes
                                    if isinstance(o, Accepted) and o.record is None], archived=True)
    results = []
    for outcome in outcomes:
        if isinstance(outcome, Rejected):
            results.append({"status_code": 422, "detail": outcome.detail})
        elif isinstance(outcome, Conflict):
            results.append({"status_code": 409, "detail": str(outcome)})
        else:
            record = outcome.record or repeats.pop(0)
            if record is None:  # expired between the write and this read
                results.append({"status_code": 409, "detail": "the notification under this key has expired"})
                continue
            notification = NotificationOut.from_record(record | {"attempts": record.get("attempts", [])})
            if outcome.created:
                web_metrics.accepted.labels(notification.template, notification.status).inc()
            results.append({"status_code": 202 if outcome.created else 200,
                            "notification": notification.model_dump(mode="json")})
    return {"results": results}

