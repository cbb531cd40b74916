"""Rate limits shared by every process through Redis: one bucket, whichever process asks.

A limit kept in each process's memory multiplies with the number of processes; this one does
not, at the cost of one Redis round trip per token taken.
"""

from __future__ import annotations

import asyncio
import random
from pathlib import Path

from redis.asyncio import Redis

_LUA = Path(__file__).parent / "lua"
_TAKE = (_LUA / "take_token.lua").read_text()
_SLOW_DOWN = (_LUA / "slow_down.lua").read_text()


class TokenBucket:
    """`rate` tokens a second, at most `burst` at once, in the Redis key `key`.

    `slowdown_key`, when given, names a key holding a factor in (0, 1] that any process may set
    (with an expiry) to slow the bucket down for a while, e.g. when a mail server asks for it.
    """

    def __init__(self, redis: Redis, *, key: str, rate: float, burst: float | None = None,
                 slowdown_key: str | None = None) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.rate = rate
        self.burst = max(1.0, burst if burst is not None else rate)
        self.keys = [key] if slowdown_key is None else [key, slowdown_key]
        self.slowdown_key = slowdown_key
        self._take = redis.register_script(_TAKE)
        self._slow_down = redis.register_script(_SLOW_DOWN)

    async def take(self, *, burst: float | None = None) -> float:
        """0 when a token was taken, else the seconds until one will be there (nothing taken).

        A caller allowed a larger `burst` than others gets tokens they are refused: the way to
        let urgent work through a bucket that bulk work keeps full.
        """
        burst = self.burst if burst is None else max(1.0, burst)
        return float(await self._take(keys=self.keys, args=[self.rate, burst]))

    async def wait_for_token(self, *, max_wait: float, burst: float | None = None) -> float:
        """Sleep until a token is taken (0 returned) or, past `max_wait`, give up and return the
        seconds still to wait. Waiters wake a little apart so that a crowd does not ask at once."""
        waited = 0.0
        while (wait := await self.take(burst=burst)) > 0:
            if waited + wait > max_wait:
                return wait
            pause = wait + random.uniform(0, min(wait, 0.05))
            await asyncio.sleep(pause)
            waited += pause
        return 0.0

    async def slow_down(self, *, factor: float = 0.5, floor: float = 0.1, seconds: int = 60) -> float:
        """Multiply the rate by `factor` (not below `floor` of it) for the next `seconds`, shared by
        every process using the bucket; returns the factor now in force."""
        if self.slowdown_key is None:
            raise ValueError("this bucket has no slowdown key")
        return float(await self._slow_down(keys=[self.slowdown_key], args=[factor, floor, seconds]))
