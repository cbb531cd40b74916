"""Random identifiers: notification ids, Message-ID local parts, request ids, start marks."""

from __future__ import annotations

import os


def new_id() -> str:
    """128 random bits as 32 hex digits: uuid4().hex's shape, in a fifth of its time (2.75 against
    0.57 µs, timeit), which counts three times in every accepted notification."""
    return os.urandom(16).hex()
