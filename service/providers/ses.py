"""Amazon SES notifications, as SNS delivers them to an HTTPS subscription.

A request is taken as SES's when its SNS signature verifies and its topic is one of
SES_TOPIC_ARNS, or when it carries SES_WEBHOOK_SECRET as its HTTP Basic password (an SNS
subscription URL of the form https://herald:<secret>@host/v1/inbound/ses). Either must be set:
anyone can sign an SNS message, from a topic of their own. A subscription confirmation is
answered by fetching its SubscribeURL. Both SES formats are read: notifications
(`notificationType`) and event publishing (`eventType`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from service import verp
from service.providers import sns
from service.providers.common import check_basic, mapping, message_id, moment, records, report, status_in
from service.providers.errors import Malformed, Unverified
from service.providers.sns import SnsClient
from service.reports import Report, ReportType
from service.settings import Settings

_BOUNCE_TYPES: dict[str, ReportType] = {"Permanent": "bounced", "Transient": "soft_bounce",
                                        "Undetermined": "soft_bounce"}
_NOT_COMPLAINTS = frozenset({"not-spam"})


async def read(body: bytes, headers: Mapping[str, str], settings: Settings, client: SnsClient) -> list[Report]:
    if not (settings.ses_topic_arns or settings.ses_webhook_secret):
        raise Unverified("SES webhooks are not configured: set SES_TOPIC_ARNS or SES_WEBHOOK_SECRET")
    envelope = _envelope(body)
    if settings.ses_webhook_secret:
        check_basic(headers.get("authorization"), settings.ses_webhook_secret, "SES")
    else:
        await sns.verify(envelope, client)
    if settings.ses_topic_arns and envelope.get("TopicArn") not in settings.ses_topic_arns:
        raise Unverified("the SNS topic is not one of SES_TOPIC_ARNS")
    if envelope.get("Type") == "SubscriptionConfirmation":
        await client.confirm(sns.sns_url(envelope.get("SubscribeURL")))
        return []
    if envelope.get("Type") != "Notification":
        return []
    try:
        notification = json.loads(str(envelope.get("Message")))
    except ValueError as exc:
        raise Malformed("the SNS Message is not JSON") from exc
    return reports(mapping(notification, "the SES notification"), settings)


def _envelope(body: bytes) -> dict[str, Any]:
    try:
        envelope = json.loads(body)
    except ValueError as exc:
        raise Malformed("the body is not JSON") from exc
    if not isinstance(envelope, dict) or not isinstance(envelope.get("Type"), str):
        raise Malformed("the body is not an SNS message")
    return envelope


def reports(notification: Mapping[str, Any], settings: Settings) -> list[Report]:
    kind = notification.get("notificationType") or notification.get("eventType")
    mail = mapping(notification.get("mail", {}), "mail")
    ways, ses_id = _ways(mail, settings), mail.get("messageId")
    if kind == "Bounce":
        return _bounces(mapping(notification.get("bounce"), "bounce"), ways, ses_id)
    if kind == "Complaint":
        return _complaints(mapping(notification.get("complaint"), "complaint"), ways)
    if kind == "Delivery":
        delivery = mapping(notification.get("delivery"), "delivery")
        return [report("ses", "delivered", ses_id, email=address,
                       diagnostic=delivery.get("smtpResponse"), reporting_mta=delivery.get("reportingMTA"),
                       at=moment(delivery.get("timestamp")), **ways)
                for address in _strings(delivery.get("recipients"))]
    if kind == "DeliveryDelay":
        delay = mapping(notification.get("deliveryDelay"), "deliveryDelay")
        delayed = records(delay.get("delayedRecipients"), "recipients")
        return [_recipient("delayed", delay, r, ways, ses_id) for r in delayed]
    return []  # Send, Open, Click, Reject, Rendering Failure: nothing to record


def _strings(value: object) -> list[str]:
    return [item for item in value if isinstance(item, str)] if isinstance(value, list) else []


def _bounces(bounce: Mapping[str, Any], ways: dict[str, Any], ses_id: object) -> list[Report]:
    report_type = _BOUNCE_TYPES.get(str(bounce.get("bounceType")), "soft_bounce")
    bounced = records(bounce.get("bouncedRecipients"), "recipients")
    return [_recipient(report_type, bounce, r, ways, ses_id) for r in bounced]


def _recipient(report_type: ReportType, event: Mapping[str, Any], recipient: Mapping[str, Any],
               ways: dict[str, Any], ses_id: object) -> Report:
    # A delay has no feedbackId; each one SES sends is for a later attempt, so its time is its id.
    return report("ses", report_type, event.get("feedbackId") or f"{ses_id}@{event.get('timestamp')}",
                  email=recipient.get("emailAddress"), action=recipient.get("action"),
                  status=status_in(recipient.get("status"), recipient.get("diagnosticCode")),
                  diagnostic=recipient.get("diagnosticCode"),
                  reporting_mta=event.get("reportingMTA"), at=moment(event.get("timestamp")), **ways)


def _complaints(complaint: Mapping[str, Any], ways: dict[str, Any]) -> list[Report]:
    feedback_type = str(complaint.get("complaintFeedbackType") or "abuse").lower()
    report_type: ReportType = "unparsed" if feedback_type in _NOT_COMPLAINTS else "complained"
    return [report("ses", report_type, complaint.get("feedbackId"), email=r.get("emailAddress"),
                   feedback_type=feedback_type, diagnostic=complaint.get("userAgent"),
                   at=moment(complaint.get("timestamp")), **ways)
            for r in records(complaint.get("complainedRecipients"), "recipients")]


def _ways(mail: Mapping[str, Any], settings: Settings) -> dict[str, Any]:
    """The ways back to the notification: the original's headers (SES includes them when the
    identity's "include original headers" is on), and the VERP token of its envelope sender."""
    headers = {str(h.get("name", "")).lower(): h.get("value") for h in records(mail.get("headers", []), "headers")}
    common = mail.get("commonHeaders") if isinstance(mail.get("commonHeaders"), Mapping) else {}
    source = mail.get("source") if isinstance(mail.get("source"), str) else ""
    token = verp.token_of(settings.bounce_address, source) if settings.bounce_address and source else None
    return {"notification_id": headers.get("x-herald-notification"),
            "message_id": message_id(headers.get("message-id") or common.get("messageId")), "token": token}
