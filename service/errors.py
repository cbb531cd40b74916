"""Error answers: every failure is JSON `{"detail": ...}`, never a traceback."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

log = logging.getLogger("herald.errors")
RETRY_AFTER_SECONDS = "5"


async def _store_unavailable(request: Request, exc: Exception) -> JSONResponse:
    log.warning("redis unavailable during %s %s: %s", request.method, request.url.path, exc)
    return JSONResponse(
        {"detail": "the store is unavailable, try again shortly"},
        status_code=503,
        headers={"Retry-After": RETRY_AFTER_SECONDS},
    )


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled error during %s %s", request.method, request.url.path)
    return JSONResponse({"detail": "internal error"}, status_code=500)


def install(app: FastAPI) -> None:
    for exc_type in (RedisConnectionError, RedisTimeoutError, ConnectionError, TimeoutError):
        app.add_exception_handler(exc_type, _store_unavailable)
    app.add_exception_handler(Exception, _unexpected)
