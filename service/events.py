"""What a delivery report does: to the notification, the suppression list and the webhooks.

A hard bounce makes the notification `bounced` (also after `sent`: the relay's 250 was not the
end) and suppresses the address for everything. A complaint makes it `complained` and suppresses
the address for all but the mail that is always sent (security, billing, transactional): a
person who marks a newsletter as spam still gets a password reset. Soft bounces and delays are
only recorded, until `SOFT_BOUNCE_LIMIT` of them over at least `SOFT_BOUNCE_DAYS` days say the
address is dead. A report for a notification Herald no longer has still suppresses the address
it names, and is kept in a list of its own. The same report twice is one event.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from redis.asyncio import Redis

from service import jsonio, verp
from service.archive import moves
from service.coalesce import Coalescer
from service.keys import (
    STATS_KEY, SUPPRESSED_KEY, SUPPRESSED_ORDER_KEY, UNMATCHED_REPORTS_KEY, events_key, message_id_key, record_key,
    recipient_email, report_seen_key, soft_bounces_key,
)
from service.models import iso
from service.reports import Report
from service.settings import Settings
from service.store import Store

SEEN_SECONDS = 30 * 86400  # a provider retries a webhook for days, an MTA a DSN rarely twice
_LUA = Path(__file__).parent / "lua"


class Events:
    """Records reports as notification events; one instance per process, built at start-up."""

    def __init__(self, store: Store, settings: Settings) -> None:
        self.store = store
        self.settings = settings
        common = (_LUA / "common.lua").read_text()
        self._script = Coalescer(store.redis.register_script(common + "\n" + (_LUA / "event.lua").read_text()))

    async def record(self, reports: Sequence[Report]) -> list[str]:
        """Apply each report; per report "recorded", "duplicate" or "unmatched" (no notification
        found: the address it names is still suppressed where the report says so)."""
        return [await self._record(report) for report in reports]

    async def _record(self, report: Report) -> str:
        notification_id, matched_by = await self._find(report)
        record = await self.store.redis.hgetall(record_key(notification_id)) if notification_id else {}
        texts = {k.decode(): v.decode() for k, v in record.items()}
        email = recipient_email(texts) if texts else (report.email or "").lower()
        now = datetime.now(UTC)
        event = {"type": report.type, "at": report.at or iso(now), "source": report.source,
                 "detail": report.detail() | ({"matched_by": matched_by} if matched_by else {})}
        keys = [record_key(notification_id) if texts else "", events_key(notification_id or ""),
                report_seen_key(report.reference), SUPPRESSED_KEY, SUPPRESSED_ORDER_KEY, STATS_KEY,
                soft_bounces_key(email) if email else "", UNMATCHED_REPORTS_KEY]
        argv = [report.type, report.source, jsonio.dumps(event), email, self._suppression(report, now),
                SEEN_SECONDS, int(now.timestamp() * 1000), self.settings.soft_bounce_limit,
                int(self.settings.soft_bounce_days * 86400 * 1000), self._soft_suppression(report, now),
                jsonio.dumps(asdict(report) | {"received_at": iso(now)}), _error(report)]
        outcome, _, _ = await self._script(keys, argv)
        return outcome.decode() if isinstance(outcome, bytes) else outcome

    async def _find(self, report: Report) -> tuple[str | None, str | None]:
        """The notification a report is about, and how it was found."""
        redis = self.store.redis
        if report.notification_id and await self._in_redis(report.notification_id):
            return report.notification_id, "notification id"
        candidates = []
        if report.token and (hex_id := verp.read_token(self.settings.secret_key, report.token)):
            candidates.append((hex_id, "verp"))
        if hex_id := verp.message_id_hex(report.message_id):
            candidates.append((hex_id, "message-id"))
        for hex_id, how in candidates:
            if found := await redis.get(message_id_key(hex_id)):
                await self._in_redis(found.decode())
                return found.decode(), how
        return None, None

    async def _in_redis(self, notification_id: str) -> bool:
        """Whether Redis has it, once a late report about one moved to PostgreSQL has brought it back."""
        if await self.store.redis.exists(record_key(notification_id)):
            return True
        return bool(await moves.restore(self.store, [notification_id]))

    def _suppression(self, report: Report, now: datetime) -> str:
        if report.type == "bounced":
            reason = f"bounce: {_said(report)}"
            return _entry(reason, now, report)
        if report.type == "complained":
            reason = f"complaint: {report.feedback_type or 'abuse'} report ({report.source})"
            return _entry(reason, now, report, scope="optional")
        return ""

    def _soft_suppression(self, report: Report, now: datetime) -> str:
        if report.type != "soft_bounce":
            return ""
        limit, days = self.settings.soft_bounce_limit, self.settings.soft_bounce_days
        return _entry(f"bounce (soft, repeated): {limit} soft bounces over {days:g}+ days; last: {_said(report)}",
                      now, report)


def _said(report: Report) -> str:
    return " ".join(filter(None, [report.status, report.diagnostic])) or "no details given"


def _entry(reason: str, now: datetime, report: Report, *, scope: str | None = None) -> str:
    entry = {"reason": reason[:300], "at": iso(now), "source": report.source}
    if scope:
        entry["scope"] = scope
    return json.dumps(entry, separators=(",", ":"))


def _error(report: Report) -> str:
    if report.type == "complained":
        return f"the recipient reported it as {report.feedback_type or 'abuse'} ({report.source})"
    return f"bounced ({report.source}): {_said(report)}"[:1000]


async def unmatched(redis: Redis, *, before: str | None, limit: int) -> tuple[list[dict[str, Any]], str | None]:
    """Reports that named no notification Herald still has, newest first; the cursor is a stream id."""
    high = f"({before}" if before else "+"
    entries = await redis.xrevrange(UNMATCHED_REPORTS_KEY, max=high, min="-", count=limit + 1)
    items = [jsonio.loads(fields[b"report"]) for _, fields in entries[:limit]]
    return items, entries[limit - 1][0].decode() if len(entries) > limit else None
