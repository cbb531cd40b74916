"""The collector's schedule: settled in the Procfile's processes, left alone where tests build many apps."""

from __future__ import annotations

import gc
import importlib
import sys
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
from tests.support.herald import herald_env


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


def test_settled_collector_still_collects_by_itself() -> None:
    heap.settle()
    collections: list[int] = []

    def note(phase: str, info: dict[str, int]) -> None:
        if phase == "stop":
            collections.append(info["collected"])

    gc.callbacks.append(note)
    try:
        for _ in range(3 * heap.YOUNG_THRESHOLD):  # cyclic garbage: only the collector frees it
            node: list[object] = []
            node.append(node)
    finally:
        gc.callbacks.remove(note)
    assert collections and sum(collections) > 0


def test_the_procfile_app_is_built_to_settle(monkeypatch: pytest.MonkeyPatch, redis_url: str) -> None:
    for name, value in herald_env(redis_url, "smtp://127.0.0.1:2525").items():
        monkeypatch.setenv(name, value)
    monkeypatch.delitem(sys.modules, "service.app", raising=False)
    module = importlib.import_module("service.app")  # what uvicorn service.app:app imports
    assert module.app.state.settle_heap is True


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
