"""Accepting notifications: validate against the template, then record and queue in one step.

`prepare` turns a request into what Redis must hold, without I/O; `accept_many` writes any
number of them in one pipelined round trip. The record and its ARQ job are written by the same
script, so a crash cannot leave one without the other; the worker's sweeper still re-queues any
notification whose job went missing later (an expired job, a flushed queue).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from service import audit, fanout, profiles
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


def _check_email(catalog: Catalog, request: NotificationIn, locale: str | None) -> None:
    """Render once now, so that a context the template cannot use fails here and not in the worker."""
    try:
        if catalog.fits(request.template, locale, request.context, MAX_RENDERED_CHARS):
            return
        rendered = catalog.render(request.template, locale, request.context)
    except MissingVariables as exc:
        raise fanout.Unfit(["body", "context"], str(exc), exc.names) from None
    except RENDER_ERRORS as exc:
        raise fanout.Unfit(["body", "context"], f"the template cannot render this context: {exc}") from None
    size = len(rendered.subject) + len(rendered.text) + len(rendered.html or "")
    if size > MAX_RENDERED_CHARS:
        raise fanout.Unfit(["body", "context"], f"the rendered email would be {size} characters; "
                                               f"the limit is {MAX_RENDERED_CHARS}")


def _plan(request: NotificationIn, ctx: Context, profile: dict[str, Any] | None
          ) -> tuple[Template, fanout.Who, dict[str, dict[str, Any]]]:
    """The template, the recipient and each channel's address, every part checked; or Rejected."""
    try:
        who = fanout.resolve(request, profile)
        if request.to is not None:
            _check_recipient(request, request.to.email, ctx)
        template = ctx.catalog.get(request.template)
        wanted, all_needed = fanout.channels(request, template)
        found = fanout.with_fallback(request, template, fanout.addresses(wanted, who, all_needed=all_needed), who,
                                     named=all_needed)
        if "email" in found:
            if request.to is None:
                _check_recipient(request, who.email or "", ctx)
            _check_email(ctx.catalog, request, who.locale)
        for channel in found.keys() - {"email"}:
            fanout.check_part(ctx.catalog, request, channel, who.locale)
    except TemplateNotFound:
        raise Rejected(["body", "template"], f"unknown template {request.template!r}") from None
    except fanout.Unfit as exc:
        err = Rejected(exc.loc, str(exc))
        if exc.names:
            err.detail = missing_detail(exc.names)
        raise err from None
    return template, who, found


