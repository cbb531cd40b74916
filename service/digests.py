"""Digests: notifications folded per recipient and sent as one email per period.

Exactly once, however many workers or flushes run at once: the digest is a notification whose
id is derived from its recipient and the first item waiting, written with the same
set-if-absent script as any other. Whoever loses that race only removes, from the recipient's
buffer, the items the winner's digest holds; items that arrive later go in the next digest,
made by the next cron run (once per period) or the next flush.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from service import recipients
from service.accept import Context, prepare
from service.models import NotificationIn, Recipient
from service.keys import digest_buffer, digest_due
from service.store import NewRecord, Store
from service.templates import ALWAYS_SENT, RENDER_ERRORS, Catalog

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


def digest_id(period: str, email: str, first_item: str) -> str:
    """Names the digest by its recipient and its first item: flushers racing over the same
    buffer agree on it, and the next flush (after these items left) makes a new one. The "~"
    cannot start an idempotency key, so no caller can take a digest's id."""
    digest = hashlib.sha256(f"{email.lower()}\n{first_item}".encode()).hexdigest()[:24]
    return f"~digest.{period}.{digest}"


async def flush(store: Store, ctx: Context, period: str, *, now: datetime) -> FlushReport:
    report = FlushReport(period, period_key(period, now))
    async for raw in store.redis.sscan_iter(digest_due(period)):
        created = await flush_one(store, ctx, period, raw.decode(), now=now)
        if created is not None:
            report.sent += created
            report.already_sent += not created
    return report


async def flush_one(store: Store, ctx: Context, period: str, email: str, *, now: datetime) -> bool | None:
    """True if this call made the digest, False if a racing flush did, None if nothing was due."""
    ids = [i.decode() for i in await store.redis.lrange(digest_buffer(period, email), 0, MAX_ITEMS - 1)]
    if not ids:
        await store.digest_taken(period, email, "", [])
        return None
    did = digest_id(period, email, ids[0])
    existing = await store.get(did)
    if existing is None:
        records = [r for r in await store.get_many(ids, attempts=False) if r is not None]
        wanted = await _still_wanted(store, email, records)
        if not wanted:
            await store.digest_taken(period, email, "", ids)
            return None
        created = (await store.create(_digest_record(ctx, period, email, did, ids, wanted, now))).created
        existing = None if created else await store.get(did)
    taken = ids if existing is None else json.loads(existing.get("digest_items") or "[]")
    await store.digest_taken(period, email, did, taken)
    return existing is None


async def _still_wanted(store: Store, email: str, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Preferences apply when the digest is made: items of a category turned off since are dropped."""
    preferences = await recipients.preferences(store.redis, email)
    wanted = []
    for record in records:
        category = record["category"]
        if category in ALWAYS_SENT or preferences.get(category, True):
            wanted.append(record)
        else:
            await store.transition(record["id"], allowed=["digested"],
                                   fields={"status": "suppressed", "error": f"recipient opted out of {category}"})
    return wanted


def _digest_record(
    ctx: Context, period: str, email: str, did: str, ids: list[str], records: list[dict[str, Any]], now: datetime
) -> NewRecord:
    new = prepare(_request(period, email, did, _contents(ctx.catalog, records)), ctx, now=now)
    # A digest carrying transactional, security or billing items goes out whatever the
    # recipient's digest preference: those categories are always sent.
    always = any(r["category"] in ALWAYS_SENT for r in records)
    record = {**new.record, "digest_items": ids, "always_send": "1" if always else ""}
    return replace(new, record=record, category_checked=None if always else new.category_checked)


def _request(period: str, email: str, did: str, items: list[dict[str, Any]]) -> NotificationIn:
    # Built by Herald, not a caller: no size limit on the context of a long digest.
    return NotificationIn.model_construct(
        template=f"digest.{period}", to=Recipient.model_construct(email=email, name=None),
        context={"items": items}, locale=None,
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
