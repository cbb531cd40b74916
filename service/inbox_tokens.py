"""Recipient tokens: what a browser shows instead of an API key to read one recipient's inbox.

A token names one recipient and an expiry, signed with a key derived from SECRET_KEY; the
product's backend asks for one (POST /v1/recipients/{id}/inbox-token) and hands it to its page.
Short-lived on purpose: it travels in a URL (EventSource cannot send headers).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time

_PURPOSE = b"herald-inbox-token-v1"


class InvalidToken(ValueError):
    pass


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _key(secret: str) -> bytes:
    return hmac.new(secret.encode(), _PURPOSE, hashlib.sha256).digest()


def make(secret: str, recipient: str, *, expires_at: int) -> str:
    body = _b64(f"{recipient}\n{expires_at}".encode())
    mac = hmac.new(_key(secret), body.encode(), hashlib.sha256).digest()[:24]
    return f"{body}.{_b64(mac)}"


def read(secret: str, token: str, *, now: float | None = None) -> tuple[str, int]:
    """The recipient and expiry (Unix time) of a genuine, unexpired token; InvalidToken for
    anything else."""
    body, dot, mac = token.partition(".")
    if not dot or len(token) > 400:
        raise InvalidToken("malformed token")
    expected = _b64(hmac.new(_key(secret), body.encode(), hashlib.sha256).digest()[:24])
    if not hmac.compare_digest(expected.encode(), mac.encode()):
        raise InvalidToken("bad signature")
    try:
        recipient, _, expiry = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)).decode().partition("\n")
        expires_at = int(expiry)
    except ValueError:
        raise InvalidToken("malformed token") from None
    if expires_at < (time.time() if now is None else now):
        raise InvalidToken("token expired")
    return recipient, expires_at
