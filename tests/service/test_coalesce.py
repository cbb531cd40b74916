"""service.coalesce against a real redis-server: calls made together share one round trip."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from redis.asyncio import ConnectionPool, Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError

from service.coalesce import Coalescer
from service.embedded import free_port

SCRIPT = """
if ARGV[1] == 'boom' then return redis.error_reply('boom') end
redis.call('SET', KEYS[1], ARGV[1])
return ARGV[1]
"""


class CountingPool(ConnectionPool):
    """Counts connection checkouts: one per round trip the client makes."""

    checkouts = 0

    async def get_connection(self, *args: Any, **kwargs: Any) -> Any:
        self.checkouts += 1
        return await super().get_connection(*args, **kwargs)


@pytest.fixture
async def client(redis_url: str) -> AsyncIterator[Redis]:
    redis = Redis(connection_pool=CountingPool.from_url(redis_url))
    yield redis
    await redis.aclose(close_connection_pool=True)  # a pool handed in is not closed otherwise


def checkouts(redis: Redis) -> int:
    return redis.connection_pool.checkouts  # type: ignore[attr-defined]


async def test_calls_made_together_share_one_round_trip(client: Redis) -> None:
    coalesce = Coalescer(client.register_script(SCRIPT))
    await client.script_load(SCRIPT)
    before = checkouts(client)
    replies = await asyncio.gather(*(coalesce([f"k{n}"], [f"v{n}"]) for n in range(20)))
    assert replies == [f"v{n}".encode() for n in range(20)]
    assert checkouts(client) - before == 1
    assert await client.get("k7") == b"v7"


async def test_calls_in_later_turns_go_on_their_own(client: Redis) -> None:
    coalesce = Coalescer(client.register_script(SCRIPT))
    await client.script_load(SCRIPT)
    before = checkouts(client)
    assert [await coalesce(["k"], [str(n)]) for n in range(3)] == [b"0", b"1", b"2"]
    assert checkouts(client) - before == 3


async def test_a_script_error_reaches_only_its_own_caller(client: Redis) -> None:
    coalesce = Coalescer(client.register_script(SCRIPT))
    replies = await asyncio.gather(coalesce(["a"], ["1"]), coalesce(["b"], ["boom"]), coalesce(["c"], ["3"]),
                                   return_exceptions=True)
    assert replies[0] == b"1" and replies[2] == b"3"
    assert isinstance(replies[1], ResponseError) and "boom" in str(replies[1])


async def test_scripts_flushed_from_redis_are_loaded_again(client: Redis) -> None:
    coalesce = Coalescer(client.register_script(SCRIPT))
    assert await coalesce(["k"], ["first"]) == b"first"
    await client.script_flush()
    assert await asyncio.gather(*(coalesce([f"k{n}"], [str(n)]) for n in range(5))) == [b"0", b"1", b"2", b"3", b"4"]
    await client.script_flush()
    assert await coalesce(["k"], ["alone"]) == b"alone"


async def test_every_caller_hears_when_redis_cannot_be_reached() -> None:
    redis = Redis(port=free_port(), socket_connect_timeout=1)
    coalesce = Coalescer(redis.register_script(SCRIPT))
    try:
        replies = await asyncio.gather(*(coalesce([f"k{n}"], ["v"]) for n in range(4)), return_exceptions=True)
    finally:
        await redis.aclose()
    assert all(isinstance(reply, RedisConnectionError) for reply in replies)


async def test_a_cancelled_caller_leaves_the_others_their_replies(client: Redis) -> None:
    coalesce = Coalescer(client.register_script(SCRIPT))
    calls = [asyncio.ensure_future(coalesce([f"k{n}"], [f"v{n}"])) for n in range(3)]
    await asyncio.sleep(0)  # all three submitted; the round trip has not come back
    calls[1].cancel()
    replies = await asyncio.gather(*calls, return_exceptions=True)
    assert replies[0] == b"v0" and replies[2] == b"v2"
    assert isinstance(replies[1], asyncio.CancelledError)
    assert await client.get("k1") == b"v1"  # the write had left with the others


async def test_an_argument_redis_cannot_take_fails_only_its_own_call(client: Redis) -> None:
    coalesce = Coalescer(client.register_script(SCRIPT))
    replies = await asyncio.gather(coalesce(["a"], ["1"]), coalesce(["b"], [{"not": "sendable"}]),
                                   return_exceptions=True)
    assert replies[0] == b"1"
    assert isinstance(replies[1], TypeError)
