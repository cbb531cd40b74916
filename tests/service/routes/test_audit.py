"""GET /v1/audit: every mutating call and every unsubscribe, newest first, by actor and time."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import httpx

from service import tokens
from tests.support.pages import every_page

WELCOME = {"template": "user.welcome", "to": "ada@example.com", "context": {"name": "Ada"}}


async def test_mutations_are_logged_newest_first_by_actor(client, app, settings):
    created = (await client.post("/v1/notifications", json=WELCOME | {"delay": 60})).json()
    await client.patch(f"/v1/notifications/{created['id']}", json={"delay": 120})
    await client.delete(f"/v1/notifications/{created['id']}", headers={"Authorization": "Bearer other-secret-0123"})
    await client.put("/v1/recipients/ada@example.com/preferences", json={"categories": {"marketing": False}})
    await client.post("/v1/digests/flush", json={"period": "daily"})
    token = tokens.make(settings.secret_key, email="bob@example.com", category="marketing")
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://herald.test") as anon:
        await anon.post(f"/u/{token}")
    await client.get(f"/v1/notifications/{created['id']}")  # reads are not logged

    items = (await client.get("/v1/audit")).json()["items"]
    assert [(i["actor"], i["action"]) for i in items] == [
        ("bob@example.com", "unsubscribe"),
        ("test", "digest.flush"),
        ("test", "preferences.update"),
        ("other", "notification.cancel"),
        ("test", "notification.reschedule"),
        ("test", "notification.create"),
    ]
    assert items[-1]["target"] == created["id"] and items[-1]["detail"]["template"] == "user.welcome"
    only_other = (await client.get("/v1/audit", params={"actor": "other"})).json()["items"]
    assert [i["action"] for i in only_other] == ["notification.cancel"]


async def test_since_and_pages(client):
    for n in range(5):
        await client.post("/v1/notifications", json=WELCOME | {"idempotency_key": f"k{n}"})
    await asyncio.sleep(0.01)
    mark = datetime.now(UTC).isoformat()
    await client.post("/v1/notifications", json=WELCOME | {"idempotency_key": "after"})
    recent = (await client.get("/v1/audit", params={"since": mark})).json()["items"]
    assert [i["target"] for i in recent] == ["after"]
    seen = [i["target"] for i in await every_page(client, "/v1/audit", limit=2)]
    assert seen == ["after", "k4", "k3", "k2", "k1", "k0"]
    assert (await client.get("/v1/audit", params={"cursor": "nope"})).status_code == 422
    assert (await client.get("/v1/audit", params={"since": "yesterday"})).status_code == 422
