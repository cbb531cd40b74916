"""Accepting notifications: validate against the template, then record and queue in one step.

`prepare` turns a request into what Redis must hold, without I/O; `accept_many` writes any
number of them in one pipelined round trip. The record and its ARQ job are written by the same
script, so a crash cannot leave one without the other; the worker's sweeper still re-queues any
notification whose job went missing later (an expired job, a flushed queue).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from service import audit
from service.ids import new_id
from service.models import NotificationIn, iso, missing_detail, test_tld
from service.queue import deliver_job, lane
from service.settings import Settings
from service.store import Created, NewRecord, Store
from service.templates import ALWAYS_SENT, RENDER_ERRORS, Catalog, MissingVariables, Template, TemplateNotFound

MAX_SCHEDULE = timedelta(days=366)
# A template looping over a context list can multiply its size; mail servers refuse large mail.
MAX_RENDERED_CHARS = 2_000_000
DIGEST_PERIOD_SECONDS = {"daily": 86400, "weekly": 7 * 86400}


class Rejected(ValueError):
    """The request cannot be accepted as it is (a 422)."""

    def __init__(self, loc: list[str], msg: str, kind: str = "value_error") -> None:
        super().__init__(msg)
        self.detail: list[dict[str, Any]] = [{"loc": loc, "msg": msg, "type": kind}]


class Conflict(ValueError):
    """The idempotency key is taken by a different request (a 409)."""


@dataclass(frozen=True)
class Accepted:
    notification_id: str
    created: bool
    # What was written, so the answer needs no second read; None for an idempotent repeat.
    record: dict[str, Any] | None


@dataclass(frozen=True)
class Context:
    """What accepting needs besides the request: clients and per-deployment values."""

    catalog: Catalog
    actor: str
    mail_domain: str
    audit_retention: int
    retention: int
    bulk_lane: bool = True
    batch: bool = False  # the requests came in a batch: bulk traffic, except security mail
    allow_test_domains: bool = False

    @classmethod
    def from_settings(cls, settings: Settings, catalog: Catalog, *, actor: str) -> Context:
        return cls(catalog=catalog, actor=actor, mail_domain=settings.mail_domain,
                   audit_retention=settings.audit_retention_seconds, retention=settings.retention_seconds,
                   bulk_lane=settings.bulk_lane, allow_test_domains=settings.allow_test_domains)


def _due(request: NotificationIn, now: datetime) -> datetime:
    return schedule_time(request.delay, request.send_at, now)


def schedule_time(delay: float | None, send_at: datetime | None, now: datetime) -> datetime:
    """When a notification is due: now, after `delay` seconds, or at `send_at` (future, within a year)."""
    if send_at is not None:
        try:
            send_at = send_at.astimezone(UTC)
        except OverflowError:
            raise Rejected(["body", "send_at"], "send_at is out of range") from None
        if send_at <= now:
            raise Rejected(["body", "send_at"], "send_at must be in the future")
        if send_at - now > MAX_SCHEDULE:
            raise Rejected(["body", "send_at"], "send_at must be within a year")
        return send_at
    if delay is not None:
        return now + timedelta(seconds=delay)
    return now


def _check_template(catalog: Catalog, request: NotificationIn) -> Template:
    """Render once now, so that a context the template cannot use fails here and not in the worker."""
    try:
        template = catalog.get(request.template)
        if catalog.fits(template.key, request.locale, request.context, MAX_RENDERED_CHARS):
            return template
        rendered = catalog.render(template.key, request.locale, request.context)
    except TemplateNotFound:
        raise Rejected(["body", "template"], f"unknown template {request.template!r}") from None
    except MissingVariables as exc:
        err = Rejected(["body", "context"], str(exc))
        err.detail = missing_detail(exc.names)
        raise err from None
    except RENDER_ERRORS as exc:
        raise Rejected(["body", "context"], f"the template cannot render this context: {exc}") from None
    size = len(rendered.subject) + len(rendered.text) + len(rendered.html or "")
    if size > MAX_RENDERED_CHARS:
        raise Rejected(["body", "context"], f"the rendered email would be {size} characters; "
                                           f"the limit is {MAX_RENDERED_CHARS}")
    return template


def prepare(request: NotificationIn, ctx: Context, *, now: datetime) -> NewRecord:
    template = _check_template(ctx.catalog, request)
    due = _due(request, now)
    scheduled = request.send_at is not None or request.delay is not None
    notification_id = request.idempotency_key or new_id()
    now_ms = int(now.timestamp() * 1000)
    due_ms = int(due.timestamp() * 1000)
    record = {
        "id": notification_id,
        "template": template.key,
        "template_version": template.version,
        "locale": template.resolve_locale(request.locale),
        "category": template.category,
        "to": request.recipient.model_dump(mode="json"),
        "to_email": request.recipient.email.lower(),
        "context": request.context,
        "status": "scheduled" if scheduled else "queued",
        "created_at": iso(now),
        "created_ms": now_ms,
        "send_at": iso(due) if scheduled else None,
        "due_ms": due_ms,
        "idempotency_key": request.idempotency_key,
        "actor": ctx.actor,
        "message_id": f"<{new_id()}@{ctx.mail_domain}>",
        # Only a key can name an earlier request; a fresh id has nothing to be compared with.
        "fingerprint": request.fingerprint() if request.idempotency_key else "",
        "attempt_count": 0,
        "queue": lane(template.category, batch=ctx.batch, bulk_lane=ctx.bulk_lane),
    }
    ttl = ctx.retention + int((due - now).total_seconds())
    detail = {"template": template.key, "to": record["to"]["email"]}
    if request.digest:
        # Folded: kept until its digest has gone out (a period at most) plus the retention.
        record["status"] = "digested"
        record["digest"] = request.digest
        ttl = ctx.retention + DIGEST_PERIOD_SECONDS[request.digest] * 2
    return NewRecord(
        record=record,
        ttl=ttl,
        due_ms=None if request.digest else due_ms,
        job=None if request.digest else deliver_job(notification_id, score_ms=due_ms, expires_ms=ttl * 1000,
                                                     now_ms=now_ms, queue=record["queue"]),
        digest=request.digest,
        category_checked=None if template.category in ALWAYS_SENT else template.category,
        audit=audit.entry(actor=ctx.actor, action="notification.create", target=notification_id,
                          detail=detail, at=now),
        audit_min_id=audit.min_id(now, ctx.audit_retention),
    )


def _outcome(new: NewRecord, created: Created) -> Accepted:
    record = dict(new.record)
    if not created.created:
        if created.existing_fingerprint != record["fingerprint"]:
            raise Conflict(f"idempotency key {record['id']!r} was used for a different request")
        return Accepted(record["id"], created=False, record=None)
    if created.refusal:
        reason = "recipient is suppressed"
        if created.refusal == "opted_out":
            reason = f"recipient opted out of {record['category']}"
        record |= {"status": "suppressed", "error": reason}
    return Accepted(record["id"], created=True, record=record)


async def accept_many(
    store: Store, prepared: Sequence[NewRecord | Rejected]
) -> list[Accepted | Rejected | Conflict]:
    """Write every prepared notification in one round trip; rejected ones pass through."""
    valid = [p for p in prepared if isinstance(p, NewRecord)]
    results = iter(await store.create_many(valid)) if valid else iter(())
    out: list[Accepted | Rejected | Conflict] = []
    for item in prepared:
        if isinstance(item, Rejected):
            out.append(item)
            continue
        try:
            out.append(_outcome(item, next(results)))
        except Conflict as exc:
            out.append(exc)
    return out


def _check_recipient(request: NotificationIn, ctx: Context) -> None:
    """Mail to a testing name reaches no one: a production deployment says so at once."""
    domain = request.recipient.email.rpartition("@")[2]
    if not ctx.allow_test_domains and test_tld(domain):
        raise Rejected(request.to_loc, f"{domain} is under a name reserved for testing (RFC 2606, RFC 6761); "
                                       "this deployment refuses it (ALLOW_TEST_DOMAINS is off)")


def _prepare_or_reject(request: NotificationIn | Rejected, ctx: Context, now: datetime) -> NewRecord | Rejected:
    if isinstance(request, Rejected):
        return request
    try:
        _check_recipient(request, ctx)
        return prepare(request, ctx, now=now)
    except Rejected as exc:
        return exc


async def _repeats(
    store: Store, requests: Sequence[NotificationIn | Rejected], outcomes: list[Accepted | Rejected | Conflict]
) -> list[Accepted | Rejected | Conflict]:
    """A rejected request whose key names an identical accepted one is answered as its repeat,
    even though it is no longer valid on its own (its send_at has passed since): idempotency is
    about the request, not the clock. One pipelined read for all of them."""
    candidates = [i for i, (request, outcome) in enumerate(zip(requests, outcomes, strict=True))
                  if isinstance(outcome, Rejected) and isinstance(request, NotificationIn) and request.idempotency_key]
    if not candidates:
        return outcomes
    keys = [requests[i].idempotency_key for i in candidates]  # type: ignore[union-attr]
    for i, record in zip(candidates, await store.get_many(keys, attempts=False), strict=True):
        if record is not None and record["fingerprint"] == requests[i].fingerprint():  # type: ignore[union-attr]
            outcomes[i] = Accepted(record["id"], created=False, record=None)
    return outcomes


async def accept_requests(
    store: Store, ctx: Context, requests: Sequence[NotificationIn | Rejected], *, now: datetime
) -> list[Accepted | Rejected | Conflict]:
    """Any number of requests, each judged on its own; the valid ones written in one pipeline."""
    outcomes = await accept_many(store, [_prepare_or_reject(r, ctx, now) for r in requests])
    return await _repeats(store, requests, outcomes)


async def accept(request: NotificationIn, store: Store, ctx: Context, *, now: datetime | None = None) -> Accepted:
    [result] = await accept_requests(store, ctx, [request], now=now or datetime.now(UTC))
    if isinstance(result, (Rejected, Conflict)):
        raise result
    return result
