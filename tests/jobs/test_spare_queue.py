"""A worker's spare queue (the default lane's worker serving the bulk lane): only the slots its own
queue leaves, never the reserved ones, and every job finishes on the queue it came from."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from arq import Retry
from arq.connections import ArqRedis
from arq.constants import default_queue_name, in_progress_key_prefix, job_key_prefix
from arq.utils import timestamp_ms
from arq.worker import func

from jobs.starter import Worker
from service.queue import BULK_QUEUE_NAME

STARTED: list[str] = []


async def hold(ctx: dict[str, Any], name: str, seconds: float) -> None:
    STARTED.append(name)
    await asyncio.sleep(seconds)


async def later(ctx: dict[str, Any], name: str) -> None:
    STARTED.append(name)
    raise Retry(defer=60)


@pytest.fixture
async def pool(redis_url: str) -> AsyncIterator[ArqRedis]:
    STARTED.clear()
    redis = ArqRedis.from_url(redis_url)
    yield redis
    await redis.aclose()


def _worker(pool: ArqRedis, *, max_jobs: int = 8, poll_delay: float = 0.05) -> Worker:
    return Worker(functions=[func(hold, name="hold"), func(later, name="later")], redis_pool=pool,
                  ctx={"redis": pool, "spare_queue": BULK_QUEUE_NAME}, handle_signals=False, keep_result=0,
                  max_jobs=max_jobs, queue_read_limit=max_jobs * 4, poll_delay=poll_delay)


async def _enqueue(pool: ArqRedis, queue: str, names: list[str], seconds: float = 0.3) -> None:
    for name in names:
        assert await pool.enqueue_job("hold", name, seconds, _job_id=name, _queue_name=queue)


async def _settle(worker: Worker) -> None:
    async with asyncio.timeout(10):
        await asyncio.gather(*worker.tasks.values())


async def test_spare_jobs_never_take_the_reserved_slots(pool: ArqRedis) -> None:
    await _enqueue(pool, BULK_QUEUE_NAME, [f"news-{n}" for n in range(20)])
    worker = _worker(pool)
    await worker.start_jobs([])
    assert len(worker.tasks) == 6  # 8 slots, a quarter kept for the worker's own queue
    await worker.start_jobs([])  # waits a poll_delay for spare room to free: none does
    assert len(worker.tasks) == 6  # the spare room stays full; nothing more is taken

    await _enqueue(pool, default_queue_name, ["reset-1", "reset-2"])
    await worker.start_jobs([b"reset-1", b"reset-2"])  # what ARQ's poll read of the own queue gives
    await asyncio.sleep(0.05)
    assert {"reset-1", "reset-2"} <= set(STARTED)  # at once, while every newsletter slot is busy
    assert worker.job_counter == 8
    await _settle(worker)
    assert await pool.zcard(default_queue_name) == 0
    assert await pool.zcard(BULK_QUEUE_NAME) == 14  # the finished six left the queue they came from


async def test_the_own_queue_starts_before_any_spare_job(pool: ArqRedis) -> None:
    resets = [f"reset-{n}" for n in range(6)]
    await _enqueue(pool, BULK_QUEUE_NAME, ["news-0", "news-1"], seconds=0.05)
    await _enqueue(pool, default_queue_name, resets, seconds=0.05)
    worker = _worker(pool, max_jobs=2)
    # Six due own jobs and two slots: the call waits for slots to free and fills them with its own.
    await worker.start_jobs([r.encode() for r in resets])
    await _settle(worker)
    assert sorted(STARTED[:6]) == resets
    while await pool.zcard(BULK_QUEUE_NAME):  # the poll loop's next turns find the own queue empty
        await worker.start_jobs([])
        await _settle(worker)
    assert STARTED[6:] == ["news-0", "news-1"]


async def test_spare_room_that_frees_within_a_poll_is_filled_at_once(pool: ArqRedis) -> None:
    await _enqueue(pool, BULK_QUEUE_NAME, ["a-quick", "b-next"], seconds=0.01)
    worker = _worker(pool, max_jobs=2, poll_delay=1.0)  # one spare slot, one kept
    await worker.start_jobs([])
    assert set(worker.tasks) == {"a-quick", "b-next"}  # "b-next" took the slot "a-quick" freed, in the same call
    await _settle(worker)
    assert STARTED == ["a-quick", "b-next"]


async def test_a_spare_job_deferred_or_failed_stays_on_its_own_queue(pool: ArqRedis) -> None:
    assert await pool.enqueue_job("later", "deferred", _job_id="deferred", _queue_name=BULK_QUEUE_NAME)
    await pool.zadd(BULK_QUEUE_NAME, {"expired": 1})  # queued, but its job is gone: ARQ fails it
    worker = _worker(pool)
    await worker.start_jobs([])
    await _settle(worker)
    assert STARTED == ["deferred"]
    assert await pool.zscore(BULK_QUEUE_NAME, "deferred") >= timestamp_ms() + 50_000  # deferred by its 60 s
    assert await pool.zscore(default_queue_name, "deferred") is None
    assert await pool.zscore(BULK_QUEUE_NAME, "expired") is None
    assert await pool.zscore(default_queue_name, "expired") is None
    assert not await pool.exists(in_progress_key_prefix + "expired", in_progress_key_prefix + "deferred")
    assert await pool.exists(job_key_prefix + "deferred")
    assert not worker._from_spare() and worker.job_counter == 0
