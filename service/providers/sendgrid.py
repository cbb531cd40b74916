"""SendGrid's Event Webhook, signed (its "Signed Event Webhook"): an ECDSA P-256 signature over
the timestamp header followed by the raw body, checked with SENDGRID_WEBHOOK_PUBLIC_KEY (the
base64 key SendGrid's settings show). One request carries a batch of events.

Herald's messages keep their Message-ID through SendGrid, which reports it as `smtp-id`.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from service.providers.common import message_id, moment, records, report, status_in
from service.providers.errors import Malformed, Unverified
from service.reports import Report, ReportType
from service.settings import Settings

SIGNATURE_HEADER = "x-twilio-email-event-webhook-signature"
TIMESTAMP_HEADER = "x-twilio-email-event-webhook-timestamp"
# Why SendGrid dropped a message without trying: the address bounced or complained before.
_DROPPED: dict[str, ReportType] = {"bounced address": "bounced", "invalid": "bounced",
                                   "spam reporting address": "complained"}


async def read(body: bytes, headers: Mapping[str, str], settings: Settings, _client: object) -> list[Report]:
    if not settings.sendgrid_webhook_public_key:
        raise Unverified("SendGrid webhooks are not configured: set SENDGRID_WEBHOOK_PUBLIC_KEY")
    verify(settings.sendgrid_webhook_public_key, body, headers)
    try:
        payload = json.loads(body)
    except ValueError as exc:
        raise Malformed("the body is not JSON") from exc
    return [found for event in records(payload, "the SendGrid batch") if (found := _report(event))]


def verify(public_key: str, body: bytes, headers: Mapping[str, str]) -> None:
    timestamp = headers.get(TIMESTAMP_HEADER, "")
    try:
        signature = base64.b64decode(headers.get(SIGNATURE_HEADER, ""), validate=True)
        key = _key(public_key)
    except (binascii.Error, ValueError) as exc:
        raise Unverified("the SendGrid signature or public key is not readable") from exc
    if not signature or not timestamp:
        raise Unverified("the SendGrid signature headers are missing")
    try:
        key.verify(signature, timestamp.encode() + body, ec.ECDSA(hashes.SHA256()))
    except InvalidSignature as exc:
        raise Unverified("the SendGrid signature does not verify") from exc


def _key(public_key: str) -> ec.EllipticCurvePublicKey:
    text = public_key.strip()
    key = (serialization.load_pem_public_key(text.encode()) if text.startswith("-----")
           else serialization.load_der_public_key(base64.b64decode(text, validate=True)))
    if not isinstance(key, ec.EllipticCurvePublicKey):
        raise ValueError("not an elliptic-curve key")
    return key


def _report(event: Mapping[str, Any]) -> Report | None:
    report_type = _type(event)
    if report_type is None:
        return None
    said = " ".join(str(event[name]) for name in ("reason", "response") if event.get(name))
    return report("sendgrid", report_type, event.get("sg_event_id"), email=event.get("email"),
                  status=status_in(event.get("status"), said), diagnostic=said, at=moment(event.get("timestamp")),
                  feedback_type="abuse" if report_type == "complained" else None,
                  notification_id=event.get("herald_notification"), message_id=message_id(event.get("smtp-id")))


def _type(event: Mapping[str, Any]) -> ReportType | None:
    kind = event.get("event")
    if kind == "bounce":
        return "soft_bounce" if event.get("type") == "blocked" else "bounced"
    if kind == "dropped":
        return _DROPPED.get(str(event.get("reason", "")).lower())
    return {"deferred": "delayed", "spamreport": "complained", "delivered": "delivered"}.get(str(kind))
