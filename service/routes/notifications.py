"""/v1/notifications: accept, read and cancel notifications."""

from __future__ import annotations

import asyncio
import re
from dataclasses import replace
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Query, Request, Response, status
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from service.accept import Conflict, Rejected, accept, schedule_time
from service.bodies import json_body
from service.deps import ActorDep, MetricsDep, QueueDep, SettingsDep, StoreDep, authenticate
from service.errors import V1_RESPONSES, unprocessable, valid_email
from service.queue import IN_PROGRESS_KEY_PREFIX, deliver_job, drop_job
from service import audit, deadletters, history, jsonio, profiles
from service.models import (
    IDEMPOTENCY_KEY_PATTERN,
    STATUSES,
    NotificationIn,
    NotificationOut,
    RescheduleIn,
    Timestamp,
    iso,
)
from service.store import Store
from service.templates import KEY_RE

router = APIRouter(prefix="/v1/notifications", tags=["notifications"], responses=V1_RESPONSES)

CANCELLABLE = ("scheduled", "queued", "retrying")


async def _load(store: StoreDep, notification_id: str) -> NotificationOut:
    record = await store.get(notification_id)
    if record is None:
        raise HTTPException(404, f"notification {notification_id!r} not found")
    return await with_deliveries(store, NotificationOut.from_record(record))


async def with_deliveries(store: Store, notification: NotificationOut) -> NotificationOut:
    """Each channel's delivery with its status as it is now."""
    if not notification.deliveries:
        return notification
    found = await store.get_many([d.id for d in notification.deliveries], attempts=False, archived=True)
    for delivery, record in zip(notification.deliveries, found, strict=True):
        delivery.status = record["status"] if record else "expired"
        delivery.error = (record or {}).get("error") or None
    return notification


