"""A JSON request body read and validated by hand, for the one route where it matters.

FastAPI's body and dependency machinery costs more CPU than accepting a notification itself
(measured: `python -m bench --part latency`). The hottest route reads its body here instead:
pydantic-core parses and validates the bytes in one pass, and every refusal has the shape and
status FastAPI's own would have (422, `loc` starting with "body"), so clients cannot tell.
"""

from __future__ import annotations

import email.message
from typing import Any, TypeVar

from fastapi import HTTPException, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError
from starlette.requests import ClientDisconnect

M = TypeVar("M", bound=BaseModel)


def _is_json(content_type: str) -> bool:
    if content_type.startswith("application/json"):
        return True
    message = email.message.Message()
    message["content-type"] = content_type
    subtype = message.get_content_subtype()
    return message.get_content_maintype() == "application" and (subtype == "json" or subtype.endswith("+json"))


def _refusal(kind: str, loc: tuple[Any, ...], msg: str) -> RequestValidationError:
    return RequestValidationError([{"type": kind, "loc": loc, "msg": msg}])


async def json_body(request: Request, model: type[M]) -> M:
    try:
        raw = await request.body()
    except ClientDisconnect:  # gone, or cut off past MAX_BODY_BYTES (the 413 is already sent)
        raise HTTPException(400, "the request body was not received whole") from None
    if not raw:
        raise _refusal("missing", ("body",), "Field required")
    if not _is_json(request.headers.get("content-type", "")):
        raise _refusal("model_attributes_type", ("body",), "the body must be JSON (Content-Type: application/json)")
    try:
        return model.model_validate_json(raw)
    except ValidationError as exc:
        raise RequestValidationError(
            [{"type": e["type"], "loc": ("body", *e["loc"]), "msg": e["msg"]} for e in exc.errors(include_url=False)]
        ) from None
