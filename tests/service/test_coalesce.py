"""service.coalesce against a real redis-server: calls made together share one round trip."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlsplit

import pytest
from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError

from service.coalesce import Coalescer
from service.embedded import free_port
from tests.support.counting import CountingPool

SCRIPT = """
if ARGV[1] == 'boom' then return redis.error_reply('boom') end
redis.call('SET', KEYS[1], ARGV[1])
return ARGV[1]
"""


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


async def test_a_caller_cancelled_before_the_batch_leaves_sends_nothing(client: Redis) -> None:
    coalesce = Coalescer(client.register_script(SCRIPT))
    calls = [asyncio.ensure_future(coalesce([f"k{n}"], [f"v{n}"])) for n in range(3)]
    await asyncio.sleep(0)  # all three submitted; the batch leaves in the next turn
    calls[1].cancel()
    replies = await asyncio.gather(*calls, return_exceptions=True)
    assert replies[0] == b"v0" and replies[2] == b"v2"
    assert isinstance(replies[1], asyncio.CancelledError)
    assert await client.get("k1") is None


@pytest.mark.parametrize("turns", [2, 3, 4])
async def test_a_caller_cancelled_in_flight_leaves_the_others_their_replies(client: Redis, turns: int) -> None:
    coalesce = Coalescer(client.register_script(SCRIPT))
    calls = [asyncio.ensure_future(coalesce([f"k{n}"], [f"v{n}"])) for n in range(3)]
    for _ in range(turns):
        await asyncio.sleep(0)
    calls[1].cancel()
    replies = await asyncio.gather(*calls, return_exceptions=True)
    assert replies[0] == b"v0" and replies[2] == b"v2"
    assert replies[1] == b"v1" or isinstance(replies[1], asyncio.CancelledError)


async def test_a_send_cancelled_before_it_runs_frees_its_callers_and_the_next_batch(client: Redis) -> None:
    coalesce = Coalescer(client.register_script(SCRIPT))
    first = coalesce.submit(["a"], ["1"])
    [send] = coalesce._sending  # the loop shutting down cancels tasks like this one
    send.cancel()
    with pytest.raises(asyncio.CancelledError):
        await first
    assert await asyncio.wait_for(coalesce(["b"], ["2"]), 5) == b"2"


async def test_an_argument_redis_cannot_take_fails_only_its_own_call(client: Redis) -> None:
    coalesce = Coalescer(client.register_script(SCRIPT))
    replies = await asyncio.gather(coalesce(["a"], ["1"]), coalesce(["b"], [{"not": "sendable"}]),
                                   return_exceptions=True)
    assert replies[0] == b"1"
    assert isinstance(replies[1], TypeError)


async def _cutting_proxy(redis_port: int, armed: list[bool], *, lose_replies: bool = False) -> asyncio.Server:
    """A TCP proxy to Redis that, once armed, cuts the connection: before the next EVALSHA reaches
    Redis or, with `lose_replies`, once it has passed on the first of several replies coming back
    (the calls after it ran in Redis, but their replies are lost)."""

    def cut_here(data: bytes, replies: bool) -> bool:
        if replies != lose_replies:
            return False
        return data.count(b"\r\n") > 1 if replies else b"EVALSHA" in data

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", redis_port)

        async def pump(src: asyncio.StreamReader, dst: asyncio.StreamWriter, replies: bool) -> None:
            try:
                while data := await src.read(65536):
                    if armed and cut_here(data, replies):
                        armed.clear()
                        if replies:
                            dst.write(data[: data.index(b"\r\n") + 2])
                            await dst.drain()
                        writer.close()
                        up_writer.close()
                        return
                    dst.write(data)
                    await dst.drain()
            except ConnectionError:
                pass
            finally:
                dst.close()

        await asyncio.gather(pump(reader, up_writer, False), pump(up_reader, writer, True))

    return await asyncio.start_server(handle, "127.0.0.1", 0)


@pytest.mark.parametrize("retries", [True, False])
async def test_a_dropped_connection_is_retried_as_the_client_says(redis_url: str, retries: bool) -> None:
    # The worker's client retries on connection errors (jobs.worker) and so must its batches;
    # the web's does not, and its caller hears of the error at once.
    armed: list[bool] = []
    proxy = await _cutting_proxy(urlsplit(redis_url).port or 6379, armed)
    port = proxy.sockets[0].getsockname()[1]
    options: dict[str, Any] = {"retry": Retry(NoBackoff(), 3), "retry_on_error": [RedisConnectionError]} if retries else {}
    client = Redis(port=port, **options)
    try:
        coalesce = Coalescer(client.register_script(SCRIPT))
        assert await coalesce(["k"], ["before"]) == b"before"
        armed.append(True)
        replies = await asyncio.gather(coalesce(["k1"], ["1"]), coalesce(["k2"], ["2"]), return_exceptions=True)
    finally:
        await client.aclose()
        proxy.close()
        await proxy.wait_closed()
    if retries:
        assert replies == [b"1", b"2"]
    else:
        assert all(isinstance(reply, RedisConnectionError) for reply in replies)


COUNTER = "return redis.call('INCR', KEYS[1])"


async def test_a_retry_resends_only_the_calls_whose_replies_were_not_read(redis_url: str) -> None:
    armed: list[bool] = []
    proxy = await _cutting_proxy(urlsplit(redis_url).port or 6379, armed, lose_replies=True)
    client = Redis(port=proxy.sockets[0].getsockname()[1], retry=Retry(NoBackoff(), 3),
                   retry_on_error=[RedisConnectionError])
    try:
        count = Coalescer(client.register_script(COUNTER))
        assert await count(["warm"], []) == 1  # the script is loaded; the next round trip is one write
        armed.append(True)
        replies = await asyncio.gather(*(count([f"c{n}"], []) for n in range(3)))
        counts = [await client.get(f"c{n}") for n in range(3)]
    finally:
        await client.aclose()
        proxy.close()
        await proxy.wait_closed()
    assert replies[0] == 1
    assert counts[0] == b"1"  # its reply was read: not sent again
    assert counts[1:] == [b"2", b"2"]  # ran, reply lost, ran again: what any retried command risks
