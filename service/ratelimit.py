"""Rate limits shared by every process through Redis: one bucket, whichever process asks.

A limit kept in each process's memory multiplies with the number of processes; this one does
not, at the cost of one Redis round trip per token taken.
"""

from __future__ import annotations

from pathlib import Path

from redis.asyncio import Redis

_SCRIPT = (Path(__file__).parent / "lua" / "take_token.lua").read_text()


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
        self._take = redis.register_script(_SCRIPT)

    async def take(self) -> float:
        """0 when a token was taken, else the seconds until one will be there (nothing taken)."""
        return float(await self._take(keys=self.keys, args=[self.rate, self.burst]))
