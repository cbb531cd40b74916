"""The names of Herald's own Redis keys (all under `herald:`), shared by the web and the worker.

The Lua scripts in `lua/` build a few of the same names themselves (common.lua); a name changed
here must change there too.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

PREFIX = "herald:"
PENDING_KEY = PREFIX + "pending"
SUPPRESSED_KEY = PREFIX + "suppressed"
SUPPRESSED_ORDER_KEY = PREFIX + "suppressed-order"
AUDIT_KEY = PREFIX + "audit"
STATS_KEY = PREFIX + "stats"
INDEX_ALL = PREFIX + "idx:all"
# What the product's webhooks must hear of (service.outbox): a stream written by the same script
# as the change it announces, so that no event is lost between the two.
OUTBOX_KEY = PREFIX + "outbox"
WEBHOOKS_KEY = PREFIX + "webhooks"  # registered endpoints: id -> JSON (service.webhooks)
# Finished notifications by when they finished, for the mover to PostgreSQL (service.archive),
# written only while ARCHIVING_KEY says one runs.
FINISHED_INDEX = PREFIX + "idx:finished"
ARCHIVING_KEY = PREFIX + "archiving"
# Delivery reports that named no notification Herald still has (their addresses are still suppressed).
UNMATCHED_REPORTS_KEY = PREFIX + "reports:unmatched"


def record_key(notification_id: str) -> str:
    return f"{PREFIX}n:{notification_id}"


def attempts_key(notification_id: str) -> str:
    # Its own prefix: ids may contain ":", so "{id}:attempts" could be another record's key.
    return f"{PREFIX}a:{notification_id}"


def events_key(notification_id: str) -> str:
    """The delivery events (bounces, complaints) reported for a notification, oldest first."""
    return f"{PREFIX}e:{notification_id}"


def archived_key(notification_id: str) -> str:
    """What Redis keeps of a notification moved to PostgreSQL: its fingerprint, for idempotency."""
    return f"{PREFIX}x:{notification_id}"


def message_id_key(message_id_hex: str) -> str:
    """From a Message-ID's random part back to its notification (a VERP token, a returned header)."""
    return f"{PREFIX}mid:{message_id_hex}"


def report_seen_key(reference: str) -> str:
    """Marks a delivery report as recorded, so that the same report twice is one event."""
    return f"{PREFIX}seen:{hashlib.sha256(reference.encode()).hexdigest()[:32]}"


def soft_bounces_key(email: str) -> str:
    return f"{PREFIX}soft:{email.lower()}"


def prefs_key(email: str) -> str:
    return f"{PREFIX}prefs:{email.lower()}"


def digest_buffer(period: str, email: str) -> str:
    return f"{PREFIX}digest:{period}:{email.lower()}"


def digest_due(period: str) -> str:
    """The recipients who have items waiting for their `period` digest."""
    return f"{PREFIX}digest-due:{period}"


def recipient_index(email: str) -> str:
    return f"{PREFIX}idx:to:{email.lower()}"


def template_index(template: str) -> str:
    return f"{PREFIX}idx:template:{template}"


def status_index(status: str) -> str:
    return f"{PREFIX}idx:status:{status}"


def recipient_email(record: Mapping[str, Any]) -> str:
    """A record's recipient address, lower-cased, as every index and list keys it."""
    return record.get("to_email") or (json.loads(record["to"]).get("email") or "").lower()
