"""REDIS_URL through Redis Sentinel, and REDIS_WAIT_REPLICAS, against real servers on loopback."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
import redis
from asgi_lifespan import LifespanManager

from service.factory import create_app
from service.redis_conn import SentinelUrl, parse_sentinel
from tests.conftest import AUTH, drain, make_settings
from tests.support.sentinel import SentinelDeployment
from tests.support.smtp import ScriptedSMTP

WELCOME = {"template": "user.welcome", "context": {"name": "Ada"}}


def test_a_sentinel_url_names_the_sentinels_the_master_and_the_database():
    assert parse_sentinel("redis+sentinel://:pw@h1:26379,h2:26380/mymaster/2?sentinel_password=s") == SentinelUrl(
        sentinels=(("h1", 26379), ("h2", 26380)), master="mymaster", db=2, password="pw", sentinel_password="s")
    tls = parse_sentinel("rediss+sentinel://herald:p%40ss@[::1]:26379/cache")
    assert (tls.ssl, tls.username, tls.password, tls.db, tls.sentinels) == (True, "herald", "p@ss", 0, (("::1", 26379),))


@pytest.mark.parametrize("url", [
    "redis+sentinel:///mymaster", "redis+sentinel://h1:26379", "redis+sentinel://h1:port/m",
    "redis+sentinel://h1:26379/m/zero", "redis+sentinel://h1:26379/m/0/extra", "redis+sentinel://h1:99999/m",
])
def test_a_bad_sentinel_url_is_refused_naming_redis_url(url):
    from tests.service.test_settings import REQUIRED, config_error

    assert "REDIS_URL" in config_error(**REQUIRED, redis_url=url)


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SentinelDeployment]:
    found = SentinelDeployment(tmp_path_factory.mktemp("sentinel")).start()
    yield found
    found.stop()


async def _client(settings: Any) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings)
    async with LifespanManager(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://herald.test", headers=AUTH) as client:
            yield client


@pytest.fixture
async def sentinel_client(deployment, smtp: ScriptedSMTP) -> AsyncIterator[httpx.AsyncClient]:
    async for client in _client(make_settings(redis_url=deployment.url, smtp_url=smtp.url, redis_wait_replicas=1)):
        yield client


async def test_web_and_worker_find_the_primary_through_the_sentinels(sentinel_client, deployment, smtp):
    response = await sentinel_client.post("/v1/notifications", json=WELCOME | {"to": "ada@example.com"})
    assert response.status_code == 202, response.text
    nid = response.json()["id"]
    # WAIT said the replica has it: read there, not on the primary.
    with redis.Redis(host="127.0.0.1", port=deployment.replica.port) as replica:
        assert replica.hget(f"herald:n:{nid}", "status") == b"queued"
    await drain(make_settings(redis_url=deployment.url, smtp_url=smtp.url))
    assert (await sentinel_client.get(f"/v1/notifications/{nid}")).json()["status"] == "sent"
    assert smtp.notification_ids() == [nid]


async def test_a_write_the_replicas_do_not_confirm_is_503_and_a_retry_is_a_repeat(deployment, smtp):
    settings = make_settings(redis_url=deployment.url, smtp_url=smtp.url, redis_wait_replicas=2,
                             redis_wait_timeout_ms=200)
    body = WELCOME | {"to": "bob@example.com", "idempotency_key": "wait-2"}
    async for client in _client(settings):
        started = time.monotonic()
        response = await client.post("/v1/notifications", json=body)
        assert response.status_code == 503 and response.headers["retry-after"]
        assert time.monotonic() - started >= 0.2
        # The primary has it (WAIT cannot undo a write): the same request again is a repeat, not a second one.
        again = await client.post("/v1/notifications", json=body)
        assert again.status_code == 503
        assert (await client.get("/v1/notifications/wait-2")).json()["status"] == "queued"
    async for client in _client(make_settings(redis_url=deployment.url, smtp_url=smtp.url, redis_wait_replicas=1)):
        assert (await client.post("/v1/notifications", json=body)).status_code == 200


def test_the_cli_speaks_sentinel_too(deployment, smtp):
    import json
    import subprocess
    import sys

    from tests.support.herald import herald_env

    env = herald_env(deployment.url, smtp.url) | {"REDIS_WAIT_REPLICAS": "1"}
    sent = subprocess.run([sys.executable, "-m", "jobs.cli", "send", "user.welcome", "cy@example.com",
                           "--context", '{"name": "Cy"}'], env=env, capture_output=True, text=True, timeout=60)
    assert sent.returncode == 0, sent.stderr
    assert json.loads(sent.stdout)["status"] == "queued"



async def test_a_worker_sends_only_what_the_replicas_know_it_has_started(deployment, smtp):
    accepting = make_settings(redis_url=deployment.url, smtp_url=smtp.url, redis_wait_replicas=1)
    async for client in _client(accepting):
        nid = (await client.post("/v1/notifications", json=WELCOME | {"to": "dee@example.com"})).json()["id"]
        # Two replicas asked for, one there: no claim is confirmed, so nothing is sent.
        unconfirmed = make_settings(redis_url=deployment.url, smtp_url=smtp.url, redis_wait_replicas=2,
                                    redis_wait_timeout_ms=100)
        with pytest.raises(TimeoutError):
            await drain(unconfirmed, timeout=3)
        got = (await client.get(f"/v1/notifications/{nid}")).json()
        assert got["status"] == "queued" and got["attempts"] == [] and smtp.received == []
        await drain(accepting)
        assert (await client.get(f"/v1/notifications/{nid}")).json()["status"] == "sent"
        assert smtp.notification_ids().count(nid) == 1  # (the module's earlier tests left theirs too)
