"""POST /v1/notifications/batch: up to 500 notifications, each judged on its own.

Every item is validated and rendered on its own; the valid ones are written by one pipeline,
so 500 items cost a couple of Redis round trips, not 500 requests' worth.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from service.accept import Accepted, Conflict, Rejected, accept_many, prepare
from service.errors import V1_RESPONSES
from service.deps import AcceptContextDep, MetricsDep, StoreDep
from service.models import NotificationIn, NotificationOut
from service.store import NewRecord, Store

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
    now = datetime.now(UTC)
    requests = [_parse(item) for item in body.notifications]
    prepared: list[NewRecord | Rejected] = []
    for request in requests:
        try:
            prepared.append(request if isinstance(request, Rejected) else prepare(request, ctx, now=now))
        except Rejected as exc:
            prepared.append(exc)
    outcomes = await accept_many(store, prepared)
    outcomes = await _repeats_after_their_time(store, requests, outcomes)
    repeats = await store.get_many([o.notification_id for o in outcomes
                                    if isinstance(o, Accepted) and o.record is None])
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


async def _repeats_after_their_time(
    store: Store, requests: list[NotificationIn | Rejected], outcomes: list[Any]
) -> list[Any]:
    """A rejected item whose key names an identical accepted request is a repeat (see accept)."""
    candidates = [i for i, (req, out) in enumerate(zip(requests, outcomes, strict=True))
                  if isinstance(out, Rejected) and isinstance(req, NotificationIn) and req.idempotency_key]
    if not candidates:
        return outcomes
    existing = await store.get_many([requests[i].idempotency_key for i in candidates], attempts=False)
    for i, record in zip(candidates, existing, strict=True):
        if record is not None and record["fingerprint"] == requests[i].fingerprint():
            outcomes[i] = Accepted(record["id"], created=False, record=None)
    return outcomes
