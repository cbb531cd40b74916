"""The SMTP server's address, and the reading of what it answered."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal
from urllib.parse import unquote, urlsplit

import aiosmtplib

Kind = Literal["sent", "transient", "bounce", "rejected", "error"]
_ENHANCED = re.compile(r"^\s*([245])\.(\d{1,3})\.(\d{1,3})\b")
_SLOW_DOWN_STATUS = re.compile(r"^\d{3}\s+4\.7\.\d{1,3}\b")
_DEFAULT_PORTS = {"smtp": 25, "smtp+tls": 587, "smtp+ssl": 465}


@dataclass(frozen=True)
class SmtpConfig:
    hostname: str
    port: int
    username: str | None = None
    password: str | None = None
    start_tls: bool = False
    use_tls: bool = False
    timeout: float = 15
    deadline: float = 30
    cert_bundle: str | None = None  # None: the system's CAs

    @classmethod
    def from_url(
        cls, url: str, *, timeout: float = 15, deadline: float = 30, cert_bundle: str | None = None
    ) -> SmtpConfig:
        parts = urlsplit(url)
        return cls(
            hostname=parts.hostname or "localhost",
            port=parts.port or _DEFAULT_PORTS[parts.scheme],
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
            start_tls=parts.scheme == "smtp+tls",
            use_tls=parts.scheme == "smtp+ssl",
            timeout=timeout,
            deadline=deadline,
            cert_bundle=cert_bundle,
        )


@dataclass(frozen=True)
class Outcome:
    kind: Kind
    code: int | None
    detail: str
    smtp: bool = True  # False: no SMTP conversation (rendering failed, or another channel)
    retry_after: float | None = None  # seconds the server asked us to wait (another channel's 429)


def classify(exc: BaseException) -> Outcome:
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused) and exc.recipients:
        refused = exc.recipients[0]
        return _from_reply(refused.code, refused.message, stage="rcpt")
    if isinstance(exc, aiosmtplib.SMTPRecipientRefused):
        return _from_reply(exc.code, exc.message, stage="rcpt")
    if isinstance(exc, aiosmtplib.SMTPAuthenticationError):
        # Our credentials, not the recipient: retry, so fixing SMTP_URL recovers the queue.
        return Outcome("transient", exc.code, f"authentication failed: {exc.message}")
    if isinstance(exc, aiosmtplib.SMTPSenderRefused):
        # Our MAIL FROM was refused: say so, but never blame (and suppress) the recipient.
        return _from_reply(exc.code, exc.message, stage="sender")
    if isinstance(exc, aiosmtplib.SMTPDataError):
        return _from_reply(exc.code, exc.message, stage="data")
    if isinstance(exc, aiosmtplib.SMTPResponseException):
        return _from_reply(exc.code, exc.message, stage="session")
    if isinstance(exc, (aiosmtplib.SMTPException, OSError, TimeoutError)):
        return Outcome("transient", None, f"{type(exc).__name__}: {exc}".strip())
    return Outcome("error", None, f"unexpected {type(exc).__name__}: {exc}")


def _from_reply(code: int, text: str, *, stage: str) -> Outcome:
    """`stage`: rcpt (the recipient was refused), data (the message was), sender or session."""
    detail = f"{code} {text}".strip()
    if code < 500:
        return Outcome("transient", code, detail)
    if stage not in ("rcpt", "data"):
        return Outcome("rejected", code, detail)
    enhanced = _ENHANCED.match(text or "")
    if enhanced:
        subject, specific = enhanced.group(2), enhanced.group(3)
        about_recipient = subject == "1" or (subject, specific) == ("2", "1")
        return Outcome("bounce" if about_recipient else "rejected", code, detail)
    if stage == "rcpt" and code in (550, 551, 553):
        return Outcome("bounce", code, detail)
    return Outcome("rejected", code, detail)


def asks_to_slow_down(outcome: Outcome) -> bool:
    """421 (the server is closing, often "too many connections") or a 4.7.x status (rate limited,
    greylisted): the server wants less mail from us for a while."""
    if outcome.kind != "transient" or outcome.code is None:
        return False
    return outcome.code == 421 or _SLOW_DOWN_STATUS.match(outcome.detail) is not None
