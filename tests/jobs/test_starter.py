"""Herald's job start (jobs.starter) against a real Redis: the same checks as ARQ's transaction,
the slot given back when a job is not started, and starts spaced evenly under load."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

import arq.worker
import pytest
from arq.connections import ArqRedis
from arq.constants import (
    abort_jobs_ss, default_queue_name, in_progress_key_prefix, job_key_prefix, result_key_prefix, retry_key_prefix,
)
from arq.worker import func
from redis.exceptions import ConnectionError as RedisConnectionError

import jobs
from jobs.pacer import Pacer
from jobs.starter import _START, Worker
from service.embedded import free_port
from tests.conftest import make_settings
from tests.support.counting import CountingPool

RUNS: Counter[str] = Counter()
SEEN_IN_PROGRESS: list[bool] = []


async def note(ctx: dict[str, Any], name: str) -> None:
    RUNS[name] += 1
    SEEN_IN_PROGRESS.append(bool(await ctx["redis"].exists(in_progress_key_prefix + ctx["job_id"])))
    await asyncio.sleep(0.05)


async def slow(ctx: dict[str, Any], name: str) -> None:
    RUNS[name] += 1
    await asyncio.sleep(0.4)


@pytest.fixture
async def pool(redis_url: str) -> AsyncIterator[ArqRedis]:
    RUNS.clear()
    SEEN_IN_PROGRESS.clear()
    redis = ArqRedis.from_url(redis_url)
    yield redis
    await redis.aclose()


def _worker(pool: ArqRedis, **options: Any) -> Worker:
    return Worker(functions=[func(note, name="note"), func(slow, name="slow")], redis_pool=pool,
                  ctx={"redis": pool}, handle_signals=False, keep_result=0,
                  max_jobs=options.pop("max_jobs", 10), **options)


async def _run(worker: Worker, job_ids: list[str]) -> None:
    await worker.start_jobs([job_id.encode() for job_id in job_ids])
    await asyncio.gather(*worker.tasks.values())


async def _polls(worker: Worker, job_ids: list[str], pool: ArqRedis) -> None:
    """As ARQ's poll loop does: read the same ids again until the queue is empty."""
    async with asyncio.timeout(10):
        while await pool.zcard(default_queue_name):
            await worker.start_jobs([job_id.encode() for job_id in job_ids])
            await asyncio.sleep(0.01)
        await asyncio.gather(*worker.tasks.values())


def _free(worker: Worker) -> bool:
    return worker.job_counter == 0 and worker.sem._value == worker.max_jobs + 1


async def test_a_due_job_runs_once_marked_in_progress_and_leaves_the_queue(pool: ArqRedis) -> None:
    await pool.enqueue_job("note", "a", _job_id="a")
    worker = _worker(pool)
    await _run(worker, ["a"])
    assert RUNS == {"a": 1}
    assert SEEN_IN_PROGRESS == [True]
    assert not await pool.zscore(default_queue_name, "a")
    assert not await pool.exists(in_progress_key_prefix + "a")
    assert _free(worker)


async def test_a_job_in_progress_elsewhere_is_left_alone(pool: ArqRedis) -> None:
    await pool.enqueue_job("note", "b", _job_id="b")
    await pool.set(in_progress_key_prefix + "b", b"1", px=60_000)
    worker = _worker(pool)
    await _run(worker, ["b"])
    assert RUNS == {}
    assert await pool.zscore(default_queue_name, "b")  # still queued for whoever runs it
    assert 59_000 < await pool.pttl(in_progress_key_prefix + "b") <= 60_000  # the other lease untouched
    assert _free(worker)


async def test_a_job_not_due_or_gone_is_not_started(pool: ArqRedis) -> None:
    await pool.enqueue_job("note", "later", _job_id="later", _defer_by=60)
    worker = _worker(pool)
    await _run(worker, ["later", "finished-long-ago"])
    assert RUNS == {}
    assert not await pool.exists(in_progress_key_prefix + "later")
    assert not await pool.exists(in_progress_key_prefix + "finished-long-ago")
    assert _free(worker)


async def test_two_workers_reading_the_same_ids_run_each_job_once(pool: ArqRedis) -> None:
    ids = [f"job-{n}" for n in range(40)]
    for job_id in ids:
        await pool.enqueue_job("note", job_id, _job_id=job_id)
    first, second = _worker(pool, max_jobs=7), _worker(pool, max_jobs=7)
    await asyncio.gather(_polls(first, ids, pool), _polls(second, ids, pool))
    assert RUNS == Counter({job_id: 1 for job_id in ids})
    assert await pool.zcard(default_queue_name) == 0
    assert _free(first) and _free(second)


