"""The delivery phase: N notifications enqueued as fast as the API takes them, counted at the SMTP server."""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable
from dataclasses import dataclass

from bench.delivery import SETTLE_SECONDS
from bench.http import drive
from bench.peers import client
from bench.peers.arrivals import Arrivals
from bench import report
from bench.report import non_202

POLL_SECONDS = 0.5
PROGRESS_SECONDS = 15
# No new delivery for this long means the rest are lost: longer than any target's pause between tries
# (ARQ's 4th is 16 s), so only a target that gave up, or forgot, goes this quiet.
QUIET_SECONDS = 30.0


@dataclass
class DrainFigures:
    posted: int
    accepted: int
    errors: str  # non-202 answers, "0" when none
    enqueue_seconds: float
    firsts: list[float]  # seconds from the first POST to each delivered id's first arrival, sorted
    lost: int
    duplicated: int
    refusals: int  # 451s the SMTP server answered
    ended: str  # why the wait stopped

    def sustained_rate(self) -> float | None:
        """Deliveries per second between the 10th and the 90th percentile of arrivals."""
        rate = report.sustained_rate(self.firsts)
        return None if math.isnan(rate) else rate

    def all_delivered(self) -> float | None:
        """Seconds from the first POST until the last one arrived; None while any is lost."""
        return self.firsts[-1] if self.firsts and not self.lost else None


async def wait_for(ids: list[str], arrivals: Arrivals, started: float, cap: float, alive: Callable[[], None]) -> str:
    """Until every id arrived, or nothing new came for QUIET_SECONDS, or `cap` seconds after `started`."""
    arrived, last_change, next_progress = -1, time.monotonic(), time.monotonic() + PROGRESS_SECONDS
    while True:
        times = arrivals.update()
        count = sum(nid in times for nid in ids)
        now = time.monotonic()
        if count != arrived:
            arrived, last_change = count, now
        if count == len(ids):
            return "all arrived"
        if now - last_change > QUIET_SECONDS:
            return f"{len(ids) - count} missing after {QUIET_SECONDS:.0f} s with no new arrival"
        if now - started > cap:
            return f"{len(ids) - count} missing at the {cap:.0f} s cap"
        if now > next_progress:
            print(f"    ... {count}/{len(ids)} delivered after {now - started:.0f} s", flush=True)
            next_progress += PROGRESS_SECONDS
        alive()
        await asyncio.sleep(POLL_SECONDS)


async def measure(port: int, arrivals: Arrivals, count: int, cap: float, alive: Callable[[], None]) -> DrainFigures:
    conns = client.connections(port)
    started = time.monotonic()
    try:
        samples, enqueue_seconds = await drive(conns, client.welcome, count, time_cap=cap)
    finally:
        client.close(conns)
    ids = [client.accepted_id(s.body) for s in samples if s.status == 202]
    ended = await wait_for(ids, arrivals, started, cap, alive)
    await asyncio.sleep(SETTLE_SECONDS)  # a duplicate would come late
    times = arrivals.update()
    delivered = [times[nid] for nid in ids if nid in times]
    return DrainFigures(
        posted=len(samples), accepted=len(ids), errors=non_202(samples), enqueue_seconds=enqueue_seconds,
        firsts=sorted(copies[0] - started for copies in delivered), lost=len(ids) - len(delivered),
        duplicated=sum(len(copies) > 1 for copies in delivered), refusals=arrivals.refusals(), ended=ended)
