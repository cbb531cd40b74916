"""The web side every peer shares: Herald's send request shape and a health route."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager

from fastapi import FastAPI
from pydantic import BaseModel

PATH = "/v1/notifications"


class SendRequest(BaseModel):
    """The subset of Herald's POST /v1/notifications body a peer reads; no auth, no templates."""

    template: str
    to: str
    context: dict[str, str]

    @property
    def name(self) -> str:
        return self.context.get("name", "")


def new_id() -> str:
    return uuid.uuid4().hex


def peer_app(lifespan: Callable[[FastAPI], AbstractAsyncContextManager[None]] | None = None) -> FastAPI:
    app = FastAPI(lifespan=lifespan)

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app