def prepare(request: NotificationIn, ctx: Context, *, now: datetime,
            profile: dict[str, Any] | None = None) -> NewRecord:
    template, who, found = _plan(request, ctx, profile)
    due = _due(request, now)
    scheduled = request.send_at is not None or request.delay is not None
    notification_id = request.idempotency_key or new_id()
    now_ms = int(now.timestamp() * 1000)
    due_ms = int(due.timestamp() * 1000)
    base = {
        "id": notification_id,
        "template": template.key,
        "template_version": template.version,
        "locale": template.resolve_locale(who.locale),
        "category": template.category,
        "to": {"email": who.email, "name": who.name},
        "to_email": who.key,
        "recipient": who.recipient_id,
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
    first, *others = fanout.delivery_records(base, found, fallback=request.fallback)
    ttl = ctx.retention + int((due - now).total_seconds())
    checked = None if template.category in ALWAYS_SENT else template.category
    detail = {"template": template.key, "to": who.email or who.key}
    if len(found) > 1:
        detail["channels"] = list(found)
    siblings = tuple(_new_record(r, ttl=ttl + (r["due_ms"] - due_ms) // 1000, due_ms=r["due_ms"], now_ms=now_ms,
                                 category_checked=checked) for r in others)
    if request.digest:
        # Folded: kept until its digest has gone out (a period at most) plus the retention.
        first |= {"status": "digested", "digest": request.digest}
        ttl = ctx.retention + DIGEST_PERIOD_SECONDS[request.digest] * 2
    return replace(
        _new_record(first, ttl=ttl, due_ms=due_ms, now_ms=now_ms, category_checked=checked, digest=request.digest),
        siblings=siblings,
        audit=audit.entry(actor=ctx.actor, action="notification.create", target=notification_id,
                          detail=detail, at=now),
        audit_min_id=audit.min_id(now, ctx.audit_retention),
    )


def _new_record(record: dict[str, Any], *, ttl: int, due_ms: int, now_ms: int, category_checked: str | None,
                digest: str | None = None) -> NewRecord:
    return NewRecord(
        record=record,
        ttl=ttl,
        due_ms=None if digest else due_ms,
        job=None if digest else deliver_job(record["id"], score_ms=due_ms, expires_ms=ttl * 1000,
                                            now_ms=now_ms, queue=record["queue"]),
        digest=digest,
        category_checked=category_checked,
    )


def _refused(record: dict[str, Any], created: Created) -> dict[str, Any]:
    if not created.refusal:
        return record
    reason = "recipient is suppressed"
    if created.refusal == "opted_out":
        reason = f"recipient opted out of {record['category']}"
    return record | {"status": "suppressed", "error": reason}


def _outcome(new: NewRecord, created: Created, siblings: Sequence[Created] = ()) -> Accepted:
    record = dict(new.record)
    if not created.created:
        if created.existing_fingerprint != record["fingerprint"]:
            raise Conflict(f"idempotency key {record['id']!r} was used for a different request")
        return Accepted(record["id"], created=False, record=None)
    record = _refused(record, created)
    if new.siblings:
        written = [record, *(_refused(dict(s.record), c) for s, c in zip(new.siblings, siblings, strict=True))]
        record["deliveries"] = [{"id": r["id"], "channel": r["channel"], "status": r["status"],
                                 "error": r.get("error"), "fallback": bool(r.get("fallback_of"))} for r in written]
    return Accepted(record["id"], created=True, record=record)


async def accept_many(
    store: Store, prepared: Sequence[NewRecord | Rejected]
) -> list[Accepted | Rejected | Conflict]:
    """Write every prepared notification in one round trip; rejected ones pass through."""
    # Another channel's deliveries go before the first one's: once that exists, all of them do.
    valid = [r for p in prepared if isinstance(p, NewRecord) for r in (*p.siblings, p)]
    results = iter(await store.create_many(valid)) if valid else iter(())
    out: list[Accepted | Rejected | Conflict] = []
    for item in prepared:
        if isinstance(item, Rejected):
            out.append(item)
            continue
        siblings = [next(results) for _ in item.siblings]
        try:
            out.append(_outcome(item, next(results), siblings))
        except Conflict as exc:
            out.append(exc)
    return out


def _check_recipient(request: NotificationIn, email: str, ctx: Context) -> None:
    """Mail to a testing name reaches no one: a production deployment says so at once."""
    domain = email.rpartition("@")[2]
    if not ctx.allow_test_domains and test_tld(domain):
        raise Rejected(request.to_loc, f"{domain} is under a name reserved for testing (RFC 2606, RFC 6761); "
                                       "this deployment refuses it (ALLOW_TEST_DOMAINS is off)")


def _prepare_or_reject(request: NotificationIn | Rejected, ctx: Context, now: datetime,
                       found: dict[str, dict[str, Any] | None]) -> NewRecord | Rejected:
    if isinstance(request, Rejected):
        return request
    try:
        return prepare(request, ctx, now=now, profile=found.get(request.recipient) if request.recipient else None)
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
    for i, record in zip(candidates, await store.get_many(keys, attempts=False, archived=True), strict=True):
        if record is not None and record["fingerprint"] == requests[i].fingerprint():  # type: ignore[union-attr]
            outcomes[i] = Accepted(record["id"], created=False, record=None)
    return outcomes


async def accept_requests(
    store: Store, ctx: Context, requests: Sequence[NotificationIn | Rejected], *, now: datetime
) -> list[Accepted | Rejected | Conflict]:
    """Any number of requests, each judged on its own; the valid ones written in one pipeline."""
    wanted = sorted({r.recipient for r in requests if isinstance(r, NotificationIn) and r.recipient})
    found = dict(zip(wanted, await profiles.get_many(store.redis, wanted), strict=True))
    outcomes = await accept_many(store, [_prepare_or_reject(r, ctx, now, found) for r in requests])
    return await _repeats(store, requests, outcomes)


async def accept(request: NotificationIn, store: Store, ctx: Context, *, now: datetime | None = None) -> Accepted:
    [result] = await accept_requests(store, ctx, [request], now=now or datetime.now(UTC))
    if isinstance(result, (Rejected, Conflict)):
        raise result
    return result
