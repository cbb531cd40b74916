"""API keys: every /v1 request carries `Authorization: Bearer <secret>`.

Checked in middleware, before FastAPI reads the body, so that a caller without a valid key
gets 401 whatever it sent (not a 422 about its JSON). The key's name becomes the actor.
"""

from __future__ import annotations

import hmac
import json
import math
import time

from starlette.types import ASGIApp, Receive, Scope, Send

_UNAUTHORIZED = json.dumps({"detail": "missing or invalid API key"}).encode()
_TOO_MANY = json.dumps({"detail": "rate limit exceeded for this API key"}).encode()


def _protected(path: str) -> bool:
    return path == "/v1" or path.startswith("/v1/")


class ApiKeyAuth:
    def __init__(self, app: ASGIApp, *, keys: list[tuple[str, str]], rate_per_second: float = 0) -> None:
        self.app = app
        self.keys = [(name, secret.encode()) for name, secret in keys]
        self.limiter = RateLimiter(rate_per_second) if rate_per_second else None

    def actor(self, authorization: bytes) -> str | None:
        scheme, _, given = authorization.partition(b" ")
        if scheme.lower() != b"bearer" or not given:
            return None
        found = None
        for name, secret in self.keys:  # every key is compared, each in constant time
            if hmac.compare_digest(given.strip(), secret):
                found = name
        return found

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and _protected(scope["path"]):
            authorization = dict(scope["headers"]).get(b"authorization", b"")
            actor = self.actor(authorization)
            if actor is None:
                await _refuse(send, 401, _UNAUTHORIZED, [(b"www-authenticate", b"Bearer")])
                return
            wait = self.limiter.wait(actor) if self.limiter else 0.0
            if wait > 0:
                retry_after = str(max(1, math.ceil(wait))).encode()
                await _refuse(send, 429, _TOO_MANY, [(b"retry-after", retry_after)])
                return
            scope.setdefault("state", {})["actor"] = actor
        await self.app(scope, receive, send)


class RateLimiter:
    """A token bucket per API key: `rate` requests a second, bursts up to one second's worth.

    Per web process: with N web processes a key gets N times the rate. It costs no Redis round
    trip, which a shared limit would add to every request.
    """

    def __init__(self, rate: float) -> None:
        self.rate = rate
        self.capacity = max(rate, 1.0)
        self.buckets: dict[str, tuple[float, float]] = {}  # actor -> (tokens, last refill)

    def wait(self, actor: str) -> float:
        """0 if the request may go now, else the seconds until it could."""
        now = time.monotonic()
        tokens, last = self.buckets.get(actor, (self.capacity, now))
        tokens = min(self.capacity, tokens + (now - last) * self.rate)
        if tokens >= 1:
            self.buckets[actor] = (tokens - 1, now)
            return 0.0
        self.buckets[actor] = (tokens, now)
        return (1 - tokens) / self.rate


async def _refuse(send: Send, status: int, body: bytes, extra: list[tuple[bytes, bytes]]) -> None:
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()), *extra]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
