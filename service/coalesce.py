"""Calls of one Lua script made in the same turn of the event loop share one round trip.

Under load the web has many requests in hand at once, and each accepted notification is one
script call. Sent one by one, every call pays redis-py's per-command cost, a connection checkout
and a write and a read of its own; that was about 100 µs of the web's CPU per notification, more
than validating and rendering it. Collected for one turn of the loop and sent as one pipeline,
they pay it once: a call waits for nothing it would not have waited for anyway, since the
pipeline leaves in the next turn, before any reply could have come back.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from hiredis import pack_command
from redis.asyncio.connection import Connection
from redis.commands.core import AsyncScript
from redis.exceptions import NoScriptError, RedisError, ResponseError

_Call = tuple[bytes, "asyncio.Future[Any]"]  # an EVALSHA as it goes on the wire, and its caller
_FENCE = pack_command(("INCR", "herald:wait-fence"))


class NotReplicated(RedisError):
    """The primary has the write, but not the replicas WAIT was asked for within its timeout: not
    yet safe from a failover, so not acknowledged (the API's 503)."""


class Coalescer:
    """`await coalescer(keys, args)` is `await script(keys=keys, args=args)`, batched.

    `wait_replicas`: each batch ends with WAIT on its connection, and its calls succeed only when
    that many replicas confirm them within `wait_timeout_ms` (REDIS_WAIT_REPLICAS).
    """

    def __init__(self, script: AsyncScript, *, wait_replicas: int = 0, wait_timeout_ms: int = 1000) -> None:
        self._script = script
        self._wait = pack_command(("WAIT", wait_replicas, wait_timeout_ms)) if wait_replicas else None
        self._replicas = wait_replicas
        self._batch: list[_Call] | None = None  # still taking calls; its send runs in the next turn
        self._sending: set[asyncio.Task[None]] = set()  # held here so that none is collected mid-flight

    async def __call__(self, keys: Sequence[Any], args: Sequence[Any]) -> Any:
        return await self.submit(keys, args)

    def submit(self, keys: Sequence[Any], args: Sequence[Any]) -> asyncio.Future[Any]:
        """The call's reply to come, for a caller that submits several and gathers them."""
        # Packed here, so that an argument hiredis cannot send fails its own caller, not the batch;
        # by hiredis, at a tenth of what redis-py's packing costs.
        packed = pack_command(("EVALSHA", self._script.sha, len(keys), *keys, *args))
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        if self._batch is None:
            batch: list[_Call] = []
            self._batch = batch
            task = asyncio.create_task(self._send(batch))
            self._sending.add(task)
            task.add_done_callback(lambda done: self._settled(done, batch))
        self._batch.append((packed, future))
        return future

    def _settled(self, task: asyncio.Task[None], batch: list[_Call]) -> None:
        # A send cancelled before it ran (the loop shutting down) must not leave its callers
        # waiting, nor keep later calls joining a batch that will never leave.
        self._sending.discard(task)
        if self._batch is batch:
            self._batch = None
        for _, future in batch:
            future.cancel()  # does nothing to a future already answered

    async def _send(self, batch: list[_Call]) -> None:
        self._batch = None
        calls = [call for call in batch if not call[1].done()]  # a caller cancelled meanwhile sends nothing
        if not calls:
            return
        try:
            replies = await self._run(calls)
        except Exception as exc:  # every caller gets what the round trip raised
            for _, future in calls:
                if not future.done():
                    future.set_exception(exc)
            return
        for (_, future), reply in zip(calls, replies, strict=True):
            if future.done():  # its caller was cancelled; the write itself has happened
                continue
            if isinstance(reply, Exception):
                future.set_exception(reply)
            else:
                future.set_result(reply)

    async def _run(self, calls: list[_Call]) -> list[Any]:
        replies = await self._round_trip(calls)
        missing = [i for i, reply in enumerate(replies) if isinstance(reply, NoScriptError)]
        if missing:  # Redis restarted or its scripts were flushed: load once, send those again
            try:
                await self._script.registered_client.script_load(self._script.script)
                again = await self._round_trip([calls[i] for i in missing])
            except Exception as exc:  # only those calls failed; the others' replies stand
                again = [exc] * len(missing)
            for i, reply in zip(missing, again, strict=True):
                replies[i] = reply
        return replies

    async def _round_trip(self, calls: list[_Call]) -> list[Any]:
        # Replies come in order, so those read before a dropped connection are a prefix: a retry
        # sends only the calls after it. A call whose reply was lost runs again, as any command
        # redis-py retries does (and as ARQ's transaction does when its EXEC reply is lost).
        replies: list[Any] = []
        tries = 0
        pool = self._script.registered_client.connection_pool
        connection = await pool.get_connection("EVALSHA")

        async def attempt() -> None:
            nonlocal tries
            tries += 1
            await _exchange(connection, calls, replies)

        try:
            # The client's retry policy, as redis-py applies it to a command of its own: the
            # worker's rides out a Redis restart (REDIS_RETRIES), the web's gives up at once.
            await connection.retry.call_with_retry(attempt, lambda error: _disconnect(connection, error))
            if self._wait is not None:
                await self._confirm(connection, reconnected=tries > 1)
            return replies
        finally:
            await pool.release(connection)

    async def _confirm(self, connection: Connection, *, reconnected: bool) -> None:
        """WAIT counts what this connection wrote. A repeat of a request writes nothing, yet the
        original may have been written just before by another connection: a write of this one's
        own first (the fence) makes WAIT cover everything the primary had until then. After a
        reconnect, what the lost connection wrote is not counted, so it is not confirmed either."""
        await connection.send_packed_command(_FENCE + self._wait)
        await connection.read_response()
        acked = await connection.read_response()
        if reconnected or int(acked) < self._replicas:
            raise NotReplicated(f"the write reached {acked} of {self._replicas} replicas in time")


async def _exchange(connection: Connection, calls: list[_Call], replies: list[Any]) -> None:
    """Writes the calls not yet answered at once, as a pipeline (redis-py's own would first ask
    SCRIPT EXISTS, a round trip more), and reads their replies into `replies`."""
    await connection.send_packed_command(b"".join(command for command, _ in calls[len(replies):]))
    while len(replies) < len(calls):
        replies.append(await _reply(connection))


async def _disconnect(connection: Connection, error: Exception) -> None:
    """What redis-py does between tries: drop the connection; give up on an error it would not retry."""
    await connection.disconnect()
    if connection.retry_on_error is None or not isinstance(error, tuple(connection.retry_on_error)):
        raise error


async def _reply(connection: Connection) -> Any:
    try:
        return await connection.read_response()
    except ResponseError as exc:  # a script's error is its caller's; the connection is still in step
        return exc
