"""Digests on a real Redis: folding, flushing, exactly once per recipient and period."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from service.accept import Context
from service.digests import digest_id, flush
from service.store import Store
from tests.conftest import drain

NEWS = {"template": "newsletter", "context": {"headline": "H", "body": "B"}}
REMINDER = {"template": "reminder", "context": {"name": "Ada", "title": "Call mum"}}


def accept_context(app, settings) -> Context:
    return Context.from_settings(settings, app.state.catalog, actor="herald")


async def fold(client, to="ada@example.com", body=REMINDER, period="daily") -> dict:
    response = await client.post("/v1/notifications", json=body | {"to": to, "digest": period})
    assert response.status_code == 202, response.text
    return response.json()


async def test_folded_notifications_wait_for_the_digest(client, app, settings, smtp):
    item = await fold(client)
    assert item["status"] == "digested"
    await drain(settings)
    assert smtp.received == []
    assert await app.state.queue.lrange("herald:digest:daily:ada@example.com", 0, -1) == [item["id"].encode()]


async def test_flush_through_the_api_sends_one_digest_with_every_item(client, app, settings, smtp):
    items = [await fold(client), await fold(client, body=REMINDER | {"context": {"name": "Ada", "title": "Pay rent"}})]
    other = await fold(client, to="bob@example.com")
    response = await client.post("/v1/digests/flush", json={"period": "daily"})
    assert response.status_code == 202
    await drain(settings)
    by_to = {m.rcpt_tos[0]: m.message for m in smtp.received}
    assert set(by_to) == {"ada@example.com", "bob@example.com"}
    ada = by_to["ada@example.com"]
    assert ada["Subject"] == "Your daily digest: 2 updates"
    text = ada.get_body(("plain",)).get_content()
    assert "Reminder: Call mum" in text and "Reminder: Pay rent" in text
    assert ada["List-Unsubscribe"]  # a digest is not transactional
    did = digest_id("daily", "ada@example.com", items[0]["id"])
    digest = (await client.get(f"/v1/notifications/{did}")).json()
    assert digest["status"] == "sent" and digest["template"] == "digest.daily"
    for item in items:
        assert (await app.state.queue.hget(f"herald:n:{item['id']}", "digest_id")).decode() == did
    assert other["status"] == "digested"
    assert await app.state.queue.smembers("herald:digest-due:daily") == set()


async def test_racing_flushes_send_each_digest_once(client, app, settings, smtp):
    for n in range(5):
        await fold(client, to=f"u{n}@example.com")
    now = datetime.now(UTC)
    stores = [Store(app.state.queue, retention_seconds=settings.retention_seconds) for _ in range(4)]
    reports = await asyncio.gather(*(flush(s, accept_context(app, settings), "daily", now=now) for s in stores))
    assert sum(r.sent for r in reports) == 5
    await drain(settings)
    assert sorted(m.rcpt_tos[0] for m in smtp.received) == [f"u{n}@example.com" for n in range(5)]


async def test_two_workers_flushing_the_same_digest(client, app, settings, smtp):
    await fold(client)
    await client.post("/v1/digests/flush", json={"period": "daily"})
    await client.post("/v1/digests/flush", json={"period": "daily"})
    await asyncio.gather(drain(settings), drain(settings))
    assert len(smtp.received) == 1


async def test_a_later_flush_sends_what_came_after_and_only_that(client, app, settings, smtp):
    ctx = accept_context(app, settings)
    store = app.state.store
    now = datetime.now(UTC)
    await fold(client)
    assert (await flush(store, ctx, "daily", now=now)).sent == 1
    await fold(client, body=REMINDER | {"context": {"name": "Ada", "title": "Came later"}})
    second = await flush(store, ctx, "daily", now=now)
    assert second.sent == 1
    assert await app.state.queue.lrange("herald:digest:daily:ada@example.com", 0, -1) == []
    third = await flush(store, ctx, "daily", now=now)
    assert third.sent == 0 and third.already_sent == 0
    await drain(settings)
    assert [m.message["Subject"] for m in smtp.received] == ["Your daily digest: 1 update"] * 2
    bodies = sorted(m.message.get_body(("plain",)).get_content() for m in smtp.received)
    assert ["Came later" in b for b in bodies].count(True) == 1
    assert ["Call mum" in b for b in bodies].count(True) == 1
    assert not any("Came later" in b and "Call mum" in b for b in bodies)


async def test_nobody_can_take_a_digests_id(client, app, settings, smtp):
    item = await fold(client)
    did = digest_id("daily", "ada@example.com", item["id"])
    squatter = await client.post("/v1/notifications", json=REMINDER | {"to": "eve@example.com",
                                                                       "idempotency_key": did})
    assert squatter.status_code == 422
    await client.post("/v1/digests/flush", json={"period": "daily"})
    await drain(settings)
    assert [m.rcpt_tos for m in smtp.received] == [["ada@example.com"]]


async def test_weekly_digests_are_separate(client, app, settings, smtp):
    await fold(client, period="weekly")
    await fold(client, period="daily")
    report = await flush(app.state.store, accept_context(app, settings), "weekly", now=datetime.now(UTC))
    assert report.sent == 1 and report.period_key.count("-W") == 1
    await drain(settings)
    assert [m.message["Subject"] for m in smtp.received] == ["Your weekly digest: 1 update"]


async def test_preferences_apply_to_digests(client, app, settings, smtp):
    await client.put("/v1/recipients/ada@example.com/preferences", json={"categories": {"digest": False}})
    await fold(client, body=NEWS)
    await client.put("/v1/recipients/bob@example.com/preferences", json={"categories": {"marketing": False}})
    refused_item = await fold(client, to="bob@example.com", body=NEWS)
    assert refused_item["status"] == "suppressed"
    report = await flush(app.state.store, accept_context(app, settings), "daily", now=datetime.now(UTC))
    assert report.sent == 1  # Ada's digest is written, as suppressed
    await drain(settings)
    assert smtp.received == []
    digests = (await client.get("/v1/notifications", params={"template": "digest.daily"})).json()["items"]
    [digest] = digests
    assert digest["status"] == "suppressed" and "opted out of digest" in digest["error"]


async def test_always_sent_items_go_out_even_if_digests_are_off(client, app, settings, smtp):
    await client.put("/v1/recipients/sec@example.com/preferences", json={"categories": {"digest": False}})
    await fold(client, to="sec@example.com", body={"template": "user.password_reset",
                                                   "context": {"name": "S", "reset_url": "https://r.test/1"}})
    await flush(app.state.store, accept_context(app, settings), "daily", now=datetime.now(UTC))
    await drain(settings)
    [mail] = smtp.received
    assert "Reset your Acme password" in mail.message.get_body(("plain",)).get_content()


async def test_items_turned_off_after_folding_are_left_out(client, app, settings, smtp):
    news = await fold(client, to="mk@example.com", body=NEWS)
    reminder = await fold(client, to="mk@example.com")
    await client.put("/v1/recipients/mk@example.com/preferences", json={"categories": {"marketing": False}})
    await flush(app.state.store, accept_context(app, settings), "daily", now=datetime.now(UTC))
    await drain(settings)
    [mail] = smtp.received
    text = mail.message.get_body(("plain",)).get_content()
    assert "Reminder: Call mum" in text and "H\n" not in text and mail.message["Subject"].endswith("1 update")
    dropped = (await client.get(f"/v1/notifications/{news['id']}")).json()
    assert dropped["status"] == "suppressed" and "opted out of marketing" in dropped["error"]
    assert (await client.get(f"/v1/notifications/{reminder['id']}")).json()["status"] == "digested"


async def test_digest_with_a_schedule_is_422(client):
    response = await client.post("/v1/notifications", json=REMINDER | {"to": "a@example.com", "digest": "daily",
                                                                       "delay": 10})
    assert response.status_code == 422
    assert (await client.post("/v1/notifications", json=REMINDER | {"to": "a@example.com",
                                                                    "digest": "monthly"})).status_code == 422
    assert (await client.post("/v1/digests/flush", json={"period": "hourly"})).status_code == 422
