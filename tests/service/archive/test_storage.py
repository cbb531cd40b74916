"""The archive's tables, the audit log's move, retention, and what stays in Redis."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import asyncpg
import httpx

from jobs.archive import drop_expired_history
from service.archive import schema
from service.archive.pg import Archive
from service.keys import AUDIT_KEY, record_key
from tests.conftest import drain
from tests.dashboard.test_pages import login
from tests.service.archive.conftest import in_postgres, move
from tests.support.pages import every_page

WELCOME = {"template": "user.welcome", "to": "ada@example.com", "context": {"name": "Ada"}}
DAY = timedelta(days=1)


async def test_migrations_apply_once_and_make_partitioned_tables(database_url):
    first = await Archive.open(database_url, retention_days=90, max_size=1)
    again = await Archive.open(database_url, retention_days=90, max_size=1)  # a second process starting
    try:
        versions = await first.pool.fetch("SELECT version FROM herald_migrations")
        assert [r["version"] for r in versions] == [v for v, _ in schema.migrations()]
        kinds = await first.pool.fetch(
            "SELECT relname, relkind::text FROM pg_class WHERE relname = ANY($1::text[])", list(schema.TABLES))
        assert {r["relname"]: r["relkind"] for r in kinds} == dict.fromkeys(schema.TABLES, "p")
        async with first.pool.acquire() as conn:
            assert await schema.migrate(conn) == []
    finally:
        await first.close()
        await again.close()


async def test_a_start_with_an_unreachable_database_fails_clearly():
    try:
        await Archive.open("postgresql://postgres@127.0.0.1:1/none", retention_days=1, max_size=1)
    except (OSError, asyncpg.PostgresError):
        return
    raise AssertionError("opened an archive on a port nothing listens on")


async def test_the_audit_log_pages_on_from_the_stream_into_postgres(client, app):
    for n in range(5):
        await client.post("/v1/notifications", json=WELCOME | {"idempotency_key": f"k{n}"})
    await asyncio.sleep(0.01)
    await move(app)
    assert await app.state.queue.xlen(AUDIT_KEY) == 0
    assert await in_postgres(app, "SELECT count(*) FROM herald_audit") == 5
    await client.post("/v1/notifications", json=WELCOME | {"idempotency_key": "after"}, headers={
        "Authorization": "Bearer other-secret-0123"})

    seen = [i["target"] for i in await every_page(client, "/v1/audit", limit=2)]
    assert seen == ["after", "k4", "k3", "k2", "k1", "k0"]
    mine = (await client.get("/v1/audit", params={"actor": "test", "limit": 10})).json()
    assert [i["target"] for i in mine["items"]] == ["k4", "k3", "k2", "k1", "k0"] and mine["next_cursor"] is None
    await move(app)  # again: no entry twice
    assert await in_postgres(app, "SELECT count(*) FROM herald_audit") == 6


async def test_days_past_the_retention_are_dropped_whole(app):
    archive: Archive = app.state.store.archive
    now = datetime.now(UTC)
    days = [int((now - n * DAY).timestamp() * 1000) for n in (0, 89, 91, 400)]
    async with archive.pool.acquire() as conn:
        await schema.ensure_partitions(conn, "herald_notifications", days, known=set())
        await schema.ensure_partitions(conn, "herald_audit", days[-1:], known=set())
    dropped = await drop_expired_history({"archive": archive})
    assert dropped == sorted([schema.partition_name("herald_audit", schema.day_of(days[3])),
                              schema.partition_name("herald_notifications", schema.day_of(days[2])),
                              schema.partition_name("herald_notifications", schema.day_of(days[3]))])
    kept = await archive.pool.fetch("SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
                                   " WHERE c.relkind = 'r'")
    assert sorted(r["relname"] for r in kept) == [schema.partition_name("herald_notifications", schema.day_of(d))
                                                 for d in sorted(days[:2])]
    assert await drop_expired_history({"archive": archive}) == []


async def test_a_moved_notification_is_gone_with_its_day(client, app, settings):
    note = (await client.post("/v1/notifications", json=WELCOME)).json()
    await drain(settings)
    await move(app)
    archive: Archive = app.state.store.archive
    archive.retention_days = 0  # today is past a retention of no days once today has ended
    async with archive.pool.acquire() as conn:
        dropped = await schema.drop_expired(conn, now=datetime.now(UTC) + DAY + DAY, retention_days=0)
    assert dropped
    assert (await client.get(f"/v1/notifications/{note['id']}")).status_code == 404


async def test_inbox_items_stay_in_redis_as_the_inbox(client, app, settings):
    mention = {"template": "comment.mention", "recipient": "user_7",
               "context": {"name": "Ada", "author": "Grace", "excerpt": "see"}}
    item = (await client.post("/v1/notifications", json=mention)).json()
    await drain(settings)
    await move(app)
    assert await app.state.queue.exists(record_key(item["id"]))
    assert await in_postgres(app, "SELECT count(*) FROM herald_notifications") == 0
    assert [i["id"] for i in (await client.get("/v1/recipients/user_7/inbox")).json()["items"]] == [item["id"]]


async def test_the_dashboard_shows_a_moved_notification(client, app, settings):
    note = (await client.post("/v1/notifications", json=WELCOME)).json()
    await drain(settings)
    await move(app)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://herald.test") as browser:
        await login(browser)
        detail = await browser.get(f"/dashboard/notifications/{note['id']}")
        assert detail.status_code == 200 and note["id"] in detail.text and "sent" in detail.text
        listed = await browser.get("/dashboard/notifications", params={"to": "ada@example.com"})
        assert listed.status_code == 200 and note["id"] in listed.text


async def test_a_fanned_out_notification_moves_with_each_delivery(client, app, settings):
    await client.put("/v1/recipients/user_7", json={"email": "ada@example.com"})
    body = {"template": "comment.mention", "recipient": "user_7", "channels": ["email", "inbox"],
            "context": {"name": "Ada", "author": "Grace", "excerpt": "see"}}
    note = (await client.post("/v1/notifications", json=body)).json()
    await drain(settings)
    before = (await client.get(f"/v1/notifications/{note['id']}")).json()
    assert await move(app) == 1  # the email; the inbox item stays as the inbox
    after = (await client.get(f"/v1/notifications/{note['id']}")).json()
    assert after == before and {d["status"] for d in after["deliveries"]} == {"sent"}


async def test_a_partition_made_in_a_rolled_back_write_is_made_again(app):
    archive: Archive = app.state.store.archive
    day = int((datetime.now(UTC) - 3 * DAY).timestamp() * 1000)
    broken = {"id": "x1", "created_ms": str(day), "status": None, "template": "t", "to_email": "a@example.com",
              "attempts": [], "events": []}  # status NOT NULL: the statement fails, the transaction rolls back
    async with archive.pool.acquire() as conn:
        try:
            await archive.write(conn, [broken])
        except asyncpg.NotNullViolationError:
            pass
        else:
            raise AssertionError("a row without a status was written")
        assert schema.partition_name("herald_notifications", schema.day_of(day)) not in archive.partitions
        await archive.write(conn, [broken | {"status": "sent"}])
    assert await in_postgres(app, "SELECT status FROM herald_notifications WHERE id = 'x1'") == "sent"


async def test_metrics_show_what_waits_and_what_moved(client, app, settings):
    await client.post("/v1/notifications", json=WELCOME)
    await drain(settings)
    before = (await client.get("/metrics")).text
    assert "herald_archive_waiting 1.0" in before and "herald_archived_notifications_total 0.0" in before
    await move(app)
    after = (await client.get("/metrics")).text
    assert "herald_archive_waiting 0.0" in after and "herald_archived_notifications_total 1.0" in after
    assert 'outcome="a' not in after
