"""The shared token bucket, against a real Redis: one limit however many processes take from it."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest
from redis.asyncio import Redis

from service.ratelimit import TokenBucket


async def _take_for(bucket: TokenBucket, seconds: float) -> int:
    taken = 0
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if await bucket.take() == 0:
            taken += 1
        else:
            await asyncio.sleep(0.002)
    return taken


async def test_two_clients_share_one_bucket(redis_url: str):
    """Two separate connections stand for two processes: together they get the rate, not twice it."""
    rate, burst, seconds = 50, 5, 1.0
    first, second = Redis.from_url(redis_url), Redis.from_url(redis_url)
    try:
        buckets = [TokenBucket(r, key="herald:rate:test", rate=rate, burst=burst) for r in (first, second)]
        started = time.monotonic()
        counts = await asyncio.gather(*(_take_for(b, seconds) for b in buckets))
        elapsed = time.monotonic() - started
    finally:
        await first.aclose()
        await second.aclose()
    total = sum(counts)
    assert total <= burst + rate * elapsed + 1  # never more than the bucket allows
    assert total >= 0.8 * rate * seconds  # and the clients did get their share
    assert min(counts) > 0
    print(f"\n2 clients took {counts} tokens in {elapsed:.2f} s at a limit of {rate}/s (burst {burst})")


async def test_a_refused_take_says_how_long_to_wait_and_takes_nothing(redis_url: str):
    redis = Redis.from_url(redis_url)
    try:
        bucket = TokenBucket(redis, key="herald:rate:slow", rate=2, burst=1)
        assert await bucket.take() == 0
        wait = await bucket.take()
        assert 0.4 < wait <= 0.5
        assert 0.4 < await bucket.take() <= 0.5  # the refusal did not push the next token further out
    finally:
        await redis.aclose()


async def test_a_slowdown_factor_slows_the_bucket(redis_url: str):
    redis = Redis.from_url(redis_url)
    try:
        bucket = TokenBucket(redis, key="herald:rate:s", rate=10, burst=1, slowdown_key="herald:rate:s:slow")
        await redis.set("herald:rate:s:slow", "0.25", ex=60)
        assert await bucket.take() == 0
        assert 0.3 < await bucket.take() <= 0.4  # 10/s slowed to 2.5/s: 0.4 s between tokens
    finally:
        await redis.aclose()


def test_the_rate_must_be_positive():
    with pytest.raises(ValueError):
        TokenBucket(Redis(), key="k", rate=0)


async def test_two_web_processes_share_a_keys_limit(redis_url: str, smtp):
    from asgi_lifespan import LifespanManager

    from service.factory import create_app
    from tests.conftest import AUTH, make_settings

    settings = make_settings(redis_url=redis_url, smtp_url=smtp.url, rate_limit_per_second=4)
    apps = [create_app(settings), create_app(settings)]
    async with LifespanManager(apps[0]), LifespanManager(apps[1]):
        clients = [httpx.AsyncClient(transport=httpx.ASGITransport(app=a), base_url="http://herald.test")
                   for a in apps]
        answers = [await clients[i % 2].get("/v1/templates", headers=AUTH) for i in range(8)]
        for c in clients:
            await c.aclose()
    admitted = sum(r.status_code == 200 for r in answers)
    assert 4 <= admitted <= 5  # the burst of 4, maybe one more refilled; per-process limits would admit 8
    assert all(r.status_code in (200, 429) for r in answers)
