"""One log line per HTTP request, with a request id that every other line of the request carries.

The id comes from the caller's `X-Request-ID` when it is a plain token (so a trace can cross
services), otherwise it is made here; the answer always carries it back. The line names the
route's template (`/v1/recipients/{email}/preferences`), not the path, so that no address or
token from a URL reaches the logs. It replaces uvicorn's own access line, which cannot carry the id.
"""

from __future__ import annotations

import logging
import re
import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service import logs
from service.ids import new_id

log = logging.getLogger("herald.http")
_GIVEN_ID = re.compile(rb"^[A-Za-z0-9._:-]{1,64}$")


class RequestLog:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = dict(scope["headers"]).get(b"x-request-id", b"")
        request_id = given.decode() if _GIVEN_ID.match(given) else new_id()
        status = 500  # what the server answers if the app fails before it starts an answer
        started = time.perf_counter()

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", []), (b"x-request-id", request_id.encode())]
            await send(message)

        token = logs.REQUEST_ID.set(request_id)
        try:
            await self.app(scope, receive, send_with_id)
        finally:
            route = scope.get("route")
            logs.event(log, "http.request", method=scope["method"], route=getattr(route, "path", None),
                       status=status, duration_ms=round((time.perf_counter() - started) * 1000, 1),
                       actor=scope.get("state", {}).get("actor"))
            logs.REQUEST_ID.reset(token)
