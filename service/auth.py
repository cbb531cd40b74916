"""API keys: every /v1 request carries `Authorization: Bearer <secret>`.

Checked in middleware, before FastAPI reads the body, so that a caller without a valid key
gets 401 whatever it sent (not a 422 about its JSON). The key's name becomes the actor.
"""

from __future__ import annotations

import hmac
import json
import math
from collections.abc import Sequence

from redis.exceptions import RedisError
from starlette.types import ASGIApp, Receive, Scope, Send

from service.ratelimit import TokenBucket

_UNAUTHORIZED = json.dumps({"detail": "missing or invalid API key"}).encode()
_TOO_MANY = json.dumps({"detail": "rate limit exceeded for this API key"}).encode()


def find_key(keys: Sequence[tuple[str, bytes]], given: bytes) -> tuple[str, bytes] | None:
    """The (name, secret) pair whose secret is `given`: every key is compared, each in constant
    time, so the answer's timing says nothing about which key (or how much of one) matched."""
    found = None
    for name, secret in keys:
        if hmac.compare_digest(given, secret):
            found = (name, secret)
    return found


def _protected(path: str) -> bool:
    # Providers' webhooks cannot send an API key; each is verified its provider's way instead.
    # A browser reading its inbox shows a recipient token (service.routes.inbox) instead.
    return ((path == "/v1" or path.startswith("/v1/")) and not path.startswith("/v1/inbound/")
            and path != "/v1/inbox" and not path.startswith("/v1/inbox/"))


class ApiKeyAuth:
    def __init__(self, app: ASGIApp, *, keys: list[tuple[str, str]], rate_per_second: float = 0) -> None:
        self.app = app
        self.keys = [(name, secret.encode()) for name, secret in keys]
        self.rate = rate_per_second

    def actor(self, authorization: bytes) -> str | None:
        scheme, _, given = authorization.partition(b" ")
        if scheme.lower() != b"bearer" or not given:
            return None
        found = find_key(self.keys, given.strip())
        return found[0] if found else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and _protected(scope["path"]):
            authorization = dict(scope["headers"]).get(b"authorization", b"")
            actor = self.actor(authorization)
            if actor is None:
                await _refuse(send, 401, _UNAUTHORIZED, [(b"www-authenticate", b"Bearer")])
                return
            wait = await self._wait(scope, actor) if self.rate else 0.0
            if wait > 0:
                retry_after = str(max(1, math.ceil(wait))).encode()
                await _refuse(send, 429, _TOO_MANY, [(b"retry-after", retry_after)])
                return
            scope.setdefault("state", {})["actor"] = actor
        await self.app(scope, receive, send)

    async def _wait(self, scope: Scope, actor: str) -> float:
        """The key's bucket lives in Redis, so N web processes share one limit, not N."""
        state = scope["app"].state
        buckets: dict[str, TokenBucket] = state.rate_buckets
        bucket = buckets.get(actor)
        if bucket is None:
            bucket = buckets[actor] = TokenBucket(state.queue, key=f"herald:rate:api:{actor}", rate=self.rate)
        try:
            return await bucket.take()
        except RedisError:
            # A limiter is a guard, not a gate: the route answers 503 itself if it needs Redis.
            return 0.0


async def _refuse(send: Send, status: int, body: bytes, extra: list[tuple[bytes, bytes]]) -> None:
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()), *extra]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
