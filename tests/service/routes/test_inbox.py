"""The in-app inbox through the API: items filed by a real worker, read with the API key and
with a recipient token, marked one by one and all at once, and the email fallback."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from service import inbox_tokens
from tests.conftest import drain

MENTION = {"template": "comment.mention", "recipient": "user_7",
           "context": {"name": "Ada", "author": "Grace", "excerpt": "look at section 3"}}


async def _send(client: Any, **extra: Any) -> dict[str, Any]:
    response = await client.post("/v1/notifications", json=MENTION | extra)
    assert response.status_code == 202, response.text
    return response.json()


async def _inbox(client: Any, query: str = "", **headers: str) -> dict[str, Any]:
    response = await client.get(f"/v1/recipients/user_7/inbox{query}", headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


async def test_an_inbox_notification_becomes_an_unread_item(client, settings, smtp) -> None:
    accepted = await _send(client)
    assert accepted["channel"] == "inbox" and accepted["address"] == {"recipient": "user_7"}
    assert (await _inbox(client))["items"] == []
    await drain(settings)
    listed = await _inbox(client)
    [item] = listed["items"]
    assert (item["id"], item["title"], item["body"]) == (accepted["id"], "Grace mentioned you", "look at section 3")
    assert item["read_at"] is None and item["delivered_at"]
    assert (listed["unread"], listed["unseen"], listed["total"]) == (1, 1, 1)
    assert smtp.received == []


async def test_items_page_newest_first_with_a_cursor(client, settings) -> None:
    for n in range(5):  # one at a time, so that each is filed after the one before
        await _send(client, context=MENTION["context"] | {"excerpt": f"#{n}"})
        await drain(settings)
        await asyncio.sleep(0.002)
    pages, cursor = [], ""
    while True:
        page = await _inbox(client, f"?limit=2{cursor}")
        pages.append([i["body"] for i in page["items"]])
        if not page["next_cursor"]:
            break
        cursor = f"&cursor={page['next_cursor']}"
    assert pages == [["#4", "#3"], ["#2", "#1"], ["#0"]]
    assert (await client.get("/v1/recipients/user_7/inbox?cursor=nonsense!")).status_code == 422


async def test_mark_one_and_mark_all(client, settings) -> None:
    first = (await _send(client))["id"]
    await _send(client, context=MENTION["context"] | {"excerpt": "again"})
    await drain(settings)
    marked = await client.patch(f"/v1/recipients/user_7/inbox/{first}", json={"read": True})
    assert marked.status_code == 200 and marked.json()["read_at"] and marked.json()["seen_at"]
    assert (await _inbox(client))["unread"] == 1
    unread = await client.patch(f"/v1/recipients/user_7/inbox/{first}", json={"read": False})
    assert unread.json()["read_at"] is None and (await _inbox(client))["unread"] == 2
    everything = await client.post("/v1/recipients/user_7/inbox/mark-all", json={"state": "read"})
    assert everything.json()["changed"] == 2 and everything.json()["unread"] == 0
    archived = await client.post("/v1/recipients/user_7/inbox/mark-all", json={"state": "archived"})
    assert archived.json()["total"] == 0
    assert len((await _inbox(client, "?archived=true"))["items"]) == 2
    assert (await client.patch("/v1/recipients/user_7/inbox/nope", json={"read": True})).status_code == 404
    assert (await client.patch(f"/v1/recipients/user_7/inbox/{first}", json={})).status_code == 422
    assert (await client.patch(f"/v1/recipients/someone_else/inbox/{first}", json={"read": True})).status_code == 404


async def test_a_recipient_token_reads_only_its_own_inbox(client, app, settings) -> None:
    await _send(client)
    await drain(settings)
    made = await client.post("/v1/recipients/user_7/inbox-token", json={"ttl": 120})
    assert made.status_code == 200
    token = made.json()["token"]
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://herald.test") as browser:
        mine = await browser.get("/v1/inbox", headers={"x-herald-inbox-token": token})
        assert mine.status_code == 200 and mine.json()["recipient"] == "user_7" and len(mine.json()["items"]) == 1
        item = mine.json()["items"][0]["id"]
        assert (await browser.patch(f"/v1/inbox/items/{item}?token={token}", json={"seen": True})).status_code == 200
        assert (await browser.get("/v1/inbox")).status_code == 401
        assert (await browser.get("/v1/inbox", params={"token": token[:-2] + "xx"})).status_code == 401
        expired = inbox_tokens.make(settings.secret_key, "user_7", expires_at=1)
        assert (await browser.get("/v1/inbox", params={"token": expired})).status_code == 401
        # The token is no API key.
        assert (await browser.get("/v1/notifications", headers={"authorization": f"Bearer {token}"})).status_code == 401


async def test_the_email_fallback_goes_when_the_item_stays_unread(client, settings, smtp) -> None:
    await client.put("/v1/recipients/user_7", json={"email": "ada@example.com", "name": "Ada"})
    accepted = await _send(client, fallback={"after": 1, "channel": "email"})
    assert [(d["channel"], d["status"], d["fallback"]) for d in accepted["deliveries"]] == [
        ("inbox", "queued", False), ("email", "scheduled", True)]
    await drain(settings)
    [mail] = smtp.received
    assert mail.rcpt_tos == ["ada@example.com"] and mail.message["Subject"] == "Grace mentioned you"


async def test_reading_the_item_cancels_the_fallback(client, settings, smtp) -> None:
    await client.put("/v1/recipients/user_7", json={"email": "ada@example.com"})
    accepted = await _send(client, fallback={"after": 2, "channel": "email"})
    worker = asyncio.create_task(drain(settings))
    async with asyncio.timeout(10):
        while not (await _inbox(client))["items"]:
            await asyncio.sleep(0.02)
    await client.patch(f"/v1/recipients/user_7/inbox/{accepted['id']}", json={"read": True})
    await worker  # the fallback's job is gone with it: the worker has nothing left to wait for
    assert smtp.received == []
    shown = (await client.get(f"/v1/notifications/{accepted['id']}")).json()
    assert {d["channel"]: d["status"] for d in shown["deliveries"]} == {"inbox": "sent", "email": "cancelled"}


async def test_a_fallback_needs_an_inbox_delivery_and_another_channel(client) -> None:
    for extra, loc in (({"channels": ["email"], "to": "a@example.com"}, ["body", "fallback"]),
                       ({"channels": ["inbox", "email"], "to": "a@example.com"}, ["body", "fallback", "channel"]),
                       ({}, ["body", "to"])):
        response = await client.post("/v1/notifications", json=MENTION | extra |
                                     {"fallback": {"after": 60, "channel": "email"}})
        assert response.status_code == 422 and response.json()["detail"][0]["loc"] == loc, response.text
