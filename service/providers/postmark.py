"""Postmark's bounce, spam-complaint and delivery webhooks. Postmark does not sign them; the
webhook URL carries POSTMARK_WEBHOOK_SECRET as its HTTP Basic password
(https://herald:<secret>@host/v1/inbound/postmark), which Postmark's settings allow.

Postmark gives every message its own MessageID, so the way back to the notification is the
`herald_notification` metadata (Herald's messages carry X-PM-Metadata-herald_notification for
Postmark to keep); without it the report still suppresses the address it names.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from service.providers.common import check_basic, mapping, moment, report, status_in
from service.providers.errors import Malformed, Unverified
from service.reports import Report, ReportType
from service.settings import Settings

# Postmark's bounce types (its "Type" field) as Herald counts them; the rest say nothing about
# the address (AutoResponder, Subscribe, OpenRelayTest…) and are not recorded.
_TYPES: dict[str, ReportType] = {
    "HardBounce": "bounced", "BadEmailAddress": "bounced", "ManuallyDeactivated": "bounced",
    "Transient": "soft_bounce", "SoftBounce": "soft_bounce", "DnsError": "soft_bounce", "Blocked": "soft_bounce",
    "SMTPApiError": "soft_bounce", "SpamComplaint": "complained", "Unknown": "unparsed",
}


async def read(body: bytes, headers: Mapping[str, str], settings: Settings, _client: object) -> list[Report]:
    if not settings.postmark_webhook_secret:
        raise Unverified("Postmark webhooks are not configured: set POSTMARK_WEBHOOK_SECRET")
    check_basic(headers.get("authorization"), settings.postmark_webhook_secret, "Postmark")
    try:
        payload = json.loads(body)
    except ValueError as exc:
        raise Malformed("the body is not JSON") from exc
    return reports(mapping(payload, "the Postmark webhook"))


def reports(record: Mapping[str, Any]) -> list[Report]:
    kind = record.get("RecordType")
    ways = _ways(record)
    if kind == "Delivery":
        return [report("postmark", "delivered", f"{record.get('MessageID')}|delivery", email=record.get("Recipient"),
                       diagnostic=record.get("Details"), at=moment(record.get("DeliveredAt")), **ways)]
    if kind not in ("Bounce", "SpamComplaint"):
        return []
    report_type = _TYPES.get(str(record.get("Type")))
    if report_type is None:
        return []
    said = " ".join(str(record.get(name)) for name in ("Description", "Details") if record.get(name))
    return [report("postmark", report_type, record.get("ID"), email=record.get("Email"), diagnostic=said,
                   status=status_in(record.get("Details")),
                   feedback_type="abuse" if report_type == "complained" else None,
                   at=moment(record.get("BouncedAt")), **ways)]


def _ways(record: Mapping[str, Any]) -> dict[str, Any]:
    metadata = record.get("Metadata") if isinstance(record.get("Metadata"), Mapping) else {}
    return {"notification_id": metadata.get("herald_notification")}
