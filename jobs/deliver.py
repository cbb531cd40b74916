"""The `deliver` job: render one notification and hand it to the SMTP server.

The job carries only the notification id; the record in Redis decides what happens. A job
that finds its notification cancelled, finished or not yet due does nothing, which is how
cancelling works without ARQ's abort.
"""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import UTC, datetime
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from arq import Retry
from redis.exceptions import RedisError

from jobs import channels
from jobs.backoff import backoff_seconds
from jobs.smtp import Outcome
from service import logs, recipients
from service.coalesce import NotReplicated
from service.metrics import delivery_counts
from service.models import iso
from service.queue import BULK_QUEUE_NAME
from service.keys import recipient_email, record_key
from service.store import Claim, Store

log = logging.getLogger("herald.deliver")
EARLY_TOLERANCE_MS = 1000
# About 20 s in all: as long as a Redis restart takes, and well within the job's own timeout.
PERSIST_PAUSES = (0.1, 0.5, 1.0, 2.0, 4.0, 4.0, 4.0, 4.0)
T = TypeVar("T")


def _now() -> datetime:
    return datetime.now(UTC)


def _now_ms() -> int:
    return int(time.time() * 1000)


def _attempt(n: int, outcome: str, code: int | None, detail: str, started: float | None) -> dict[str, Any]:
    duration = None if started is None else int((time.monotonic() - started) * 1000)
    return {"n": n, "at": iso(_now()), "outcome": outcome, "smtp_code": code, "detail": detail[:1000],
            "duration_ms": duration}


async def deliver(ctx: dict[str, Any], notification_id: str) -> str:
    throttle = ctx.get("throttle")
    # With a send rate, look before taking: a deferral must leave the record exactly as it was.
    claim = await _claim(ctx, notification_id, mode="take" if throttle is None else "look")
    if claim.verdict == "unclaimed" and claim.record is not None:
        bulk = claim.record.get("queue") == BULK_QUEUE_NAME
        # SEND_RATE_PER_SECOND is the mail server's limit: the other channels do not wait for it.
        if channels.channel_of(claim.record) != "email":
            throttle = None
        if throttle is not None and (wait := await throttle.admit(max_wait=ctx["throttle_wait_seconds"], bulk=bulk)) > 0:
            raise Retry(defer=wait)  # over SEND_RATE_PER_SECOND for now: back to the queue, unclaimed
        if claim.record["status"] == "sending" and await _interrupted(ctx, claim.record):
            return "failed"
        claim = await _claim(ctx, notification_id, mode="retake")
    if claim.verdict != "claimed" or claim.record is None:
        return _not_claimed(claim)
    await _confirm_claim(ctx, claim)
    return await _attempt_send(ctx, claim.record, int(claim.record.get("attempt_count") or 0) + 1)


async def _confirm_claim(ctx: dict[str, Any], claim: Claim) -> None:
    """With REDIS_WAIT_REPLICAS, a send starts only once the replicas know it has: a failover
    must not hand a replica's "queued" to a worker while this one sends (a second send)."""
    store: Store = ctx["store"]
    try:
        await store.confirm()
    except NotReplicated:
        assert claim.record is not None
        await store.transition(claim.record["id"], allowed=["sending"], fields={"status": claim.detail})
        raise Retry(defer=1) from None  # unsent, as it was: again once the replicas answer


def _not_claimed(claim: Claim) -> str:
    if claim.verdict == "skipped":
        return "nothing to do"
    if claim.verdict == "not due":
        return "not due yet"  # rescheduled later: the job for the new time will come
    return f"{claim.verdict}: {claim.detail}"


async def _claim(ctx: dict[str, Any], notification_id: str, *, mode: str) -> Claim:
    """One round trip, unless the due time is a little ahead of this host's clock."""
    store: Store = ctx["store"]
    now_ms = _now_ms()
    while True:
        claim = await store.claim(notification_id, now_ms=now_ms, early_ms=EARLY_TOLERANCE_MS,
                                  lease_ms=now_ms + ctx["lease_seconds"] * 1000, mode=mode)
        if claim.verdict != "early":
            return claim
        due_ms = int(claim.detail or 0)
        await asyncio.sleep((due_ms - now_ms) / 1000)  # another host's clock ran ahead: never send early
        now_ms = max(_now_ms(), due_ms)


async def _interrupted(ctx: dict[str, Any], record: dict[str, Any]) -> bool:
    """A previous run died mid-send; its fate is unknown, so say so (the caller sends again).
    True when that was the last try."""
    store: Store = ctx["store"]
    attempt_n = int(record.get("attempt_count") or 0) + 1
    interrupted = _attempt(attempt_n, "interrupted", None, "the worker stopped during this attempt", None)
    if attempt_n - int(record.get("round_start") or 0) >= ctx["settings"].max_tries:
        # A notification that keeps killing its worker (say, out of memory) stops here.
        await _finish(store, record, interrupted, smtp=False, status="failed",
                      error=f"gave up after {attempt_n} interrupted tries", failed_ms=_now_ms())
        return True
    await store.transition(record["id"], allowed=["sending"], attempt=interrupted)
    return False


