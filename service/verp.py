"""VERP: each message's envelope sender names its notification, so a bounce says what it is about.

With BOUNCE_ADDRESS `bounces@bounce.acme.test`, a message is sent MAIL FROM
`bounces+<token>@bounce.acme.test`, and a bounce comes back to that address whatever the remote
server makes of the message's headers. The token is the random part of the notification's
Message-ID (16 bytes, 26 base32 characters) and an 8-character HMAC of it under SECRET_KEY:
34 characters, whatever the notification id (an idempotency key may be 128 characters, which
no local part holds). Lower-case only, since some servers lower-case the address they bounce
to. A forged or altered token does not verify, so nobody can mark another person's
notification bounced by mailing the bounce address.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re

from service.settings import VERP_TOKEN_LENGTH

_PURPOSE = b"herald-verp-v1\n"
_MESSAGE_ID = re.compile(r"^<([0-9a-f]{32})@[^<>@\s]+>$")
_TOKEN = re.compile(rf"^[a-z2-7]{{{VERP_TOKEN_LENGTH}}}$")


def message_id_hex(message_id: str | None) -> str | None:
    """The random part of a Herald Message-ID (`<32 hex digits@domain>`), None for any other."""
    found = _MESSAGE_ID.match((message_id or "").strip().lower())
    return found.group(1) if found else None


def envelope_sender(bounce_address: str, secret_key: str, message_id: str) -> str:
    """The MAIL FROM for one message; the bare bounce address for a Message-ID not made by Herald."""
    hex_id = message_id_hex(message_id)
    if hex_id is None:
        return bounce_address
    local, _, domain = bounce_address.rpartition("@")
    raw = bytes.fromhex(hex_id)
    return f"{local}+{_b32(raw)}{_b32(_sign(secret_key, raw))}@{domain}"


def token_of(bounce_address: str, recipient: str) -> str | None:
    """The token of an envelope recipient `<local>+<token>@<domain>` of the bounce address."""
    local, _, domain = recipient.strip().strip("<>").lower().rpartition("@")
    base_local, _, base_domain = bounce_address.rpartition("@")
    prefix = base_local + "+"
    if domain != base_domain or not local.startswith(prefix):
        return None
    return local[len(prefix):]


def read_token(secret_key: str, token: str) -> str | None:
    """The Message-ID random part a token names, None when it does not verify."""
    token = token.strip().lower()
    if not _TOKEN.match(token):
        return None
    raw = base64.b32decode(token[:26].upper() + "======")
    if not hmac.compare_digest(token[26:], _b32(_sign(secret_key, raw))):
        return None
    return raw.hex()


def accepts(bounce_address: str, recipient: str) -> bool:
    """Whether an envelope recipient is the bounce address or one of its token addresses."""
    local, _, domain = recipient.strip().strip("<>").lower().rpartition("@")
    base_local, _, base_domain = bounce_address.rpartition("@")
    return domain == base_domain and (local == base_local or local.startswith(base_local + "+"))


def _sign(secret_key: str, raw: bytes) -> bytes:
    return hmac.new(secret_key.encode(), _PURPOSE + raw, hashlib.sha256).digest()[:5]


def _b32(data: bytes) -> str:
    return base64.b32encode(data).decode().rstrip("=").lower()
