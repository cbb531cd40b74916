"""PostgreSQL away: Herald starts and delivers without it, and moves the history once it is back."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from asgi_lifespan import LifespanManager

from service.factory import create_app
from tests.conftest import AUTH, drain, make_settings
from tests.service.archive.conftest import move
from tests.support.postgres import ScratchDatabase
from tests.support.smtp import ScriptedSMTP

WELCOME = {"template": "user.welcome", "to": "ada@example.com", "context": {"name": "Ada"}}


@pytest.fixture
async def missing() -> AsyncIterator[ScratchDatabase]:
    """A database that does not exist yet (the server answers, and refuses the connection)."""
    database = ScratchDatabase()
    yield database
    await database.remove()


async def test_delivery_goes_on_without_postgres_and_the_history_follows_it_back(
        missing: ScratchDatabase, redis_url: str, smtp: ScriptedSMTP):
    settings = make_settings(redis_url=redis_url, smtp_url=smtp.url, database_url=missing.url,
                             archive_after_seconds=86400)
    app = create_app(settings)
    async with LifespanManager(app):  # starts, with a warning
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://herald.test", headers=AUTH) as client:
            note = (await client.post("/v1/notifications", json=WELCOME)).json()
            await drain(settings)  # the worker starts and delivers too
            assert [m.message["X-Herald-Notification"] for m in smtp.received] == [note["id"]]
            assert (await client.get(f"/v1/notifications/{note['id']}")).json()["status"] == "sent"
            assert (await client.get("/v1/notifications")).status_code == 503  # it would miss the history
            assert await move(app) == 0

            await missing.make()
            app.state.store.archive.retry_seconds = 0
            assert await move(app) == 1
            got = await client.get(f"/v1/notifications/{note['id']}")
            assert got.status_code == 200 and got.json()["status"] == "sent"
            assert [n["id"] for n in (await client.get("/v1/notifications")).json()["items"]] == [note["id"]]