# The body and header are read by hand (service.bodies), so they are documented by hand; the
# body's model is added to the components by service.bodies.document (see service.factory).
_CREATE_DOC: dict[str, Any] = {
    "parameters": [{"name": "Idempotency-Key", "in": "header", "required": False,
                    "schema": {"type": "string", "pattern": IDEMPOTENCY_KEY_PATTERN, "title": "Idempotency-Key"}}],
    "requestBody": {"required": True,
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/NotificationIn"}}}},
}
_IDEMPOTENCY_KEY = re.compile(IDEMPOTENCY_KEY_PATTERN.removesuffix("$"))


def _header_errors(idempotency_key: str | None) -> list[dict[str, Any]]:
    if idempotency_key is None or _IDEMPOTENCY_KEY.fullmatch(idempotency_key):
        return []
    return [{"type": "string_pattern_mismatch", "loc": ("header", "Idempotency-Key"),
             "msg": f"String should match pattern '{IDEMPOTENCY_KEY_PATTERN}'"}]


@router.post("", status_code=202, response_model=NotificationOut, openapi_extra=_CREATE_DOC)
async def create_notification(request: Request) -> Response:
    # Takes only the request: FastAPI's dependencies and body parsing cost more than accepting.
    state = request.app.state
    ctx = replace(state.accept_context, actor=await authenticate(request))
    idempotency_key = request.headers.get("idempotency-key")
    header_errors = _header_errors(idempotency_key)
    try:
        body = await json_body(request, NotificationIn)
    except RequestValidationError as exc:
        raise RequestValidationError([*header_errors, *exc.errors()]) from None
    if header_errors:
        raise RequestValidationError(header_errors)
    if idempotency_key is not None:
        if body.idempotency_key not in (None, idempotency_key):
            raise unprocessable(["header", "Idempotency-Key"], "the Idempotency-Key header and idempotency_key differ")
        body = body.model_copy(update={"idempotency_key": idempotency_key})
    store: Store = state.store
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
        state.metrics.accepted.labels(notification.template, notification.status).inc()
    # pydantic-core writes the JSON itself, without a dict in between.
    return Response(
        notification.model_dump_json(),
        media_type="application/json",
        status_code=status.HTTP_202_ACCEPTED if result.created else status.HTTP_200_OK,
        headers={"Location": f"/v1/notifications/{result.notification_id}"},
    )


@router.get("/{notification_id}", response_model=NotificationOut)
async def get_notification(notification_id: str, _: ActorDep, store: StoreDep) -> NotificationOut:
    return await _load(store, notification_id)


@router.delete("/{notification_id}", response_model=NotificationOut)
async def cancel_notification(
    notification_id: str, actor: ActorDep, store: StoreDep, queue: QueueDep, settings: SettingsDep,
    web_metrics: MetricsDep,
) -> NotificationOut:
    found = await store.get_many([notification_id], attempts=False, archived=True)
    ids = [d["id"] for d in jsonio.loads((found[0] or {}).get("deliveries") or "[]")] or [notification_id]
    # Every channel's delivery that has not gone out yet; the ones that have stay as they are.
    results = await asyncio.gather(*(store.transition(
        i, allowed=CANCELLABLE, fields={"status": "cancelled"}, pending=None, ttl=store.retention) for i in ids))
    applied, previous = results[0]
    if previous is None and found[0] is not None:  # finished and moved to PostgreSQL
        previous = found[0]["status"]
    if previous is None:
        raise HTTPException(404, f"notification {notification_id!r} not found")
    if not any(ok for ok, _ in results):
        raise HTTPException(409, f"notification is {previous}; only {', '.join(CANCELLABLE)} ones can be cancelled")
    for delivery, (ok, _) in zip(ids, results, strict=True):
        if ok:
            await drop_job(queue, delivery)
    await audit.record(store.redis, actor=actor, action="notification.cancel", target=notification_id,
                       at=datetime.now(UTC), retention_seconds=settings.audit_retention_seconds)
    cancelled = await _load(store, notification_id)
    web_metrics.cancelled.labels(cancelled.template, cancelled.category).inc()
    return cancelled


@router.get("")
async def list_notifications(
    _: ActorDep,
    store: StoreDep,
    to: Annotated[str | None, Query(max_length=254)] = None,
    recipient: Annotated[str | None, Query(pattern=r"^[A-Za-z0-9._:-]{1,128}$")] = None,
    status_: Annotated[Literal[STATUSES] | None, Query(alias="status")] = None,
    template: Annotated[str | None, Query(max_length=128, pattern=KEY_RE.pattern)] = None,
    since: Annotated[Timestamp | None, Query()] = None,
    until: Annotated[Timestamp | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(max_length=400)] = None,
) -> dict[str, Any]:
    """Delivery history, newest first: "did the customer get it?" in one call. `recipient`: a
    profile's id, which stands for its email address when it has one."""
    if to and recipient:
        raise unprocessable(["query", "recipient"], "give to or recipient, not both")
    who = valid_email(to, ["query", "to"]) if to else None
    if recipient:
        who = profiles.key_of(recipient, await profiles.get(store.redis, recipient))
    query = history.Query(
        to=who, status=status_, template=template,
        since_ms=_ms(since), until_ms=_ms(until), limit=limit,
    )
    try:
        records, next_cursor = await history.search(store, query, cursor)
    except history.BadCursor:
        raise unprocessable(["query", "cursor"], "invalid cursor") from None
    items = [NotificationOut.from_record(r).model_dump(mode="json") for r in records]
    return {"items": items, "next_cursor": next_cursor}


def _ms(moment: datetime | None) -> int | None:
    if moment is None:
        return None
    try:
        return int(moment.timestamp() * 1000)
    except (OverflowError, ValueError):
        raise unprocessable(["query"], "time out of range") from None


class RequeueIn(BaseModel):
    """Which dead letters to put back: all the filters given must match."""

    model_config = ConfigDict(extra="forbid")

    smtp_code: Annotated[int, Field(ge=100, le=599)] | None = None
    template: Annotated[str, StringConstraints(max_length=128, pattern=KEY_RE.pattern)] | None = None
    to: Annotated[str, StringConstraints(max_length=254)] | None = None
    failed_since: Timestamp | None = None
    failed_until: Timestamp | None = None
    limit: Annotated[int, Field(ge=1, le=10_000)] = 1000


@router.post("/retry", status_code=202)
async def requeue_dead_letters(body: RequeueIn, actor: ActorDep, store: StoreDep, settings: SettingsDep) -> dict[str, Any]:
    """For example everything that failed with 421 in the last hour."""
    wanted = deadletters.Filter(
        smtp_code=body.smtp_code, template=body.template, to=valid_email(body.to, ["body", "to"]) if body.to else None,
        failed_since_ms=_ms(body.failed_since), failed_until_ms=_ms(body.failed_until), limit=body.limit,
    )
    now = datetime.now(UTC)
    ids = await deadletters.requeue_matching(store, wanted, now_ms=int(now.timestamp() * 1000))
    await audit.record(store.redis, actor=actor, action="notifications.requeue", target="dead letters", at=now,
                       retention_seconds=settings.audit_retention_seconds,
                       detail={"filter": body.model_dump(mode="json", exclude_none=True), "requeued": len(ids)})
    return {"requeued": len(ids), "ids": ids}


@router.post("/{notification_id}/retry", status_code=202, response_model=NotificationOut)
async def retry_dead_letter(
    notification_id: str, actor: ActorDep, store: StoreDep, settings: SettingsDep
) -> NotificationOut:
    now = datetime.now(UTC)
    verdict, detail = await deadletters.requeue(store, notification_id, now_ms=int(now.timestamp() * 1000))
    if detail is None:
        raise HTTPException(404, f"notification {notification_id!r} not found")
    if verdict == "refused":
        reason = "is suppressed" if detail == "suppressed" else "opted out of this category"
        raise HTTPException(409, f"the recipient {reason}; remove that first to retry")
    if verdict != "requeued":
        raise HTTPException(409, f"notification is {detail}; only failed ones can be retried")
    await audit.record(store.redis, actor=actor, action="notification.retry", target=notification_id, at=now,
                       retention_seconds=settings.audit_retention_seconds)
    return await _load(store, notification_id)


@router.patch("/{notification_id}", response_model=NotificationOut)
async def reschedule_notification(
    notification_id: str, body: RescheduleIn, actor: ActorDep, store: StoreDep, settings: SettingsDep
) -> NotificationOut:
    """Moves a scheduled reminder; 409 once it is queued, sending or finished."""
    now = datetime.now(UTC)
    try:
        due = schedule_time(body.delay, body.send_at, now)
    except Rejected as exc:
        raise HTTPException(422, exc.detail) from None
    due_ms, now_ms = int(due.timestamp() * 1000), int(now.timestamp() * 1000)
    ttl = store.retention + int((due - now).total_seconds())
    job = deliver_job(notification_id, score_ms=due_ms, expires_ms=ttl * 1000, now_ms=now_ms)
    applied, previous = await store.reschedule(
        notification_id, due_ms=due_ms, send_at=iso(due), ttl=ttl, job=job,
        in_progress_key=IN_PROGRESS_KEY_PREFIX + notification_id,
    )
    if previous is None:
        raise HTTPException(404, f"notification {notification_id!r} not found")
    if not applied:
        raise HTTPException(409, f"notification is {previous}; only scheduled ones can be moved")
    await audit.record(store.redis, actor=actor, action="notification.reschedule", target=notification_id, at=now,
                       retention_seconds=settings.audit_retention_seconds, detail={"send_at": iso(due)})
    return await _load(store, notification_id)


