"""API keys: every /v1 request carries `Authorization: Bearer <secret>`.

Checked in middleware, before FastAPI reads the body, so that a caller without a valid key
gets 401 whatever it sent (not a 422 about its JSON). The key's name becomes the actor.
"""

from __future__ import annotations

import hmac
import json

from starlette.types import ASGIApp, Receive, Scope, Send

_UNAUTHORIZED = json.dumps({"detail": "missing or invalid API key"}).encode()


def _protected(path: str) -> bool:
    return path == "/v1" or path.startswith("/v1/")


class ApiKeyAuth:
    def __init__(self, app: ASGIApp, *, keys: dict[str, str]) -> None:
        self.app = app
        self.keys = [(name, secret.encode()) for name, secret in keys.items()]

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
                await _refuse(send)
                return
            scope.setdefault("state", {})["actor"] = actor
        await self.app(scope, receive, send)


async def _refuse(send: Send) -> None:
    headers = [(b"content-type", b"application/json"), (b"www-authenticate", b"Bearer"),
               (b"content-length", str(len(_UNAUTHORIZED)).encode())]
    await send({"type": "http.response.start", "status": 401, "headers": headers})
    await send({"type": "http.response.body", "body": _UNAUTHORIZED})
