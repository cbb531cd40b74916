"""Accepting a notification: validate against its template, record it, then enqueue it.

The record is written before the job: if the process dies in between, the worker's sweeper
finds the record in `herald:pending` and enqueues it, so a 202 is never an empty promise.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from arq.connections import ArqRedis
from redis.exceptions import RedisError

from service.queue import DELIVER_JOB
from service.models import NotificationIn, iso, missing_detail
from service.store import Store
from service.templates import RENDER_ERRORS, Catalog, MissingVariables, Template, TemplateNotFound

log = logging.getLogger("herald.accept")


class Rejected(ValueError):
    """The request cannot be accepted as it is (a 422)."""

    def __init__(self, loc: list[str], msg: str, kind: str = "value_error") -> None:
        super().__init__(msg)
        self.detail: list[dict[str, Any]] = [{"loc": loc, "msg": msg, "type": kind}]


def _rejected_missing(names: list[str]) -> Rejected:
    err = Rejected(["body", "context"], f"missing template variables: {', '.join(names)}")
    err.detail = missing_detail(names)
    return err


class Conflict(ValueError):
    """The idempotency key is taken by a different request (a 409)."""


@dataclass(frozen=True)
class Accepted:
    notification_id: str
    created: bool
    # What was written, so the answer needs no second read; None for an idempotent repeat.
    record: dict[str, Any] | None


def _due(request: NotificationIn, now: datetime) -> datetime:
    if request.send_at is not None:
        send_at = request.send_at.astimezone(UTC)
        if send_at <= now:
            raise Rejected(["body", "send_at"], "send_at must be in the future")
        if send_at - now > timedelta(days=366):
            raise Rejected(["body", "send_at"], "send_at must be within a year")
        return send_at
    if request.delay is not None:
        return now + timedelta(seconds=request.delay)
    return now


def _check_template(catalog: Catalog, request: NotificationIn) -> Template:
    """Render once now, so that a context the template cannot use fails here and not in the worker."""
    try:
        template = catalog.get(request.template)
        catalog.render(template.key, request.locale, request.context)
    except TemplateNotFound:
        raise Rejected(["body", "template"], f"unknown template {request.template!r}") from None
    except MissingVariables as exc:
        raise _rejected_missing(exc.names) from None
    except RENDER_ERRORS as exc:
        raise Rejected(["body", "context"], f"the template cannot render this context: {exc}") from None
    return template


async def accept(
    request: NotificationIn,
    *,
    store: Store,
    queue: ArqRedis,
    catalog: Catalog,
    actor: str,
    mail_domain: str,
    now: datetime | None = None,
) -> Accepted:
    now = now or datetime.now(UTC)
    template = _check_template(catalog, request)
    due = _due(request, now)
    scheduled = request.send_at is not None or request.delay is not None
    recipient = request.recipient
    notification_id = request.idempotency_key or uuid.uuid4().hex
    record = {
        "id": notification_id,
        "template": template.key,
        "template_version": template.version,
        "locale": template.resolve_locale(request.locale),
        "category": template.category,
        "to": recipient.model_dump(mode="json"),
        "context": request.context,
        "status": "scheduled" if scheduled else "queued",
        "created_at": iso(now),
        "send_at": iso(due) if scheduled else None,
        "due_ms": int(due.timestamp() * 1000),
        "idempotency_key": request.idempotency_key,
        "actor": actor,
        "message_id": f"<{uuid.uuid4().hex}@{mail_domain}>",
        "fingerprint": request.fingerprint(),
        "attempt_count": 0,
    }
    ttl = store.retention + int((due - now).total_seconds())
    result = await store.create(record, ttl=ttl, due_ms=record["due_ms"], recipient=recipient.email)
    if not result.created:
        if result.existing_fingerprint != record["fingerprint"]:
            raise Conflict(f"idempotency key {notification_id!r} was used for a different request")
        return Accepted(notification_id, created=False, record=None)
    if result.suppression:
        error = f"recipient is suppressed ({result.suppression['reason']})"
        await store.transition(notification_id, allowed=["suppressed"], fields={"error": error})
        return Accepted(notification_id, created=True, record=record | {"status": "suppressed", "error": error})
    defer = {"_defer_by": request.delay} if request.delay else {"_defer_until": request.send_at and due}
    await _enqueue(queue, notification_id, defer, expires=ttl)
    return Accepted(notification_id, created=True, record=record)


async def _enqueue(queue: ArqRedis, notification_id: str, defer: dict[str, Any], *, expires: int) -> None:
    try:
        await queue.enqueue_job(DELIVER_JOB, notification_id, _job_id=notification_id, _expires=expires, **defer)
    except (RedisError, OSError):
        # The record is in herald:pending; the worker's sweeper will enqueue it.
        log.warning("enqueue of %s failed; left to the sweeper", notification_id, exc_info=True)
