"""The one message every peer sends, and where to: a small text email like Herald's user.welcome."""

from __future__ import annotations

import os
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from urllib.parse import urlsplit

# The SMTP server counts deliveries by this header, as it counts Herald's X-Herald-Notification.
ID_HEADER = "X-Bench-Id"


def smtp_address() -> tuple[str, int]:
    parts = urlsplit(os.environ.get("SMTP_URL", "smtp://127.0.0.1:1025"))
    return parts.hostname or "127.0.0.1", parts.port or 25


def welcome(nid: str, to: str, name: str) -> EmailMessage:
    message = EmailMessage()
    message["From"] = os.environ.get("MAIL_FROM", "Bench Peer <peer@bench.test>")
    message["To"] = to
    message["Subject"] = f"Welcome to Acme, {name}!"
    message["Date"] = formatdate(localtime=False)
    message["Message-ID"] = make_msgid(domain="bench.test")
    message[ID_HEADER] = nid
    message.set_content(f"Hi {name},\n\nWelcome aboard. Your account is ready to use.\n\nThe Acme team\n")
    return message


def is_transient(code: int) -> bool:
    """A 4xx reply is worth retrying; a 5xx is final."""
    return 400 <= code < 500
