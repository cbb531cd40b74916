"""The `deliver_webhook` job: one attempt to POST one event to one endpoint, Standard Webhooks signed.

2xx is success. Anything else is a failure, retried on the specification's schedule
(WEBHOOK_RETRY_SECONDS: at once, 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h); redirects are not
followed (a 3xx is a failure: a receiver that moved must be registered anew, not chased);
410 Gone disables the endpoint; a Retry-After is honoured, up to a day. Every attempt is kept.
The body and the `webhook-id` are the same on every attempt; the timestamp and the signature are
the attempt's own, as the specification wants (receivers refuse old timestamps).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from arq import Retry
from standardwebhooks import Webhook

from jobs.retry_after import retry_after
from service import logs, ssrf, webhooks
from service.models import iso

log = logging.getLogger("herald.webhooks")
MAX_RETRY_AFTER = 86400
_DETAIL_CHARS = 500


@dataclass(frozen=True)
class Result:
    outcome: str  # succeeded, failed, gone, error (no answer), refused (SSRF)
    status_code: int | None
    detail: str
    retry_after: float | None = None


async def deliver_webhook(ctx: dict[str, Any], delivery_id: str) -> str:
    redis = ctx["redis"]
    found = await webhooks.delivery(redis, delivery_id, with_body=True)
    if found is None or found["status"] != "pending":
        return "nothing to do"
    endpoint = await webhooks.endpoint(redis, found["endpoint"])
    if endpoint is None or endpoint["status"] != "enabled":
        await webhooks.set_delivery_status(redis, delivery_id, "cancelled")
        return "cancelled: the endpoint is gone or disabled"
    started = time.monotonic()
    result = await _attempt(ctx, endpoint, delivery_id, found["body"])
    attempt = {"n": len(found["attempts"]) + 1, "at": iso(datetime.now(UTC)), "status_code": result.status_code,
               "outcome": result.outcome, "detail": result.detail[:_DETAIL_CHARS],
               "duration_ms": int((time.monotonic() - started) * 1000)}
    return await _record(ctx, endpoint, found, attempt, result)


async def _record(ctx: dict[str, Any], endpoint: dict[str, Any], found: dict[str, Any], attempt: dict[str, Any],
                  result: Result) -> str:
    redis, delivery_id = ctx["redis"], found["id"]
    logs.event(log, "webhook.attempt", id=delivery_id, endpoint=endpoint["id"], type=found["type"],
               attempt=attempt["n"], outcome=result.outcome, status_code=result.status_code)
    if result.outcome == "succeeded":
        await webhooks.record_attempt(redis, delivery_id, attempt, status="succeeded", next_attempt_at=None,
                                      outcome="succeeded")
        return "succeeded"
    if result.outcome == "gone":
        await webhooks.set_status(redis, endpoint["id"], "disabled", reason=f"answered 410 Gone at {attempt['at']}")
    schedule = ctx["settings"].webhook_retry_seconds
    tries = attempt["n"] - int(found.get("round_start") or 0)
    if result.outcome == "gone" or tries >= len(schedule):
        await webhooks.record_attempt(redis, delivery_id, attempt, status="failed", next_attempt_at=None,
                                      outcome=result.outcome)
        return "failed"
    delay = schedule[tries]
    if result.retry_after is not None:
        delay = max(delay, min(result.retry_after, MAX_RETRY_AFTER))
    next_at = iso(datetime.now(UTC) + timedelta(seconds=delay))
    await webhooks.record_attempt(redis, delivery_id, attempt, status="pending", next_attempt_at=next_at,
                                  outcome=result.outcome)
    raise Retry(defer=delay)


async def _attempt(ctx: dict[str, Any], endpoint: dict[str, Any], delivery_id: str, body: bytes) -> Result:
    settings = ctx["settings"]
    if reason := await ssrf.refusal(endpoint["url"], allow_private=settings.webhook_allow_private):
        return Result("refused", None, f"not sent: {reason}")
    now = datetime.now(UTC)
    headers = {"content-type": "application/json", "webhook-id": delivery_id,
               "webhook-timestamp": str(int(now.timestamp())),
               "webhook-signature": Webhook(endpoint["secret"]).sign(delivery_id, now, body)}
    try:
        response = await ctx["http"].post(endpoint["url"], content=body, headers=headers)
    except httpx.HTTPError as exc:
        return Result("error", None, f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__)
    return _classify(response)


def _classify(response: httpx.Response) -> Result:
    code = response.status_code
    text = response.text[:_DETAIL_CHARS]
    if 200 <= code < 300:
        return Result("succeeded", code, text)
    if code == 410:
        return Result("gone", code, text or "Gone: the endpoint is disabled")
    if 300 <= code < 400:
        text = f"redirect to {response.headers.get('location', '?')} (not followed) {text}".strip()
    return Result("failed", code, text, retry_after(response.headers.get("retry-after")))
