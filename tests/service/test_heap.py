"""The collector's schedule: settled in the Procfile's processes, left alone where tests build many apps."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from typing import Any

import pytest
from asgi_lifespan import LifespanManager
from redis.asyncio import Redis

from jobs.worker import startup, worker_settings
from service import heap
from service.factory import create_app
from service.settings import Settings
from tests.conftest import make_settings


@pytest.fixture(autouse=True)
def _restore_collector() -> Iterator[None]:
    threshold = gc.get_threshold()
    gc.unfreeze()
    yield
    gc.unfreeze()
    gc.set_threshold(*threshold)


def test_settle_freezes_what_exists_and_spaces_young_collections() -> None:
    survivor = [object()]
    heap.settle()
    assert gc.get_freeze_count() > 0
    assert all(o is not survivor for o in gc.get_objects())
    assert gc.get_threshold()[0] == heap.YOUNG_THRESHOLD
    assert gc.get_threshold()[1:] == (10, 10)  # the older generations keep Python's schedule


def test_cycles_are_still_collected_after_settling() -> None:
    heap.settle()

    class Node:
        pass

    node = Node()
    node.self = node  # type: ignore[attr-defined]
    alive = [node]
    del node
    alive.clear()
    assert gc.collect() >= 1


async def test_the_procfile_app_settles_at_startup_and_test_apps_do_not(settings: Settings) -> None:
    async with LifespanManager(create_app(settings)):
        assert gc.get_freeze_count() == 0
        assert gc.get_threshold()[0] != heap.YOUNG_THRESHOLD
    async with LifespanManager(create_app(settings, settle_heap=True)):
        assert gc.get_freeze_count() > 0
        assert gc.get_threshold()[0] == heap.YOUNG_THRESHOLD


async def test_a_worker_settles_after_startup_only_when_asked(redis_url: str) -> None:
    settings = make_settings(redis_url=redis_url)
    async with Redis.from_url(redis_url) as redis:
        for settle, frozen in ((False, False), (True, True)):
            ctx: dict[str, Any] = {**worker_settings(settings, settle_heap=settle)["ctx"], "redis": redis}
            await startup(ctx)
            await ctx["mailer"].close()
            assert (gc.get_freeze_count() > 0) is frozen
            assert (gc.get_threshold()[0] == heap.YOUNG_THRESHOLD) is frozen
