"""Opaque page cursors: URL-safe base64 of a position that only the server reads."""

from __future__ import annotations

import base64
import binascii


class BadCursor(ValueError):
    pass


def encode(position: str) -> str:
    return base64.urlsafe_b64encode(position.encode()).decode().rstrip("=")


def decode(cursor: str) -> str:
    try:
        raw = base64.b64decode(cursor + "=" * (-len(cursor) % 4), altchars=b"-_", validate=True)
        return raw.decode()
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise BadCursor("invalid cursor") from None
