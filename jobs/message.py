"""The MIME message for one notification.

Built with the `compat32` email API: the modern `EmailMessage` parses and refolds every header
it is given, which cost about 1.3 ms of the worker's CPU per message, and its folding of long
address headers can drop the quotes around a display name holding "," or ":" (CPython
gh-80222), turning one recipient into two. Herald writes every header value itself, so it
folds nothing (lines up to RFC 5322's 998-character limit) and encodes non-ASCII text as
RFC 2047 encoded words.
"""

from __future__ import annotations

from email import charset, policy
from email.header import Header
from email.message import Message
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.utils import formataddr, formatdate

from service.templates import Rendered

_POLICY = policy.compat32.clone(max_line_length=998)
_WIRE = _POLICY.clone(linesep="\r\n")
# Quoted-printable keeps mostly-ASCII bodies readable in the raw message (and to spam filters).
_UTF8_QP = charset.Charset("utf-8")
_UTF8_QP.body_encoding = charset.QP


def build_message(
    *,
    notification_id: str,
    message_id: str,
    mail_from: str,
    to_email: str,
    to_name: str | None,
    rendered: Rendered,
    unsubscribe_url: str | None = None,
) -> Message:
    message = _body(rendered)
    message["Message-ID"] = _one_line(message_id)
    message["Date"] = formatdate(usegmt=True)
    message["From"] = _one_line(mail_from)
    message["To"] = formataddr((_one_line(to_name or ""), to_email), charset="utf-8")
    message["Subject"] = _text_header(rendered.subject)
    message["X-Herald-Notification"] = _one_line(notification_id)
    if unsubscribe_url:
        # RFC 8058 one-click: mail clients POST "List-Unsubscribe=One-Click" to this URL.
        message["List-Unsubscribe"] = f"<{_one_line(unsubscribe_url)}>"
        message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    return message


def _body(rendered: Rendered) -> Message:
    text = MIMEText(rendered.text, "plain", _UTF8_QP, policy=_POLICY)
    if rendered.html is None:
        return text
    message = MIMEMultipart("alternative", policy=_POLICY)
    message.attach(text)
    message.attach(MIMEText(rendered.html, "html", _UTF8_QP, policy=_POLICY))
    return message


def _text_header(value: str) -> str:
    value = _one_line(value)
    return value if value.isascii() else Header(value, "utf-8").encode()


def _one_line(value: str) -> str:
    # Header injection guard: whatever reached here, no CR or LF goes into a header.
    return " ".join(value.split())


def to_bytes(message: Message) -> bytes:
    """The message as it goes over SMTP. Herald flattens it itself: aiosmtplib's own flattening
    would refold every header at 78 columns."""
    return message.as_bytes(policy=_WIRE)