async def test_a_job_this_worker_is_running_is_not_started_again(pool: ArqRedis) -> None:
    await pool.enqueue_job("note", "c", _job_id="c")
    worker = _worker(pool)
    await worker.start_jobs([b"c"])
    running = worker.tasks["c"]
    await worker.start_jobs([b"c"])  # the next poll reads it again: it is still in the queue
    assert worker.tasks["c"] is running
    assert worker.job_counter == 1
    await running
    assert RUNS == {"c": 1}


def test_pacer_does_not_delay_an_idle_worker() -> None:
    pacer = Pacer(100)
    assert pacer.pause(now=10.0) == 0.0
    assert pacer.allowed(now=10.0, wanted=100) == 100  # no job time measured yet
    pacer.started(100, now=10.0)
    pacer.finished(0.2)
    assert pacer.pause(now=1000.0) == 0.0
    assert pacer.allowed(now=1000.0, wanted=100) == Pacer.BURST + 1


def test_pacer_spreads_slots_that_free_together_over_less_than_a_job_time() -> None:
    pacer = Pacer(100)
    for _ in range(200):
        pacer.finished(0.2)
    now, batches, begun = 50.0, [], 0
    while begun < 100:
        now += pacer.pause(now)
        batch = pacer.allowed(now, 100 - begun)
        pacer.started(batch, now)
        batches.append(batch)
        begun += batch
    interval = 0.2 / 100 / Pacer.HEADROOM
    assert batches[0] == Pacer.BURST + 1
    assert set(batches[1:]) == {1}  # then one at a time, an interval apart
    assert now - 50.0 == pytest.approx((100 - Pacer.BURST - 1) * interval)
    assert now - 50.0 < 0.2  # all 100 started well within one job's time


async def test_one_call_returns_within_its_deadline_while_slots_keep_freeing(pool: ArqRedis) -> None:
    """ARQ's poll loop (heartbeat, crons) must come round even when a slot frees every 0.4 s."""
    ids = [f"slow-{n}" for n in range(10)]
    for job_id in ids:
        await pool.enqueue_job("slow", job_id, _job_id=job_id)
    worker = _worker(pool, max_jobs=1)
    async with asyncio.timeout(10):
        await worker.start_jobs([job_id.encode() for job_id in ids])
        started = len(worker.tasks)
        await asyncio.gather(*worker.tasks.values())
    assert 1 <= started <= 4  # 10 would take 4 s; one call waits FULL_WAIT_SECONDS (1 s) in all
    assert _free(worker)


async def test_a_call_retried_after_a_dropped_reply_counts_its_own_marks(pool: ArqRedis) -> None:
    await pool.enqueue_job("note", "d", _job_id="d")
    keys = [default_queue_name, in_progress_key_prefix + "d"]

    async def call(mark: str) -> list[bytes]:
        return await pool.eval(_START, len(keys), *keys, 10**13, 60_000, 1, mark, "d")

    assert (await call("first-call"))[1:] == [b"d", await _score(pool, "d")]
    assert (await call("first-call"))[1:] == [b"d", await _score(pool, "d")]  # redis-py's retry
    assert (await call("another-call"))[1:] == []  # another worker's call
    assert await pool.get(in_progress_key_prefix + "d") == b"first-call"


async def _score(pool: ArqRedis, job_id: str) -> bytes:
    return str(int(await pool.zscore(default_queue_name, job_id))).encode()


def test_arq_command_line_builds_herald_worker(monkeypatch: pytest.MonkeyPatch, redis_url: str) -> None:
    monkeypatch.setattr(arq.worker, "Worker", arq.worker.Worker)  # restored after the test
    for name, value in {"REDIS_URL": redis_url, "MAIL_FROM": "a@acme.test", "API_KEYS": "t:secret-0123",
                        "SECRET_KEY": "k" * 32}.items():
        monkeypatch.setenv(name, value)
    policy = asyncio.get_event_loop_policy()
    try:
        settings = jobs.WorkerSettings  # what `arq jobs.WorkerSettings` resolves
        worker = arq.worker.create_worker(settings)  # what ARQ's command line then builds
    finally:
        asyncio.set_event_loop_policy(policy)  # resolving the settings also chose uvloop's
    assert type(worker) is Worker
    assert worker.queue_read_limit == make_settings().worker_max_jobs * 4
    assert worker.ctx["settle_heap"] is True  # the Procfile's worker settles its collector at start-up


