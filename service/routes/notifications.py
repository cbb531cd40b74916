"""/v1/notifications: accept, read and cancel notifications."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, HTTPException, status
from fastapi.responses import JSONResponse

from service.accept import Conflict, Rejected, accept
from service.deps import AcceptContextDep, ActorDep, MetricsDep, QueueDep, StoreDep
from service.queue import drop_job
from service.models import IDEMPOTENCY_KEY_PATTERN, NotificationIn, NotificationOut

router = APIRouter(prefix="/v1/notifications", tags=["notifications"])

CANCELLABLE = ("scheduled", "queued", "retrying")


async def _load(store: StoreDep, notification_id: str) -> NotificationOut:
    record = await store.get(notification_id)
    if record is None:
        raise HTTPException(404, f"notification {notification_id!r} not found")
    return NotificationOut.from_record(record)


@router.post("", status_code=202, response_model=NotificationOut)
async def create_notification(
    body: NotificationIn,
    ctx: AcceptContextDep,
    store: StoreDep,
    web_metrics: MetricsDep,
    idempotency_key: Annotated[
        str | None, Header(alias="Idempotency-Key", pattern=IDEMPOTENCY_KEY_PATTERN)
    ] = None,
) -> JSONResponse:
    if idempotency_key is not None:
        if body.idempotency_key not in (None, idempotency_key):
            raise HTTPException(422, "the Idempotency-Key header and idempotency_key differ")
        body = body.model_copy(update={"idempotency_key": idempotency_key})
    try:
        result = await accept(body, store, ctx)
    except Rejected as exc:
        raise HTTPException(422, exc.detail) from None
    except Conflict as exc:
        raise HTTPException(409, str(exc)) from None
    if result.record is None:
        notification = await _load(store, result.notification_id)
    else:
        notification = NotificationOut.from_record(result.record | {"attempts": []})
        web_metrics.accepted.labels(notification.template, notification.status).inc()
    return JSONResponse(
        notification.model_dump(mode="json"),
        status_code=status.HTTP_202_ACCEPTED if result.created else status.HTTP_200_OK,
        headers={"Location": f"/v1/notifications/{result.notification_id}"},
    )


@router.get("/{notification_id}", response_model=NotificationOut)
async def get_notification(notification_id: str, _: ActorDep, store: StoreDep) -> NotificationOut:
    return await _load(store, notification_id)


@router.delete("/{notification_id}", response_model=NotificationOut)
async def cancel_notification(
    notification_id: str, _: ActorDep, store: StoreDep, queue: QueueDep
) -> NotificationOut:
    applied, previous = await store.transition(
        notification_id, allowed=CANCELLABLE, fields={"status": "cancelled"}, pending=None, ttl=store.retention
    )
    if previous is None:
        raise HTTPException(404, f"notification {notification_id!r} not found")
    if not applied:
        raise HTTPException(409, f"notification is {previous}; only {', '.join(CANCELLABLE)} ones can be cancelled")
    await drop_job(queue, notification_id)
    return await _load(store, notification_id)


