"""A JSON request body read and validated by hand, for the one route where it matters.

FastAPI's body and dependency machinery costs more CPU than accepting a notification itself
(measured: `python -m bench.web_cpu`). The hottest route reads its body here instead:
pydantic-core parses and validates UTF-8 bytes in one pass. Anything else that FastAPI would
have read (a byte-order mark, UTF-16) takes FastAPI's own path, `json.loads`. Every refusal has
the status and the `loc` FastAPI's would have (422 with `loc` starting with "body"; 400 for a
body that is not text); a message may be worded differently.
"""

from __future__ import annotations

import email.message
import json
from typing import Any, TypeVar

from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError
from starlette.requests import ClientDisconnect

M = TypeVar("M", bound=BaseModel)


def _is_json(content_type: str) -> bool:
    if content_type == "application/json" or content_type.startswith("application/json;"):
        return True
    message = email.message.Message()
    message["content-type"] = content_type
    subtype = message.get_content_subtype()
    return message.get_content_maintype() == "application" and (subtype == "json" or subtype.endswith("+json"))


def _errors(exc: ValidationError) -> list[dict[str, Any]]:
    return [{"type": e["type"], "loc": ("body", *e["loc"]), "msg": e["msg"]} for e in exc.errors(include_url=False)]


async def json_body(request: Request, model: type[M]) -> M:
    try:
        raw = await request.body()
    except ClientDisconnect:  # gone, or cut off past MAX_BODY_BYTES (the 413 is already sent)
        raise HTTPException(400, "the request body was not received whole") from None
    if not raw:
        raise RequestValidationError([{"type": "missing", "loc": ("body",), "msg": "Field required"}])
    if not _is_json(request.headers.get("content-type", "")):
        raise RequestValidationError([{"type": "model_attributes_type", "loc": ("body",),
                                       "msg": "the body must be JSON (Content-Type: application/json)"}])
    try:
        return model.model_validate_json(raw)
    except ValidationError as exc:
        if not any(e["type"] == "json_invalid" for e in exc.errors()):
            raise RequestValidationError(_errors(exc)) from None
    return _read_as_fastapi_would(raw, model)


def _read_as_fastapi_would(raw: bytes, model: type[M]) -> M:
    """json.loads detects UTF-16 and -32 and skips a UTF-8 byte-order mark; pydantic reads UTF-8 only."""
    try:
        data = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise RequestValidationError([{"type": "json_invalid", "loc": ("body", exc.pos),
                                       "msg": "JSON decode error"}]) from None
    except ValueError:  # not text in any encoding JSON allows
        raise HTTPException(400, "There was an error parsing the body") from None
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise RequestValidationError(_errors(exc)) from None


def document(app: FastAPI, model: type[BaseModel]) -> None:
    """Put a hand-read body's model, and the models it uses, in the OpenAPI components, where
    FastAPI would have put them had a route declared it."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = generate()
            components = schema.setdefault("components", {}).setdefault("schemas", {})
            body = model.model_json_schema(ref_template="#/components/schemas/{model}")
            components.update(body.pop("$defs", {}))
            components[model.__name__] = body
        return app.openapi_schema  # type: ignore[return-value]

    app.openapi = openapi  # type: ignore[method-assign]
