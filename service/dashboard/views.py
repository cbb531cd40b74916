"""What the dashboard's overview shows, read from Redis in as few round trips as it can."""

from __future__ import annotations

import time
from dataclasses import dataclass
from redis.asyncio import Redis

from service import timeline
from service.dashboard.chart import Chart, chart
from service.queue import BULK_WORKER_HEALTH_KEY, WORKER_HEALTH_KEY, ask_depths, read_depths
from service.keys import PENDING_KEY, SUPPRESSED_KEY, status_index


@dataclass(frozen=True)
class Worker:
    lane: str
    alive: bool
    report: str  # ARQ's own health line: jobs complete, failed, retried, ongoing, queued
    served: bool = False  # no worker of its own, but the default lane's worker serves it


@dataclass(frozen=True)
class Overview:
    due: dict[str, int]  # by lane: jobs that could start now
    deferred: dict[str, int]  # by lane: scheduled reminders and retries waiting for their time
    pending: int
    scheduled: int
    dead_letters: int
    suppressed: int
    workers: list[Worker]
    throughput: Chart
    depth: Chart
    last_hour: dict[str, int]


async def overview(redis: Redis, *, now: float | None = None) -> Overview:
    now = time.time() if now is None else now
    now_ms = int(now * 1000)
    async with redis.pipeline(transaction=False) as pipe:
        pipe.zcard(PENDING_KEY).zcard(status_index("scheduled")).zcard(status_index("failed")).hlen(SUPPRESSED_KEY)
        pipe.get(WORKER_HEALTH_KEY).get(BULK_WORKER_HEALTH_KEY)
        ask_depths(pipe, now_ms)
        pending, scheduled, failed, suppressed, health, bulk_health, *replies = await pipe.execute()
    depths = read_depths(replies)
    minutes = await timeline.last_hour(redis, now=now)
    return Overview(
        due={lane: due for lane, (due, _) in depths.items()},
        deferred={lane: deferred for lane, (_, deferred) in depths.items()},
        pending=pending, scheduled=scheduled, dead_letters=failed, suppressed=suppressed,
        workers=[_worker("default", health), _worker("bulk", bulk_health, served=health is not None)],
        throughput=chart([("accepted", "accepted", [m.get("accepted") for m in minutes]),
                          ("sent", "sent", [m.get("sent") for m in minutes]),
                          ("retried", "retried", [m.get("retrying") for m in minutes]),
                          ("failed", "failed", [m.get("failed") for m in minutes]),
                          ("suppressed", "suppressed", [m.get("suppressed") for m in minutes]),
                          ("bounced", "bounced", [m.get("ev_bounced") for m in minutes]),
                          ("complained", "complained", [m.get("ev_complained") for m in minutes])]),
        depth=chart([("due jobs", "depth", [m.depth for m in minutes])]),
        last_hour=_totals(minutes),
    )


def _worker(lane: str, health: bytes | None, *, served: bool = False) -> Worker:
    return Worker(lane=lane, alive=health is not None, report=health.decode() if health else "", served=served)


def _totals(minutes: list[timeline.Minute]) -> dict[str, int]:
    fields = {"accepted": "accepted", "sent": "sent", "retried": "retrying", "failed": "failed",
              "suppressed": "suppressed", "bounced": "ev_bounced", "complained": "ev_complained"}
    return {label: sum(m.get(field) for m in minutes) for label, field in fields.items()}
