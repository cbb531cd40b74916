"""SEND_RATE_PER_SECOND: one send rate for every worker together, slowed when the server asks.

The bucket lives in Redis (service.ratelimit), so two workers or twenty share the one rate. The
default lane may run ahead of the bulk lane by a fifth of a second's worth of sends: a password
reset gets a token that a newsletter is refused, and the total stays at the rate.
"""

from __future__ import annotations

import logging

from redis.asyncio import Redis
from redis.exceptions import RedisError

from jobs.smtp import Outcome, asks_to_slow_down
from service.ratelimit import TokenBucket

log = logging.getLogger("herald.throttle")
BUCKET_KEY = "herald:rate:send"
SLOWDOWN_KEY = "herald:rate:send:slow"


class SendThrottle:
    def __init__(self, redis: Redis, *, rate: float) -> None:
        self.bucket = TokenBucket(redis, key=BUCKET_KEY, rate=rate, burst=1, slowdown_key=SLOWDOWN_KEY)
        self.urgent_burst = max(2.0, rate / 5)

    def burst(self, *, bulk: bool) -> float:
        """One worker serves both lanes, so the lane is the job's, not the worker's."""
        return 1.0 if bulk else self.urgent_burst

    async def admit(self, *, max_wait: float, bulk: bool) -> float:
        """0 once this send may go; otherwise the seconds to defer it by. Longer waits than
        `max_wait` go back to the queue rather than hold a job slot and eat the job's time."""
        return await self.bucket.wait_for_token(max_wait=max_wait, burst=self.burst(bulk=bulk))

    async def observe(self, outcome: Outcome) -> None:
        """Never raises: it runs after a send, whose outcome must still be recorded."""
        if not asks_to_slow_down(outcome):
            return
        try:
            factor = await self.bucket.slow_down()
        except RedisError as exc:
            log.warning("could not slow the send rate down: %s", exc)
        else:
            # The code only: a 4.7.x reply's text often holds the recipient's address.
            log.warning("the SMTP server asked us to slow down (%s): sending at %.0f%% of "
                        "SEND_RATE_PER_SECOND for a minute", outcome.code, factor * 100)
