"""Unsubscribe tokens: opaque to everyone without SECRET_KEY, valid for years.

A token names one recipient and one category, encrypted and authenticated with AES-GCM under a
key derived from SECRET_KEY. The address is not readable from the link, so it does not end up
in access logs, proxies or link scanners; changing a single character of a token, or making one
for someone else, needs the key. There is no expiry: an unsubscribe link in a year-old email
must still work (what the 2024 bulk-sender rules expect of a one-click link).
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import os
import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

_PURPOSE = b"herald-unsubscribe-v2"
_NONCE_BYTES = 12
_SHAPE = re.compile(r"^[A-Za-z0-9_-]{16}\.[A-Za-z0-9_-]{24,1100}$")
# The first format (signed, not encrypted) is still read: links in mail already sent must work.
_V1_PURPOSE = b"herald-unsubscribe-v1\n"
_V1_SHAPE = re.compile(r"^[A-Za-z0-9_-]{1,800}\.[A-Za-z0-9_-]{22}$")


class InvalidToken(ValueError):
    pass


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@functools.lru_cache(maxsize=4)
def _cipher(secret: str) -> AESGCM:
    # Imported here: the library costs ~10 MB of RSS, which a web process that never serves an
    # unsubscribe page should not pay.
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    return AESGCM(hmac.new(secret.encode(), _PURPOSE, hashlib.sha256).digest())


def make(secret: str, *, email: str, category: str) -> str:
    nonce = os.urandom(_NONCE_BYTES)
    sealed = _cipher(secret).encrypt(nonce, f"{email.lower()}\n{category}".encode(), _PURPOSE)
    return f"{_b64(nonce)}.{_b64(sealed)}"


def read(secret: str, token: str) -> tuple[str, str]:
    """(email, category) of a genuine token; InvalidToken for anything else.

    Only the exact token Herald made is accepted: no other spelling of the same bytes.
    """
    from cryptography.exceptions import InvalidTag

    if _V1_SHAPE.match(token):
        return _read_v1(secret, token)
    if not _SHAPE.match(token):
        raise InvalidToken("malformed token")
    nonce, sealed = _parts(token)
    try:
        payload = _cipher(secret).decrypt(nonce, sealed, _PURPOSE)
    except InvalidTag:
        raise InvalidToken("bad signature") from None
    return _recipient(payload)


def _read_v1(secret: str, token: str) -> tuple[str, str]:
    payload, given = _parts(token)
    expected = hmac.new(secret.encode(), _V1_PURPOSE + payload, hashlib.sha256).digest()[:16]
    if not hmac.compare_digest(given, expected):
        raise InvalidToken("bad signature")
    return _recipient(payload)


def _parts(token: str) -> tuple[bytes, bytes]:
    """The two base64 halves of a token, decoded; only their one canonical spelling is accepted."""
    first, _, second = token.partition(".")
    try:
        decoded = _unb64(first), _unb64(second)
    except (ValueError, TypeError):
        raise InvalidToken("malformed token") from None
    if _b64(decoded[0]) != first or _b64(decoded[1]) != second:
        raise InvalidToken("malformed token")
    return decoded


def _recipient(payload: bytes) -> tuple[str, str]:
    email, _, category = payload.decode("utf-8", "replace").partition("\n")
    if not email or not category:
        raise InvalidToken("malformed token")
    return email, category
