"""Digests: notifications folded per recipient and sent as one email per period.

Exactly once per recipient and period, however many workers or flushes run at once: the
digest is a notification whose id names the recipient and the period, written with the same
set-if-absent script as any other. Whoever loses that race only removes, from the recipient's
buffer, the items the winner's digest holds; items that arrive later wait for the next period.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from service.accept import Context, prepare
from service.models import NotificationIn
from service.store import Store, digest_buffer, digest_due
from service.templates import RENDER_ERRORS, Catalog

PERIODS = ("daily", "weekly")
MAX_ITEMS = 500  # more wait for the next digest


@dataclass
class FlushReport:
    period: str
    period_key: str
    sent: int = 0
    already_sent: int = 0


def period_key(period: str, moment: datetime) -> str:
    if period == "daily":
        return moment.strftime("%Y-%m-%d")
    year, week, _ = moment.isocalendar()
    return f"{year}-W{week:02d}"


def digest_id(period: str, key: str, email: str) -> str:
    return f"digest.{period}.{key}.{hashlib.sha256(email.lower().encode()).hexdigest()[:20]}"


async def flush(store: Store, ctx: Context, period: str, *, now: datetime) -> FlushReport:
    report = FlushReport(period, period_key(period, now))
    async for raw in store.redis.sscan_iter(digest_due(period)):
        created = await flush_one(store, ctx, period, raw.decode(), now=now)
        if created is not None:
            report.sent += created
            report.already_sent += not created
    return report


async def flush_one(store: Store, ctx: Context, period: str, email: str, *, now: datetime) -> bool | None:
    """True if this call made the digest, False if it existed already, None if nothing was waiting."""
    ids = [i.decode() for i in await store.redis.lrange(digest_buffer(period, email), 0, MAX_ITEMS - 1)]
    did = digest_id(period, period_key(period, now), email)
    if not ids:
        await store.digest_taken(period, email, did, [])
        return None
    existing = await store.get(did)
    if existing is None:
        items = await store.get_many(ids, attempts=False)
        new = prepare(_request(period, email, did, _contents(ctx.catalog, items)), ctx, now=now)
        new = replace(new, record={**new.record, "digest_items": ids})
        created = (await store.create(new)).created
        existing = None if created else await store.get(did)
    taken = ids if existing is None else json.loads(existing["digest_items"])
    await store.digest_taken(period, email, did, taken)
    return existing is None


def _request(period: str, email: str, did: str, items: list[dict[str, Any]]) -> NotificationIn:
    # Built by Herald, not a caller: no size limit on the context of a long digest.
    return NotificationIn.model_construct(
        template=f"digest.{period}", to=email, context={"items": items}, locale=None,
        idempotency_key=did, delay=None, send_at=None, digest=None,
    )


def _contents(catalog: Catalog, records: list[dict[str, Any] | None]) -> list[dict[str, Any]]:
    items = []
    for record in records:
        if record is None:  # expired before its digest: nothing left to tell
            continue
        try:
            rendered = catalog.render(record["template"], record["locale"], json.loads(record["context"]))
            subject, text = rendered.subject, rendered.text.strip()
        except RENDER_ERRORS:
            subject, text = record["template"], ""
        items.append({"id": record["id"], "template": record["template"], "at": record["created_at"],
                      "subject": subject, "text": text})
    return items