async def _attempt_send(ctx: dict[str, Any], record: dict[str, Any], n: int) -> str:
    started = time.monotonic()
    if reason := await _fallback_unneeded(ctx, record):
        attempt = _attempt(n, "cancelled", None, reason, started)
        await _finish(ctx["store"], record, attempt, smtp=False, status="cancelled", error=reason)
        _log("notification.cancelled", record, attempt)
        return "cancelled"
    outcome = await channels.send(ctx, record)
    return await _record(ctx, record, n, outcome, started)


async def _fallback_unneeded(ctx: dict[str, Any], record: dict[str, Any]) -> str | None:
    """An escalation (`fallback`) goes only if its inbox item is still unread."""
    if not (first := record.get("fallback_of")):
        return None
    [read_at] = await ctx["store"].redis.hmget(record_key(first), ["read_at"])
    return f"not needed: the inbox item was read at {read_at.decode()}" if read_at else None


async def _record(ctx: dict[str, Any], record: dict[str, Any], n: int, outcome: Outcome, started: float) -> str:
    store: Store = ctx["store"]
    settings = ctx["settings"]
    nid = record["id"]
    label = {"transient": "transient_failure", "bounce": "hard_bounce"}.get(outcome.kind, outcome.kind)
    attempt = _attempt(n, label, outcome.code, outcome.detail, started)
    if outcome.kind == "sent":
        await _finish(store, record, attempt, smtp=outcome.smtp, status="sent", sent_at=iso(_now()), error=None)
        _log("notification.sent", record, attempt)
        return "sent"
    if outcome.kind == "bounce":
        to_email = recipient_email(record)
        reason = f"hard bounce: {outcome.detail}"[:300]
        await _persist(lambda: recipients.suppress(store.redis, to_email, reason=reason, at=iso(_now())))
        await _finish(store, record, attempt, smtp=outcome.smtp, status="failed", error=f"hard bounce, address suppressed: {outcome.detail}",
                      last_code=outcome.code, failed_ms=int(_now().timestamp() * 1000))
        _log("notification.bounced", record, attempt)
        return "bounced"
    tries = n - int(record.get("round_start") or 0)  # a requeued dead letter gets MAX_TRIES again
    if outcome.kind == "rejected" or tries >= settings.max_tries:
        reason = outcome.detail if outcome.kind == "rejected" else f"gave up after {tries} tries: {outcome.detail}"
        await _finish(store, record, attempt, smtp=outcome.smtp, status="failed", error=reason, last_code=outcome.code,
                      failed_ms=int(_now().timestamp() * 1000))
        _log("notification.failed", record, attempt)
        return "failed"
    # A server that said how long to wait (Slack's 429 Retry-After) is believed, within reason.
    delay = max(backoff_seconds(tries, base=settings.retry_base_seconds, cap=settings.retry_max_seconds),
                outcome.retry_after or 0)
    next_ms = int((_now().timestamp() + delay) * 1000)
    fields = {"status": "retrying", "due_ms": next_ms, "error": outcome.detail}
    await _persist(lambda: store.transition(
        nid, allowed=["sending"], attempt=attempt, fields=fields, pending=next_ms,
        counts=delivery_counts(label, attempt, record, now_ms=int(time.time() * 1000), smtp=outcome.smtp)))
    _log("notification.retry", record, attempt, retry_in_s=round(delay, 1))
    raise Retry(defer=delay)


def _log(event: str, record: dict[str, Any], attempt: dict[str, Any], **extra: Any) -> None:
    # The id leads to everything else; the address and the server's reply text stay in the record.
    logs.event(log, event, id=record["id"], template=record["template"], category=record["category"],
               attempt=attempt["n"], outcome=attempt["outcome"], smtp_code=attempt["smtp_code"],
               duration_ms=attempt["duration_ms"], **extra)


async def _finish(store: Store, record: dict[str, Any], attempt: dict[str, Any], *, smtp: bool,
                  **fields: Any) -> None:
    counts = delivery_counts(attempt["outcome"], attempt, record, now_ms=int(time.time() * 1000), smtp=smtp)
    await _persist(lambda: store.transition(
        record["id"], allowed=["sending"], attempt=attempt, fields=fields, pending=None, ttl=store.retention,
        counts=counts))


async def _persist(write: Callable[[], Awaitable[T]]) -> T:
    """Once the SMTP server has answered, its answer must be recorded: ride out a Redis blip
    rather than fail the job and leave a `sending` record that would be sent again."""
    for pause in PERSIST_PAUSES:
        try:
            return await write()
        except (RedisError, OSError) as exc:
            log.warning("recording a delivery outcome failed (%s); trying again in %.1f s", exc, pause)
            await asyncio.sleep(pause)
    return await write()
