"""Error answers: every failure is JSON `{"detail": ...}`, never a traceback."""

from __future__ import annotations

import json
import logging

from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from redis.exceptions import RedisError

log = logging.getLogger("herald.errors")
RETRY_AFTER_SECONDS = "5"


async def _store_unavailable(request: Request, exc: Exception) -> JSONResponse:
    log.warning("redis unavailable during %s %s: %s", request.method, request.url.path, exc)
    return JSONResponse(
        {"detail": "the store is unavailable, try again shortly"},
        status_code=503,
        headers={"Retry-After": RETRY_AFTER_SECONDS},
    )


async def _invalid_request(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    # Inputs are not echoed back: they can be large, and not always valid UTF-8.
    detail = [{k: v for k, v in err.items() if k in ("loc", "msg", "type")} for err in exc.errors()]
    body = json.dumps({"detail": detail}, ensure_ascii=True, default=str)
    return Response(body, status_code=422, media_type="application/json")


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled error during %s %s", request.method, request.url.path)
    return JSONResponse({"detail": "internal error"}, status_code=500)


def install(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, _invalid_request)
    # Any Redis failure, not only a lost connection: OOM and READONLY after a failover pass too.
    for exc_type in (RedisError, ConnectionError, TimeoutError):
        app.add_exception_handler(exc_type, _store_unavailable)
    app.add_exception_handler(Exception, _unexpected)
