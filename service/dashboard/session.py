"""Dashboard sessions: log in with an API key, stay logged in with a signed, HttpOnly cookie.

The cookie does not hold the API key itself but a session signed with SECRET_KEY that names the
key and carries a keyed fingerprint of its secret: a stolen cookie never yields a key that works
on the API, and removing or rotating a key from API_KEYS ends every session opened with it.
Logging out ends the session on the server too (a Redis key), not only in the browser.

Forms are protected twice against cross-site requests: the cookie is SameSite=Strict, and every
POST carries a token derived from the session (for the login form, from a one-off cookie), which
another site can neither read nor compute.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass

SESSION_COOKIE = "herald_session"
LOGIN_COOKIE = "herald_login"
SESSION_SECONDS = 12 * 3600
_PURPOSE = b"herald-dashboard-session-v1\n"
_CSRF_PURPOSE = b"herald-dashboard-csrf-v1\n"
_FINGERPRINT_PURPOSE = b"herald-dashboard-key-v1\n"


@dataclass(frozen=True)
class Session:
    actor: str  # the API key's name, recorded in the audit log for what is done here
    sid: str
    expires: int


def _mac(secret_key: str, purpose: bytes, payload: bytes) -> str:
    digest = hmac.new(secret_key.encode(), purpose + payload, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def _fingerprint(secret_key: str, api_secret: str) -> str:
    # Keyed: a stolen cookie gives no offline guessing game against a weak API key.
    return _mac(secret_key, _FINGERPRINT_PURPOSE, api_secret.encode())


def logged_out_key(sid: str) -> str:
    """Marks a session that logged out, until it would have expired anyway."""
    return f"herald:dashboard:logged-out:{sid}"


def open_session(secret_key: str, key: tuple[str, str], *, now: float | None = None) -> str:
    """The cookie value for a fresh session opened with the API key `key`."""
    now = time.time() if now is None else now
    body = {"n": key[0], "f": _fingerprint(secret_key, key[1]), "e": int(now) + SESSION_SECONDS, "s": secrets.token_urlsafe(16)}
    payload = base64.urlsafe_b64encode(json.dumps(body, separators=(",", ":")).encode()).rstrip(b"=")
    return f"{payload.decode()}.{_mac(secret_key, _PURPOSE, payload)}"


def read_session(secret_key: str, keys: list[tuple[str, str]], cookie: str | None,
                 *, now: float | None = None) -> Session | None:
    """The session a cookie proves, or None: forged, expired, or its API key is gone."""
    if not cookie or len(cookie) > 1000:
        return None
    payload, _, mac = cookie.partition(".")
    if not hmac.compare_digest(mac.encode(), _mac(secret_key, _PURPOSE, payload.encode()).encode()):
        return None
    try:
        body = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        actor, fingerprint, expires, sid = str(body["n"]), str(body["f"]), int(body["e"]), str(body["s"])
    except (ValueError, KeyError, TypeError):
        return None
    if expires < (time.time() if now is None else now):
        return None
    if not any(name == actor and hmac.compare_digest(_fingerprint(secret_key, secret), fingerprint) for name, secret in keys):
        return None
    return Session(actor=actor, sid=sid, expires=expires)


def csrf_token(secret_key: str, seed: str) -> str:
    """The token a form must send back: bound to the session id (or the login cookie)."""
    return _mac(secret_key, _CSRF_PURPOSE, seed.encode())


def csrf_ok(secret_key: str, seed: str | None, given: str | None) -> bool:
    if not seed or not given:
        return False
    return hmac.compare_digest(given.encode(), csrf_token(secret_key, seed).encode())


def new_login_nonce() -> str:
    return secrets.token_urlsafe(16)
