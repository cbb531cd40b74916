"""With DATABASE_URL: finished notifications leave Redis for PostgreSQL, and the API reads the same."""

from __future__ import annotations

import asyncio

from service.keys import FINISHED_INDEX, archived_key, record_key
from tests.conftest import drain
from tests.service.archive.conftest import in_postgres, move
from tests.support.pages import every_page

WELCOME = {"template": "user.welcome", "context": {"name": "Ada"}}


async def send(client, to: str = "ada@example.com", **extra) -> dict:
    response = await client.post("/v1/notifications", json=WELCOME | {"to": to} | extra)
    assert response.status_code == 202, response.text
    await asyncio.sleep(0.002)  # distinct creation times make the order checkable
    return response.json()


async def pages(client, **params) -> list[dict]:
    return await every_page(client, "/v1/notifications", **params)


async def moved_dead_letters(client, app, settings, smtp) -> list[dict]:
    """Three notifications that failed for good (554), a, b and c, oldest first, moved to PostgreSQL."""
    for to in ("a@example.com", "b@example.com", "c@example.com"):
        smtp.script.always_data[to] = "554 5.7.1 rejected"
    dead = [await send(client, to) for to in ("a@example.com", "b@example.com", "c@example.com")]
    await drain(settings)
    assert await move(app) == 3
    return dead


async def test_a_finished_notification_reads_the_same_from_postgres(client, app, settings, smtp):
    note = await send(client)
    await drain(settings)
    before = (await client.get(f"/v1/notifications/{note['id']}")).json()
    assert before["status"] == "sent" and await app.state.queue.zscore(FINISHED_INDEX, note["id"])

    assert await move(app) == 1
    redis = app.state.queue
    assert not await redis.exists(record_key(note["id"]))
    assert not await redis.zscore(FINISHED_INDEX, note["id"])
    assert await in_postgres(app, "SELECT count(*) FROM herald_notifications WHERE id = $1", note["id"]) == 1
    after = (await client.get(f"/v1/notifications/{note['id']}")).json()
    assert after == before
    assert (await client.get("/v1/notifications", params={"to": "ada@example.com"})).json()["items"] == [before]
    assert await move(app) == 0  # nothing twice


async def test_pages_run_across_redis_and_postgres_in_one_order(client, app, settings, smtp):
    smtp.script.always_rcpt["bob@example.com"] = "550 5.1.1 unknown"
    old = [await send(client, to) for to in ("ada@example.com", "bob@example.com") * 3]
    await drain(settings)
    assert await move(app) == 6
    new = [await send(client, to) for to in ("ada@example.com", "bob@example.com") * 2]  # still queued
    everything = [n["id"] for n in reversed(old + new)]

    for limit in (1, 3, 50):
        assert [n["id"] for n in await pages(client, limit=limit)] == everything
    bobs = await pages(client, to="BOB@example.com", limit=2)
    assert [n["id"] for n in bobs] == [i for i in everything if i in {n["id"] for n in old + new if n["to"] == "bob@example.com"}]
    failed = await pages(client, status="failed")
    assert [n["id"] for n in failed] == [n["id"] for n in reversed(old) if n["to"] == "bob@example.com"]
    assert all(n["attempts"] and n["attempts"][0]["outcome"] == "hard_bounce" for n in failed)
    since = (await pages(client, since=old[4]["created_at"], template="user.welcome"))
    assert [n["id"] for n in since] == everything[:6]


async def test_a_repeat_after_the_move_is_still_a_repeat(client, app, settings, smtp):
    body = WELCOME | {"to": "ada@example.com"}
    first = await client.post("/v1/notifications", json=body, headers={"Idempotency-Key": "order-1"})
    plain = await send(client)
    await drain(settings)
    assert await move(app) == 2
    redis = app.state.queue
    # What stays in Redis: a fingerprint for the one a repeat can come for, nothing for the other.
    assert await redis.exists(archived_key("order-1")) and not await redis.exists(archived_key(plain["id"]))
    assert 0 < await redis.pttl(archived_key("order-1")) <= settings.retention_seconds * 1000

    again = await client.post("/v1/notifications", json=body, headers={"Idempotency-Key": "order-1"})
    assert again.status_code == 200 and again.json()["id"] == "order-1" and again.json()["status"] == "sent"
    other = await client.post("/v1/notifications", json=body | {"to": "bob@example.com"},
                              headers={"Idempotency-Key": "order-1"})
    assert other.status_code == 409
    await drain(settings)
    assert len(smtp.received) == 2 and not await redis.exists(record_key("order-1"))


async def test_cancelling_a_moved_notification_is_409_and_changes_nothing(client, app, settings, smtp):
    note = await send(client)
    await drain(settings)
    await move(app)
    assert (await client.delete(f"/v1/notifications/{note['id']}")).status_code == 409
    assert (await client.get(f"/v1/notifications/{note['id']}")).json()["status"] == "sent"
    assert (await client.delete("/v1/notifications/nope")).status_code == 404


