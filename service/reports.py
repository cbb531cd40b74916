"""What a delivery report says, whatever brought it: a DSN or ARF message to the inbound SMTP
server, or a provider's webhook (SES, Postmark, SendGrid, Mailgun).

Every source is turned into `Report`s, and one place (service.events) decides what a report
does to the notification, the suppression list and the product's webhooks.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

ReportType = Literal["bounced", "soft_bounce", "delayed", "complained", "delivered", "unparsed"]
REPORT_TYPES: tuple[str, ...] = ("bounced", "soft_bounce", "delayed", "complained", "delivered", "unparsed")
# Where a report came from: the inbound SMTP server's kinds, then the providers.
SOURCES: tuple[str, ...] = ("dsn", "arf", "mail", "ses", "postmark", "sendgrid", "mailgun")


@dataclass(frozen=True)
class Report:
    """One recipient's outcome as one report gives it.

    `reference` identifies the report itself, so that the same report received twice is one
    event: the report's own Message-ID or the provider's event id, with the recipient, or a hash
    of the raw report where it has neither.
    `notification_id`, `message_id` (with its angle brackets) and `token` (the VERP token of the
    envelope recipient) are the ways back to the notification; any may be missing.
    `status` is the enhanced status code (RFC 3463, "5.1.1"); `diagnostic` the remote server's
    own words; `at` when the source says it happened (RFC 3339), None for now.
    """

    type: ReportType
    source: str
    reference: str
    email: str | None = None
    notification_id: str | None = None
    message_id: str | None = None
    token: str | None = None
    status: str | None = None
    action: str | None = None
    diagnostic: str | None = None
    feedback_type: str | None = None
    reporting_mta: str | None = None
    at: str | None = None

    def detail(self) -> dict[str, str]:
        """What the notification's event shows of the report: the fields that are set."""
        fields = {"email": self.email, "status": self.status, "action": self.action,
                  "diagnostic": self.diagnostic, "feedback_type": self.feedback_type,
                  "reporting_mta": self.reporting_mta}
        return {name: value for name, value in fields.items() if value}


def classify_dsn(action: str | None, status: str | None) -> ReportType:
    """RFC 3464's Action and RFC 3463's status class, as Herald counts them: `failed` with a
    permanent (5.x.x) status is a hard bounce; a `failed` with a transient (4.x.x) one is soft;
    `delayed` is its own kind; `delivered`/`relayed`/`expanded` say the mail got through."""
    action = (action or "").strip().lower()
    status_class = (status or "").strip()[:1]
    if action == "failed":
        return "bounced" if status_class == "5" or not status_class else "soft_bounce"
    if action == "delayed":
        return "delayed"
    if action in {"delivered", "relayed", "expanded"}:
        return "delivered"
    if status_class == "5":
        return "bounced"
    if status_class == "4":
        return "soft_bounce"
    return "unparsed"
