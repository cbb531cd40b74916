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

from redis.commands.core import AsyncScript
from redis.exceptions import NoScriptError

_Call = tuple[Sequence[Any], Sequence[Any], "asyncio.Future[Any]"]


class Coalescer:
    """`await coalescer(keys, args)` is `await script(keys=keys, args=args)`, batched."""

    def __init__(self, script: AsyncScript) -> None:
        self._script = script
        self._pending: list[_Call] = []
        self._sending: set[asyncio.Task[None]] = set()  # held here so that none is collected mid-flight

    async def __call__(self, keys: Sequence[Any], args: Sequence[Any]) -> Any:
        return await self.submit(keys, args)

    def submit(self, keys: Sequence[Any], args: Sequence[Any]) -> asyncio.Future[Any]:
        """The call's reply to come, for a caller that submits several and gathers them."""
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        if not self._pending:
            task = asyncio.create_task(self._send())  # first runs in the next turn of the loop
            self._sending.add(task)
            task.add_done_callback(self._sending.discard)
        self._pending.append((keys, args, future))
        return future

    async def _send(self) -> None:
        calls, self._pending = self._pending, []
        try:
            replies = await self._run(calls)
        except asyncio.CancelledError:
            for _, _, future in calls:
                future.cancel()
            raise
        except Exception as exc:  # every caller gets what the round trip raised
            for _, _, future in calls:
                if not future.done():
                    future.set_exception(exc)
            return
        for (_, _, future), reply in zip(calls, replies, strict=True):
            if future.done():  # its caller was cancelled; the write itself has happened
                continue
            if isinstance(reply, Exception):
                future.set_exception(reply)
            else:
                future.set_result(reply)

    async def _run(self, calls: list[_Call]) -> list[Any]:
        if len(calls) == 1:
            keys, args, _ = calls[0]
            return [await self._script(keys=keys, args=args)]  # redis-py loads the script if need be
        replies = await self._pipeline(calls)
        missing = [i for i, reply in enumerate(replies) if isinstance(reply, NoScriptError)]
        if missing:  # Redis restarted or its scripts were flushed: load once, send those again
            await self._script.registered_client.script_load(self._script.script)
            for i, reply in zip(missing, await self._pipeline([calls[i] for i in missing]), strict=True):
                replies[i] = reply
        return replies

    async def _pipeline(self, calls: list[_Call]) -> list[Any]:
        # EVALSHA by hand: redis-py's pipeline would first ask SCRIPT EXISTS, another round trip.
        sha = self._script.sha
        async with self._script.registered_client.pipeline(transaction=False) as pipe:
            for keys, args, _ in calls:
                pipe.evalsha(sha, len(keys), *keys, *args)
            return await pipe.execute(raise_on_error=False)
