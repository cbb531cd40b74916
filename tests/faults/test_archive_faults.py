"""The move to PostgreSQL killed halfway: `herald archive` SIGKILLed after PostgreSQL committed and
before Redis let go, and again while PostgreSQL still had nothing. Nothing is lost, nothing is
shown twice, and the next round finishes the move."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator

import asyncpg
import pytest
import redis

from tests.conftest import drain, make_settings
from tests.support.herald import herald_env, wait_until
from tests.support.pages import every_page
from tests.support.smtp import ScriptedSMTP

pytestmark = pytest.mark.e2e
COUNT = 40


@pytest.fixture
def settings(redis_url: str, smtp: ScriptedSMTP, database_url: str):
    return make_settings(redis_url=redis_url, smtp_url=smtp.url, database_url=database_url,
                         archive_after_seconds=86400)


@pytest.fixture
async def sent(client, settings) -> list[str]:
    ids = []
    for n in range(COUNT):
        body = {"template": "user.welcome", "to": f"u{n}@example.com", "context": {"name": "U"}}
        ids.append((await client.post("/v1/notifications", json=body)).json()["id"])
    await drain(settings)
    return ids


@pytest.fixture
async def pg(database_url: str) -> AsyncIterator[asyncpg.Connection]:
    conn = await asyncpg.connect(database_url)
    yield conn
    await conn.close()


def start_mover(env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "jobs.cli", "archive", "--after", "0s"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def in_redis(redis_url: str, ids: list[str]) -> int:
    with redis.Redis.from_url(redis_url) as client:
        return sum(client.exists(f"herald:n:{i}") for i in ids)


async def shown_once(client, ids: list[str]) -> None:
    listed = [n["id"] for n in await every_page(client, "/v1/notifications", limit=7)]
    assert sorted(listed) == sorted(ids)  # each once, none missing
    for nid in ids[::9]:
        got = await client.get(f"/v1/notifications/{nid}")
        assert got.status_code == 200 and got.json()["status"] == "sent"


async def test_a_kill_after_postgres_committed_leaves_both_and_the_next_round_finishes(
        client, settings, sent, pg, redis_url, smtp, database_url):
    env = herald_env(redis_url, smtp.url) | {"DATABASE_URL": database_url}
    admin = redis.Redis.from_url(redis_url)
    admin.execute_command("CLIENT", "PAUSE", 60_000, "WRITE")  # reads go on, the drop script waits
    try:
        mover = start_mover(env)
        count = "SELECT count(*) FROM herald_notifications"
        await asyncio.to_thread(wait_until, lambda: asyncio.run(_count(database_url, count)) == COUNT, 30,
                                "PostgreSQL to commit the batch")
        await asyncio.sleep(0.3)
        mover.send_signal(signal.SIGKILL)
        mover.wait(10)
    finally:
        admin.execute_command("CLIENT", "UNPAUSE")
        admin.close()
    assert in_redis(redis_url, sent) == COUNT and await pg.fetchval(count) == COUNT
    await shown_once(client, sent)

    again = subprocess.run([sys.executable, "-m", "jobs.cli", "archive", "--after", "0s"], env=env,
                           capture_output=True, text=True, timeout=60)
    assert again.returncode == 0 and again.stdout.strip() == f"moved {COUNT}", again.stderr
    assert in_redis(redis_url, sent) == 0 and await pg.fetchval(count) == COUNT
    assert await pg.fetchval("SELECT count(DISTINCT id) FROM herald_notifications") == COUNT
    await shown_once(client, sent)
    assert len(smtp.received) == COUNT


async def test_a_kill_before_postgres_committed_leaves_redis_as_it_was(
        client, settings, sent, pg, redis_url, smtp, database_url):
    env = herald_env(redis_url, smtp.url) | {"DATABASE_URL": database_url}
    blocker = pg.transaction()
    await blocker.start()
    # Every write to the table, and the day's partition the mover makes first, waits behind this.
    await pg.execute("LOCK TABLE herald_notifications IN ACCESS EXCLUSIVE MODE")
    mover = start_mover(env)
    await asyncio.to_thread(wait_until, lambda: asyncio.run(_waiting(database_url)) >= 1, 30,
                            "the mover to wait on the lock")
    mover.send_signal(signal.SIGKILL)
    mover.wait(10)
    await blocker.rollback()
    assert in_redis(redis_url, sent) == COUNT
    assert await pg.fetchval("SELECT count(*) FROM herald_notifications") == 0
    await shown_once(client, sent)


async def _count(url: str, sql: str) -> int:
    conn = await asyncpg.connect(url)
    try:
        return int(await conn.fetchval(sql))
    except asyncpg.UndefinedTableError:
        return 0
    finally:
        await conn.close()


async def _waiting(url: str) -> int:
    conn = await asyncpg.connect(url)
    try:
        return int(await conn.fetchval("SELECT count(*) FROM pg_locks WHERE NOT granted"))
    finally:
        await conn.close()
