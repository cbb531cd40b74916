"""Error answers: every failure is JSON `{"detail": ...}`, never a traceback."""

from __future__ import annotations

import json
import logging
from typing import Any

from fastapi import FastAPI, HTTPException, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse
from pydantic import BaseModel
from redis.exceptions import RedisError

from service.models import normalize_email

log = logging.getLogger("herald.errors")
RETRY_AFTER_SECONDS = "5"


class ErrorOut(BaseModel):
    detail: str | list[dict[str, Any]]


# Documented on every /v1 router: what any call may answer besides its own success.
V1_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorOut, "description": "The body is not readable (not UTF-8 JSON)"},
    401: {"model": ErrorOut, "description": "Missing or invalid API key"},
    404: {"model": ErrorOut, "description": "Not found"},
    409: {"model": ErrorOut, "description": "Conflicts with the current state"},
    413: {"model": ErrorOut, "description": "Request body too large"},
    422: {"model": ErrorOut, "description": "Invalid request"},
    503: {"model": ErrorOut, "description": "Redis unavailable; retry after Retry-After seconds"},
}


def unprocessable(loc: list[str | int], msg: str) -> HTTPException:
    """A 422 in the same shape as FastAPI's own validation errors."""
    return HTTPException(422, [{"loc": loc, "msg": msg, "type": "value_error"}])


def valid_email(raw: str, loc: list[str | int]) -> str:
    """An address from a path or query parameter, normalised, or a 422 naming where it was."""
    try:
        return normalize_email(raw)
    except ValueError as exc:
        raise unprocessable(loc, str(exc)) from None


def _route(request: Request) -> str:
    """The route's template, not the path: a path can hold an address or an unsubscribe token."""
    route = request.scope.get("route")
    return getattr(route, "path", None) or "(no route)"


_UNAVAILABLE_PAGE = ("<!doctype html><title>Herald: store unavailable</title><h1>Redis is unavailable</h1>"
                     "<p>Herald cannot reach its store just now. This page will work again once it is back; "
                     "reload in a few seconds.</p>")


async def _store_unavailable(request: Request, exc: Exception) -> Response:
    log.warning("redis unavailable during %s %s: %s", request.method, _route(request), exc)
    if request.url.path.startswith("/dashboard"):  # a person in a browser, not a client library
        return HTMLResponse(_UNAVAILABLE_PAGE, status_code=503, headers={"Retry-After": RETRY_AFTER_SECONDS})
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
    log.exception("unhandled error during %s %s", request.method, _route(request))
    return JSONResponse({"detail": "internal error"}, status_code=500)


def install(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, _invalid_request)
    # Any Redis failure, not only a lost connection: OOM and READONLY after a failover pass too.
    for exc_type in (RedisError, ConnectionError, TimeoutError):
        app.add_exception_handler(exc_type, _store_unavailable)
    app.add_exception_handler(Exception, _unexpected)