async def test_a_full_worker_starts_the_next_job_as_soon_as_a_slot_frees(pool: ArqRedis) -> None:
    for job_id in ("first", "second"):
        await pool.enqueue_job("note", job_id, _job_id=job_id)
    worker = _worker(pool, max_jobs=1)
    async with asyncio.timeout(5):
        # ARQ would return at once, full, and look again a poll later; this call waits for
        # "first" to finish and starts "second" itself.
        await worker.start_jobs([b"first", b"second"])
        assert set(worker.tasks) == {"first", "second"}
        assert worker.tasks["first"].done()
        await worker.tasks["second"]
    assert RUNS == {"first": 1, "second": 1}
    assert _free(worker)


async def test_no_job_starts_once_the_worker_is_told_to_stop(pool: ArqRedis) -> None:
    for job_id in ("first", "second"):
        await pool.enqueue_job("note", job_id, _job_id=job_id)
    worker = _worker(pool, max_jobs=1)
    async with asyncio.timeout(5):
        starting = asyncio.create_task(worker.start_jobs([b"first", b"second"]))
        while "first" not in worker.tasks:
            await asyncio.sleep(0.005)
        worker.allow_pick_jobs = False  # what ARQ's SIGTERM handler does; "first" is still sending
        await starting
        await worker.tasks["first"]
    assert RUNS == {"first": 1}
    assert await pool.zscore(default_queue_name, "second")  # left queued for the next worker
    assert _free(worker)


async def test_slots_are_given_back_when_redis_cannot_be_reached(redis_url: str) -> None:
    unreachable = ArqRedis.from_url(f"redis://127.0.0.1:{free_port()}/0")
    worker = _worker(unreachable)
    try:
        with pytest.raises(RedisConnectionError):
            await worker.start_jobs([b"a", b"b"])
    finally:
        await unreachable.aclose()
    assert _free(worker)


FINISHES = [  # (finish, result_data, incr_score, keep_in_progress): every branch of ARQ's finish_job
    (True, None, None, None),
    (True, None, None, 60.0),  # a cron job keeps its in-progress mark
    (False, None, 2_500, None),  # Retry(defer): back to the queue, later
    (False, None, None, None),  # cancelled: back to the queue as it was
    (False, None, 0, 30.0),
    (True, b"kept result", None, None),  # a result to keep goes ARQ's own way
]


async def _job_keys(pool: ArqRedis, job_id: str) -> None:
    await pool.enqueue_job("note", job_id, _job_id=job_id)
    await pool.set(in_progress_key_prefix + job_id, b"1", px=90_000)
    await pool.incr(retry_key_prefix + job_id)
    await pool.zadd(abort_jobs_ss, {job_id: 1})


async def _state(pool: ArqRedis, job_id: str) -> dict[str, Any]:
    ttl = await pool.pttl(in_progress_key_prefix + job_id)
    return {
        "in progress": await pool.exists(in_progress_key_prefix + job_id),
        "in progress ttl s": round(ttl / 1000) if ttl > 0 else ttl,
        "retry": await pool.exists(retry_key_prefix + job_id),
        "job": await pool.exists(job_key_prefix + job_id),
        "aborting": await pool.zscore(abort_jobs_ss, job_id) is not None,
        "queue score": await pool.zscore(default_queue_name, job_id),
        "result": await pool.get(result_key_prefix + job_id),
    }


@pytest.mark.parametrize("finish, result_data, incr_score, keep", FINISHES)
async def test_a_finish_leaves_redis_as_arqs_transaction_does(
    pool: ArqRedis, finish: bool, result_data: bytes | None, incr_score: int | None, keep: float | None
) -> None:
    worker = _worker(pool)
    for job_id in ("by-arq", "by-herald"):
        await _job_keys(pool, job_id)
        await pool.zadd(default_queue_name, {job_id: 1_000_000})
    args = (finish, result_data, 60.0, False, incr_score, keep)
    await arq.worker.Worker.finish_job(worker, "by-arq", *args)
    await worker.finish_job("by-herald", *args)
    assert await _state(pool, "by-herald") == await _state(pool, "by-arq")


async def test_finishes_of_one_turn_share_a_round_trip(redis_url: str) -> None:
    counting = CountingPool.from_url(redis_url)
    pool = ArqRedis(connection_pool=counting)
    ids = [f"fin-{n}" for n in range(21)]
    for job_id in ids:
        await _job_keys(pool, job_id)
    worker = _worker(pool)
    await worker.finish_job(ids.pop(), True, None, 0, False, None, None)  # loads the script
    before = counting.checkouts
    await asyncio.gather(*(worker.finish_job(job_id, True, None, 0, False, None, None) for job_id in ids))
    assert counting.checkouts - before == 1  # ARQ's own: one transaction, so one round trip, each
    assert await pool.zcard(default_queue_name) == 0
    assert not any([await pool.exists(job_key_prefix + job_id) for job_id in ids])
    await pool.aclose(close_connection_pool=True)
