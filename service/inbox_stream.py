"""Live inbox changes for the web's SSE streams: one Redis subscription per web process, fanned
out to every open stream in it, so a thousand open browsers cost one connection, not a thousand."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError

from service import jsonio
from service.inbox import events_channel

log = logging.getLogger("herald.inbox")
_PATTERN = events_channel("*")
_QUEUE_SIZE = 100


class Hub:
    def __init__(self, redis: Redis) -> None:
        self._redis = redis
        self._streams: dict[str, set[asyncio.Queue[dict[str, Any]]]] = {}
        self._task: asyncio.Task[None] | None = None
        self._ready = asyncio.Event()

    @contextlib.asynccontextmanager
    async def listen(self, recipient: str) -> AsyncIterator[asyncio.Queue[dict[str, Any]]]:
        """A queue of the recipient's changes for as long as the block runs."""
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(_QUEUE_SIZE)
        self._streams.setdefault(recipient, set()).add(queue)
        if self._task is None or self._task.done():
            self._ready.clear()
            self._task = asyncio.create_task(self._run(), name="herald-inbox-hub")
        try:
            await asyncio.wait_for(self._ready.wait(), timeout=5)
            yield queue
        finally:
            streams = self._streams.get(recipient, set())
            streams.discard(queue)
            if not streams:
                self._streams.pop(recipient, None)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        pause = 0.1
        while True:
            try:
                await self._relay()
            except (RedisError, OSError) as exc:
                log.warning("inbox stream subscription lost (%s); again in %.1f s", exc, pause)
                await asyncio.sleep(pause)
                pause = min(pause * 2, 5.0)

    async def _relay(self) -> None:
        prefix = len(_PATTERN) - 1
        async with self._redis.pubsub() as pubsub:
            await pubsub.psubscribe(_PATTERN)
            self._ready.set()
            async for message in pubsub.listen():
                if message.get("type") != "pmessage":
                    continue
                recipient = message["channel"].decode()[prefix:]
                for queue in tuple(self._streams.get(recipient, ())):
                    if queue.full():  # a stream that stopped reading loses the oldest change
                        queue.get_nowait()
                    queue.put_nowait(jsonio.loads(message["data"]))