async def test_a_late_bounce_finds_a_moved_notification_and_it_moves_again(client, app, settings, smtp):
    from tests.service.test_events import bounce

    by_id, by_message_id = await send(client), await send(client, "bob@example.com")
    await drain(settings)
    [a, b] = [(await client.get(f"/v1/notifications/{n['id']}")).json() for n in (by_id, by_message_id)]
    assert await move(app) == 2
    reports = [bounce(notification_id=a["id"]),
               bounce(message_id=b["message_id"], email="bob@example.com", reference="dsn-2|bob|bounced")]
    assert await app.state.events.record(reports) == ["recorded", "recorded"]
    for note in (a, b):
        got = (await client.get(f"/v1/notifications/{note['id']}")).json()
        assert got["status"] == "bounced" and got["attempts"] == note["attempts"] and len(got["events"]) == 1
    assert await move(app) == 2
    rows = await app.state.store.archive.pool.fetch("SELECT id, status FROM herald_notifications ORDER BY id")
    assert sorted((r["id"], r["status"]) for r in rows) == sorted([(a["id"], "bounced"), (b["id"], "bounced")])
    assert (await client.get(f"/v1/notifications/{a['id']}")).json()["events"][0]["type"] == "bounced"


async def test_a_dead_letter_in_postgres_can_be_retried_alone_or_in_bulk(client, app, settings, smtp):
    a, b, c = await moved_dead_letters(client, app, settings, smtp)
    smtp.script.always_data.clear()

    response = await client.post(f"/v1/notifications/{a['id']}/retry")
    assert response.status_code == 202 and response.json()["status"] == "queued"
    response = await client.post("/v1/notifications/retry", json={"smtp_code": 554})
    assert response.status_code == 202 and sorted(response.json()["ids"]) == sorted([b["id"], c["id"]])
    await drain(settings)
    for note in (a, b, c):
        got = (await client.get(f"/v1/notifications/{note['id']}")).json()
        assert got["status"] == "sent"
        assert [x["outcome"] for x in got["attempts"]] == ["rejected", "sent"]
    assert sorted(m["To"] for m in (r.message for r in smtp.received)) == ["a@example.com", "b@example.com",
                                                                         "c@example.com"]
    assert await move(app) == 3
    assert await in_postgres(app, "SELECT count(*) FROM herald_notifications WHERE status = 'sent'") == 3


async def test_what_is_still_live_stays_in_redis(client, app, settings, smtp):
    queued = await send(client)
    later = await send(client, delay=3600)
    assert await move(app) == 0
    for note in (queued, later):
        assert await app.state.queue.exists(record_key(note["id"]))
    assert await in_postgres(app, "SELECT count(*) FROM herald_notifications") == 0


async def test_the_mover_waits_until_they_finished_long_enough_ago(client, app, settings, smtp):
    await send(client)
    await drain(settings)
    assert await move(app, after=60) == 0
    assert await move(app, after=0) == 1


async def test_pages_skip_nothing_when_postgres_rows_are_live_again(client, app, settings, smtp):
    a, b, c = await moved_dead_letters(client, app, settings, smtp)
    # The newest failed one is back in Redis (queued), so PostgreSQL's first row is not the page's.
    assert (await client.post(f"/v1/notifications/{c['id']}/retry")).status_code == 202
    assert [n["id"] for n in await pages(client, status="failed", limit=2)] == [b["id"], a["id"]]
    assert [n["id"] for n in await pages(client, limit=1)] == [c["id"], b["id"], a["id"]]


async def test_digest_items_stay_in_redis_until_their_digest_takes_them(client, app, settings, smtp):
    body = {"template": "reminder", "to": "ada@example.com", "digest": "daily",
            "context": {"name": "Ada", "title": "Call mum"}}
    item = (await client.post("/v1/notifications", json=body)).json()
    assert await move(app) == 0 and await app.state.queue.exists(record_key(item["id"]))
    assert (await client.post("/v1/digests/flush", json={"period": "daily"})).status_code == 202
    await drain(settings)
    [digest] = smtp.received
    assert "Call mum" in digest.message.get_body(("plain",)).get_content()
    assert await move(app) == 2  # the item, and the digest that carried it
    got = (await client.get(f"/v1/notifications/{item['id']}")).json()
    assert got["status"] == "digested"


async def test_odd_ids_and_cursors_are_refused_cleanly_and_an_absent_postgres_is_503(client, app):
    assert (await client.get("/v1/notifications/a%00b")).status_code == 404
    from service.history import encode_cursor

    huge = encode_cursor(2**64, "x")
    assert (await client.get("/v1/notifications", params={"cursor": huge})).status_code == 422
    assert (await client.get("/v1/audit", params={"actor": "a\x00b"})).status_code == 200
    await app.state.store.archive.pool.close()
    gone = await client.get("/v1/notifications/not-in-redis")
    assert gone.status_code == 503 and gone.headers["retry-after"]
    assert (await client.get("/v1/notifications")).status_code == 503
