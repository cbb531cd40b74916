"""Shared fixtures: a real redis-server for the session, a scripted SMTP server, the app and a worker."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
from asgi_lifespan import LifespanManager

from jobs.starter import Worker
from jobs.worker import worker_settings
from service.queue import BULK_QUEUE_NAME, QUEUE_NAME, open_queue
from service.embedded import RedisServer, free_port
from service.factory import create_app
from service.settings import Settings
from tests.support.herald import API_KEY, AUTH, Herald, herald_env
from tests.support.postgres import ScratchDatabase
from tests.support.smtp import ScriptedSMTP

__all__ = ["API_KEY", "AUTH"]



@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    server = RedisServer(workdir=tmp_path_factory.mktemp("redis")).start()
    yield server
    server.stop()


@pytest.fixture
def redis_url(redis_server: RedisServer) -> str:
    with redis.Redis.from_url(redis_server.url) as client:
        client.flushall()
    return redis_server.url


@pytest.fixture(scope="session")
def smtp_server() -> Iterator[ScriptedSMTP]:
    server = ScriptedSMTP(port=free_port()).start()
    yield server
    server.stop()


@pytest.fixture
def smtp(smtp_server: ScriptedSMTP) -> ScriptedSMTP:
    smtp_server.reset()
    return smtp_server


def make_settings(**overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "mail_from": "Acme <no-reply@acme.test>",
        "api_keys": {"test": API_KEY, "other": "other-secret-0123"},
        "secret_key": "s" * 32,
        "retry_base_seconds": 0.05,
        "retry_max_seconds": 0.2,
        "smtp_timeout_seconds": 2,
        "job_timeout_seconds": 5,
        "sweep_grace_seconds": 1,
        "_env_file": None,
    }
    return Settings(**(values | overrides))


@pytest.fixture
def settings(redis_url: str, smtp: ScriptedSMTP) -> Settings:
    return make_settings(redis_url=redis_url, smtp_url=smtp.url)


@pytest.fixture
async def app(settings: Settings) -> AsyncIterator[Any]:
    application = create_app(settings)
    async with LifespanManager(application):
        yield application


@pytest.fixture
async def client(app: Any) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://herald.test", headers=AUTH) as c:
        yield c


async def drain(settings: Settings, *, timeout: float = 30, **overrides: Any) -> Worker:
    """Run burst workers, one per lane, until both queues are empty (retries included).

    A job deferred far ahead would keep a burst worker waiting: the timeout turns that into a
    failing test instead of a hung suite. Returns the default lane's (last) worker.
    """
    options = {"burst": True, "handle_signals": False, "poll_delay": 0.02} | overrides
    total: Worker | None = None
    async with asyncio.timeout(timeout):
        while True:
            for bulk in (False, True):
                worker = await _burst(Worker(**worker_settings(settings, bulk=bulk, **options)))
                total = total or worker
                if worker is not total:
                    total.jobs_complete += worker.jobs_complete
                    total.jobs_retried += worker.jobs_retried
                    total.jobs_failed += worker.jobs_failed
            queue = open_queue(settings, max_connections=2)
            try:
                if not await queue.zcard(QUEUE_NAME) and not await queue.zcard(BULK_QUEUE_NAME):
                    return total
            finally:
                await queue.aclose(close_connection_pool=True)


async def _burst(worker: Worker) -> Worker:
    try:
        await worker.main()
    finally:
        await worker.close()
    return worker


@pytest.fixture
def templates_dir() -> Path:
    return Path(__file__).resolve().parent.parent / "templates"


@pytest.fixture
def herald(redis_url: str, smtp: ScriptedSMTP) -> Iterator[Herald]:
    """The Procfile's web process, started; workers are started by the test."""
    app = Herald(herald_env(redis_url, smtp.url))
    app.start("web")
    try:
        app.wait_web()
        yield app
    finally:
        app.stop_all()


@pytest.fixture(scope="session")
def test_database() -> Iterator[ScratchDatabase]:
    database = ScratchDatabase().create()
    yield database
    database.drop()


@pytest.fixture
async def database_url(test_database: ScratchDatabase) -> str:
    """An empty database (no tables yet) of this test session's own."""
    await test_database.empty()
    return test_database.url
