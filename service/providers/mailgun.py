"""Mailgun's webhooks (the JSON kind, one event each): an HMAC-SHA256, in hex, of the timestamp
and token under MAILGUN_WEBHOOK_SIGNING_KEY. Mailgun keeps Herald's Message-ID, without its
angle brackets."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from typing import Any

from service.providers.common import mapping, message_id, moment, report, status_in, text
from service.providers.errors import Malformed, Unverified
from service.reports import Report, ReportType
from service.settings import Settings


async def read(body: bytes, headers: Mapping[str, str], settings: Settings, _client: object) -> list[Report]:
    if not settings.mailgun_webhook_signing_key:
        raise Unverified("Mailgun webhooks are not configured: set MAILGUN_WEBHOOK_SIGNING_KEY")
    try:
        payload = mapping(json.loads(body), "the Mailgun webhook")
    except ValueError as exc:
        raise Malformed("the body is not JSON") from exc
    verify(settings.mailgun_webhook_signing_key, mapping(payload.get("signature"), "signature"))
    found = _report(mapping(payload.get("event-data"), "event-data"))
    return [found] if found else []


def verify(signing_key: str, signature: Mapping[str, Any]) -> None:
    timestamp, token = text(signature.get("timestamp")) or "", text(signature.get("token")) or ""
    expected = hmac.new(signing_key.encode(), (timestamp + token).encode(), hashlib.sha256).hexdigest()
    if not (timestamp and token) or not hmac.compare_digest(expected, str(signature.get("signature", ""))):
        raise Unverified("the Mailgun signature does not verify")


def _report(event: Mapping[str, Any]) -> Report | None:
    report_type = _type(event)
    if report_type is None:
        return None
    status = event.get("delivery-status") if isinstance(event.get("delivery-status"), Mapping) else {}
    message = event.get("message") if isinstance(event.get("message"), Mapping) else {}
    headers = message.get("headers") if isinstance(message.get("headers"), Mapping) else {}
    variables = event.get("user-variables") if isinstance(event.get("user-variables"), Mapping) else {}
    said = " ".join(str(status[name]) for name in ("code", "message", "description") if status.get(name))
    return report("mailgun", report_type, event.get("id"), email=event.get("recipient"),
                  status=status_in(status.get("enhanced-code"), said), diagnostic=said or event.get("reason"),
                  reporting_mta=status.get("mx-host"), at=moment(event.get("timestamp")),
                  feedback_type="abuse" if report_type == "complained" else None,
                  notification_id=variables.get("herald_notification"), message_id=message_id(headers.get("message-id")))


def _type(event: Mapping[str, Any]) -> ReportType | None:
    kind = event.get("event")
    if kind == "failed":
        return "bounced" if event.get("severity") == "permanent" else "soft_bounce"
    return {"complained": "complained", "delivered": "delivered"}.get(str(kind))
