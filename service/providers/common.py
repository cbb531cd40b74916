"""What the providers' readers share: reports built from JSON that may hold anything, times in
any of the providers' formats, and HTTP Basic credentials checked in constant time."""

from __future__ import annotations

import base64
import binascii
import hmac
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from service.models import iso
from service.providers.errors import Malformed, Unverified
from service.reports import Report, ReportType

_MESSAGE_ID = re.compile(r"^<?([^<>\s]{1,900})>?$")
_STATUS = re.compile(r"(?<![\d.])[245]\.[0-7]\.\d{1,3}(?![\d.])")  # RFC 3463: class.subject.detail
_LIMITS = {"email": 320, "diagnostic": 1000}


def report(source: str, report_type: ReportType, event_id: object, **fields: object) -> Report:
    """One report; `event_id` is the provider's id for the event, which makes the same webhook
    delivered twice one event."""
    clean = {name: text(value, _LIMITS.get(name, 300)) for name, value in fields.items()}
    if clean.get("email"):
        clean["email"] = clean["email"].lower()  # type: ignore[union-attr]
    reference = f"{source}:{text(event_id, 150) or '-'}|{clean.get('email') or '-'}|{report_type}"
    return Report(type=report_type, source=source, reference=reference, **clean)  # type: ignore[arg-type]


def text(value: object, limit: int = 300) -> str | None:
    """A string field on one line, whatever JSON gave (numbers are written out, the rest dropped)."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        value = str(value)
    if not isinstance(value, str):
        return None
    return " ".join(value.replace("\x00", " ").split())[:limit] or None


def status_in(*values: object) -> str | None:
    """The first enhanced status code (5.1.1) written in any of `values`."""
    for value in values:
        if found := _STATUS.search(text(value, 1000) or ""):
            return found.group()
    return None


def message_id(value: object) -> str | None:
    """A Message-ID with its angle brackets, as Herald wrote it (providers drop them)."""
    found = _MESSAGE_ID.match(text(value, 1000) or "")
    return f"<{found.group(1)}>" if found else None


def moment(value: object) -> str | None:
    """An event time (ISO 8601 or Unix seconds) as Herald writes times, None if unreadable."""
    try:
        if isinstance(value, int | float) and not isinstance(value, bool):
            parsed = datetime.fromtimestamp(value, UTC)
        elif isinstance(value, str):
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
            parsed = parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
        else:
            return None
        return iso(parsed.astimezone(UTC))
    except (ValueError, OverflowError, OSError):
        return None


def mapping(value: object, what: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise Malformed(f"{what} is not a JSON object")
    return value


def records(value: object, what: str) -> list[Mapping[str, Any]]:
    """The objects of a list that should hold objects (anything else in it is skipped)."""
    if not isinstance(value, list):
        raise Malformed(f"{what} is not a JSON list")
    return [item for item in value if isinstance(item, Mapping)]


def check_basic(authorization: str | None, secret: str, provider: str) -> None:
    """Raises Unverified unless the request's HTTP Basic password is `secret` (any user name)."""
    scheme, _, encoded = (authorization or "").partition(" ")
    try:
        given = base64.b64decode(encoded.strip(), validate=True).partition(b":")[2]
    except (binascii.Error, ValueError):
        given = b""
    if scheme.lower() != "basic" or not hmac.compare_digest(given, secret.encode()):
        raise Unverified(f"the {provider} webhook's credentials are wrong")
