"""Unsubscribe tokens: opaque to the recipient, signed with SECRET_KEY, valid for years.

A token names one recipient and one category. Changing a single character of it, or making
one for someone else, needs the key. There is no expiry: an unsubscribe link in a year-old
email must still work (what the 2024 bulk-sender rules expect of a one-click link).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re

_PURPOSE = b"herald-unsubscribe-v1\n"
_SHAPE = re.compile(r"^[A-Za-z0-9_-]{1,800}\.[A-Za-z0-9_-]{22}$")
_SIGNATURE_BYTES = 16


class InvalidToken(ValueError):
    pass


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _sign(secret: str, payload: bytes) -> bytes:
    return hmac.new(secret.encode(), _PURPOSE + payload, hashlib.sha256).digest()[:_SIGNATURE_BYTES]


def make(secret: str, *, email: str, category: str) -> str:
    payload = f"{email.lower()}\n{category}".encode()
    return f"{_b64(payload)}.{_b64(_sign(secret, payload))}"


def read(secret: str, token: str) -> tuple[str, str]:
    """(email, category) of a genuine token; InvalidToken for anything else.

    Only the exact token Herald made is accepted: no other spelling of the same bytes.
    """
    if not _SHAPE.match(token):
        raise InvalidToken("malformed token")
    body, _, signature = token.partition(".")
    try:
        payload = _unb64(body)
        given = _unb64(signature)
    except (ValueError, TypeError):
        raise InvalidToken("malformed token") from None
    if _b64(payload) != body or _b64(given) != signature:
        raise InvalidToken("malformed token")
    if not hmac.compare_digest(given, _sign(secret, payload)):
        raise InvalidToken("bad signature")
    email, _, category = payload.decode("utf-8", "replace").partition("\n")
    if not email or not category:
        raise InvalidToken("malformed token")
    return email, category
