"""The outbox: what the product's webhooks must hear of, in a Redis stream.

Status changes are announced by the Lua scripts that make them (common.lua's `announce`), so
that the change and its event are one write; what is announced from Python (an unsubscribe)
goes through `publish`. Either way nothing is written while no endpoint is registered. The
worker's dispatcher (jobs.webhook_dispatch) reads the stream and hands each event to a delivery job
per subscribed endpoint.
"""

from __future__ import annotations

from datetime import UTC, datetime

from redis.asyncio import Redis

from service.keys import OUTBOX_KEY, WEBHOOKS_KEY
from service.models import iso

EVENT_TYPES = (
    "notification.sent", "notification.failed", "notification.bounced", "notification.complained",
    "notification.suppressed", "notification.cancelled", "recipient.unsubscribed",
)
MAX_ENTRIES = 1_000_000  # as in common.lua: a bound for when every worker is down for days

_PUBLISH = """
if redis.call('EXISTS', KEYS[2]) == 0 then return 0 end
redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], '*', unpack(ARGV, 2))
return 1
"""


async def publish(redis: Redis, event_type: str, *, at: datetime | None = None, **fields: str) -> bool:
    """Append one event (skipped while no endpoint is registered); whether it was written."""
    flat = ["type", event_type, "at", iso(at or datetime.now(UTC))]
    for name, value in fields.items():
        flat += [name, value]
    return bool(await redis.eval(_PUBLISH, 2, OUTBOX_KEY, WEBHOOKS_KEY, MAX_ENTRIES, *flat))
