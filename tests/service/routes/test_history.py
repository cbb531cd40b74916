"""GET /v1/notifications: delivery history, filtered, newest first, in pages; retention."""

from __future__ import annotations

import asyncio

import pytest

from tests.conftest import drain

WELCOME = {"template": "user.welcome", "context": {"name": "Ada"}}


async def send(client, to: str, template: str = "user.welcome", **extra) -> dict:
    body = {"template": template, "to": to, "context": {"name": "A", "title": "T"}} | extra
    response = await client.post("/v1/notifications", json=body)
    assert response.status_code == 202, response.text
    await asyncio.sleep(0.002)  # distinct creation times make the order checkable
    return response.json()


async def test_did_the_customer_get_it_in_one_call(client, settings, smtp):
    smtp.script.always_rcpt["bob@example.com"] = "550 5.1.1 unknown"
    ada = [await send(client, "ada@example.com") for _ in range(3)]
    await send(client, "bob@example.com")
    await drain(settings)
    page = (await client.get("/v1/notifications", params={"to": "Ada@example.com"})).json()
    assert [n["id"] for n in page["items"]] == [n["id"] for n in reversed(ada)]
    assert all(n["status"] == "sent" and n["attempts"][0]["outcome"] == "sent" for n in page["items"])
    assert page["next_cursor"] is None
    failed = (await client.get("/v1/notifications", params={"status": "failed"})).json()["items"]
    assert [n["to"] for n in failed] == ["bob@example.com"]


async def test_filters_combine_and_pages_cover_everything_once(client):
    made = []
    for n in range(7):
        made.append(await send(client, f"u{n % 2}@example.com"))
        made.append(await send(client, f"u{n % 2}@example.com", template="reminder"))
    seen, cursor = [], None
    for _ in range(20):
        params = {"template": "reminder", "limit": 3} | ({"cursor": cursor} if cursor else {})
        body = (await client.get("/v1/notifications", params=params)).json()
        seen += body["items"]
        cursor = body["next_cursor"]
        if cursor is None:
            break
    expected = [n["id"] for n in reversed(made) if n["template"] == "reminder"]
    assert [n["id"] for n in seen] == expected
    both = (await client.get("/v1/notifications",
                             params={"template": "reminder", "to": "u1@example.com", "status": "queued"})).json()
    assert {n["to"] for n in both["items"]} == {"u1@example.com"} and len(both["items"]) == 3


async def test_time_window(client):
    first = await send(client, "ada@example.com")
    await asyncio.sleep(0.05)
    second = await send(client, "ada@example.com")
    since = second["created_at"]
    body = (await client.get("/v1/notifications", params={"since": since})).json()
    assert [n["id"] for n in body["items"]] == [second["id"]]
    until = first["created_at"]
    body = (await client.get("/v1/notifications", params={"until": until})).json()
    assert [n["id"] for n in body["items"]] == [first["id"]]


@pytest.mark.parametrize(
    "params",
    [{"status": "nope"}, {"limit": 0}, {"limit": 10_000}, {"cursor": "!!!"}, {"to": "x"},
     {"since": "yesterday"}, {"since": "2026-01-01T00:00:00"}, {"template": "../x"}],
)
async def test_bad_filters_are_422(client, params):
    response = await client.get("/v1/notifications", params=params)
    assert response.status_code == 422, response.text


async def test_expired_records_leave_no_index_entries(client, app, settings):
    from jobs.prune import prune_indexes
    from service.store import Store

    kept = await send(client, "ada@example.com")
    gone = await send(client, "ada@example.com", template="reminder")
    await app.state.queue.delete(f"herald:n:{gone['id']}")  # what its TTL does at the end of the retention
    listed = (await client.get("/v1/notifications")).json()["items"]
    assert [n["id"] for n in listed] == [kept["id"]]

    store = Store(app.state.queue, retention_seconds=0)  # every entry is old enough to be checked
    assert await prune_indexes({"store": store}) == 4  # all, by recipient, by template, by status
    keys = [k async for k in app.state.queue.scan_iter(match="herald:idx:*")]
    for key in keys:
        members = await app.state.queue.zrange(key, 0, -1)
        assert gone["id"].encode() not in members
    assert kept["id"].encode() in await app.state.queue.zrange("herald:idx:all", 0, -1)


async def test_status_index_follows_the_record(client, app, settings):
    created = await send(client, "ada@example.com")
    assert await app.state.queue.zscore("herald:idx:status:queued", created["id"]) is not None
    await drain(settings)
    assert await app.state.queue.zscore("herald:idx:status:queued", created["id"]) is None
    assert await app.state.queue.zscore("herald:idx:status:sent", created["id"]) is not None
