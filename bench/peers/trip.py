"""Latency at low load: one notification at a time, from the client's POST to the SMTP server's 250."""

from __future__ import annotations

import asyncio
import random
import time
from dataclasses import dataclass

from bench.http import timed
from bench.peers import client
from bench.peers.arrivals import Arrivals
from bench.report import percentile

POLL_SECONDS = 0.01  # only paces the loop: the arrival time is taken by the SMTP server itself
TRIP_TIMEOUT = 30.0  # two 451s in a row cost ARQ 2 + 4 s of backoff; this leaves room for more
# A random pause before each send: back to back, sends fall in step with a worker that polls (ARQ
# every 0.5 s) and would always wait nearly a whole period, or never.
PAUSE_SECONDS = 0.5


@dataclass
class TripFigures:
    samples: int
    seconds: list[float]  # sorted, those that arrived

    @property
    def missing(self) -> int:
        return self.samples - len(self.seconds)

    def p(self, rank: float) -> float | None:
        return percentile(self.seconds, rank) if self.seconds else None


async def one_trip(port: int, arrivals: Arrivals, index: int, timeout: float = TRIP_TIMEOUT) -> float | None:
    """Seconds from sending the POST to the SMTP server accepting the message; None if it did not arrive."""
    # A new connection each time: uvicorn drops one idle for 5 s, as it is while a retry waits.
    conn = client.connections(port, 1)[0]
    sent = time.monotonic()
    try:
        sample = await timed(conn, index, client.welcome(index))
    finally:
        conn.close()
    if sample.status != 202:
        return None
    nid = client.accepted_id(sample.body)
    while time.monotonic() - sent < timeout:
        arrived = arrivals.first(nid)
        if arrived is not None:
            return arrived - sent
        await asyncio.sleep(POLL_SECONDS)
    return None


async def measure(port: int, arrivals: Arrivals, samples: int) -> TripFigures:
    pauses = random.Random(7)
    seconds = []
    for index in range(samples):
        await asyncio.sleep(pauses.uniform(0, PAUSE_SECONDS))
        seconds.append(await one_trip(port, arrivals, index))
    return TripFigures(samples, sorted(s for s in seconds if s is not None))
