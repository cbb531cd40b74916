"""The MIME message for one notification."""

from __future__ import annotations

from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import formatdate

from service.templates import Rendered


# CPython's folding of long address headers can drop the quotes around a display name that
# holds "," or ":" (gh-80222), turning one recipient into two. Lines up to RFC 5322's hard
# limit are never folded; names are capped at 200 characters at the API, so To never folds.
_POLICY = SMTP.clone(max_line_length=998)


def build_message(
    *,
    notification_id: str,
    message_id: str,
    mail_from: str,
    to_email: str,
    to_name: str | None,
    rendered: Rendered,
    unsubscribe_url: str | None = None,
) -> EmailMessage:
    message = EmailMessage(policy=_POLICY)
    message["Message-ID"] = message_id
    message["Date"] = formatdate(usegmt=True)
    message["From"] = mail_from
    local, _, domain = to_email.rpartition("@")
    message["To"] = Address(display_name=_one_line(to_name or ""), username=local, domain=domain)
    message["Subject"] = _one_line(rendered.subject)
    message["X-Herald-Notification"] = notification_id
    if unsubscribe_url:
        # RFC 8058 one-click: mail clients POST "List-Unsubscribe=One-Click" to this URL.
        message["List-Unsubscribe"] = f"<{unsubscribe_url}>"
        message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    message.set_content(rendered.text)
    if rendered.html is not None:
        message.add_alternative(rendered.html, subtype="html")
    return message


def _one_line(value: str) -> str:
    # Header injection guard: whatever reached here, no CR or LF goes into a header.
    return " ".join(value.split())
