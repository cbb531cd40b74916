"""Part 2: delivery through one ARQ worker to a slow SMTP server that refuses 10% with 451."""

from __future__ import annotations

import asyncio
import json
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

from redis.asyncio import Redis

from bench import report
from bench.http import HttpConnection, Request, Sample, drive, wait_ok
from bench.procs import API_SECRET, herald_env, report_problems, start_redis, start_web, start_worker
from service.keys import STATS_KEY, attempts_key, record_key
from service.store import TERMINAL
from bench import smtp_sink
from bench.smtp_sink import Replies, SmtpSink

SMTP_DELAY = 0.2
TRANSIENT_RATIO = 0.10
POLL_SECONDS = 0.5
PROGRESS_SECONDS = 15
# After the last record turns terminal, keep listening a little: a duplicate send would arrive late.
SETTLE_SECONDS = 2.0


@dataclass
class DeliveryRun:
    notifications: int
    worker_jobs: int = 100
    clients: int = 50
    time_cap: float = 600.0


def notification_request(run_id: str) -> Callable[[int], Request]:
    def request_for(index: int) -> Request:
        body = {"template": "user.welcome", "to": f"user{index}@example.com", "context": {"name": f"User {index}"},
                "idempotency_key": f"bench-{run_id}-{index}"}
        return "POST", "/v1/notifications", json.dumps(body).encode()

    return request_for


async def enqueue(port: int, options: DeliveryRun) -> tuple[list[Sample], float]:
    conns = [HttpConnection(port, {"Authorization": f"Bearer {API_SECRET}"}) for _ in range(options.clients)]
    try:
        request_for = notification_request(uuid.uuid4().hex[:8])
        return await drive(conns, request_for, options.notifications, time_cap=options.time_cap)
    finally:
        for conn in conns:
            conn.close()


def accepted_ids(samples: list[Sample]) -> list[str]:
    return [json.loads(s.body)["id"] for s in samples if s.status == 202]


async def statuses(redis: Redis, ids: list[str]) -> dict[str, str]:
    """Every record's status in one round trip."""
    async with redis.pipeline(transaction=False) as pipe:
        for nid in ids:
            pipe.hget(record_key(nid), "status")
        found = await pipe.execute()
    return {nid: (status or b"missing").decode() for nid, status in zip(ids, found, strict=True)}


async def attempt_durations(redis: Redis, ids: list[str]) -> list[float]:
    """How long each SMTP attempt took as the worker timed it (ms), from the records' attempt lists."""
    async with redis.pipeline(transaction=False) as pipe:
        for nid in ids:
            pipe.lrange(attempts_key(nid), 0, -1)
        lists = await pipe.execute()
    attempts = (json.loads(raw) for each in lists for raw in each)
    return sorted(float(a["duration_ms"]) for a in attempts if a.get("duration_ms") is not None)


async def wait_terminal(redis: Redis, ids: list[str], deadline: float, started: float) -> dict[str, str]:
    """Poll until every record is terminal or the deadline passes; returns the last statuses seen."""
    next_progress = time.monotonic() + PROGRESS_SECONDS
    while True:
        seen = await statuses(redis, ids)
        done = sum(status in TERMINAL for status in seen.values())
        if done == len(ids) or time.monotonic() > deadline:
            return seen
        if time.monotonic() > next_progress:
            print(f"  ... {done}/{len(ids)} terminal after {time.monotonic() - started:.0f} s", flush=True)
            next_progress += PROGRESS_SECONDS
        await asyncio.sleep(POLL_SECONDS)


async def run(options: DeliveryRun) -> None:
    print(f"== Part 2: delivery of {options.notifications} notifications, 1 web + 1 worker "
          f"(WORKER_MAX_JOBS={options.worker_jobs}), SMTP {SMTP_DELAY * 1000:.0f} ms/message, "
          f"{TRANSIENT_RATIO:.0%} answered 451", flush=True)
    cpu_before = time.process_time()
    with ExitStack() as stack:  # closing it stops every process started, last first, even on errors
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="herald-bench-delivery-")))
        redis_server = start_redis(stack, tmp / "redis")
        smtp, replies = start_smtp(stack)
        env = herald_env(redis_url=redis_server.url, smtp_url=smtp.url, retry_base_seconds=1, retry_max_seconds=5,
                         max_tries=8, worker_max_jobs=options.worker_jobs)
        web, port = start_web(stack, env, tmp)
        worker = start_worker(stack, env, tmp)
        # /readyz answers 200 only once the worker has written its health key.
        await wait_ok(port, "/readyz", timeout=60, alive=lambda: (web.check_alive(), worker.check_alive()))
        outcome = await measure(options, port, redis_server.url, replies)
        outcome.received = smtp.notification_ids()
        outcome.arrivals = sorted(a.at for a in smtp.received)
        print_figures(options, outcome, replies)
        # Read before the stack stops the processes: /proc/<pid> goes with them.
        print(f"  worker       {report.usage(worker.memory_mib(), worker.cpu_seconds())}")
        print(f"  web          {report.usage(web.memory_mib(), web.cpu_seconds())}")
        print(f"  benchmark    CPU {time.process_time() - cpu_before:.1f} s in this process (load generator, "
              "SMTP server, polling)")
        report_problems(web, worker)
    print(f"  {report.cpu_caveat()}", flush=True)


def start_smtp(stack: ExitStack) -> tuple[SmtpSink, Replies]:
    smtp = smtp_sink.start(stack, delay=SMTP_DELAY, transient_ratio=TRANSIENT_RATIO)
    return smtp, smtp.replies


@dataclass
class Outcome:
    samples: list[Sample]
    enqueue_seconds: float
    started: float  # time.monotonic() of the first POST
    ids: list[str]
    final: dict[str, str]
    stats: dict[str, int]  # the worker's own outcome counters, herald:stats
    durations: list[float]  # ms per SMTP attempt, sorted
    received: list[str] = field(default_factory=list)
    arrivals: list[float] = field(default_factory=list)  # time.monotonic() of each accepted message, sorted


async def measure(options: DeliveryRun, port: int, redis_url: str, replies: Replies) -> Outcome:
    redis = Redis.from_url(redis_url)
    try:
        started = time.monotonic()
        samples, enqueue_seconds = await enqueue(port, options)
        ids = accepted_ids(samples)
        final = await wait_terminal(redis, ids, started + options.time_cap, started)
        await asyncio.sleep(SETTLE_SECONDS)
        # Outcome totals only: the other fields are the metrics' breakdowns and histograms.
        stats = {k.decode(): int(v) for k, v in (await redis.hgetall(STATS_KEY)).items() if b"|" not in k}
        durations = await attempt_durations(redis, ids)
    finally:
        await redis.aclose()
    return Outcome(samples, enqueue_seconds, started, ids, final, stats, durations)


def print_figures(options: DeliveryRun, outcome: Outcome, replies: Replies) -> None:
    print_throughput(options, outcome, replies)
    print_integrity(outcome)
    print(f"  SMTP DATA    {replies.codes['250']} x 250, {replies.codes['451']} x 451 served; "
          f"messages received {len(outcome.received)}")
    print(f"  worker stats herald:stats {dict(sorted(outcome.stats.items()))}")
    if outcome.durations:
        d = outcome.durations
        print(f"  attempt ms   p50 {report.percentile(d, 50):.0f}  p90 {report.percentile(d, 90):.0f}  "
              f"p99 {report.percentile(d, 99):.0f}  max {d[-1]:.0f}  (one SMTP conversation, timed by the worker)")


def print_throughput(options: DeliveryRun, outcome: Outcome, replies: Replies) -> None:
    print(f"  enqueued     {len(outcome.ids)} accepted of {options.notifications} POSTs in "
          f"{outcome.enqueue_seconds:.2f} s ({len(outcome.samples) / outcome.enqueue_seconds:.0f}/s), "
          f"non-202: {report.non_202(outcome.samples)}")
    for example in report.first_errors(outcome.samples):
        print(f"    e.g. {example}")
    wall = (replies.last_ok - outcome.started) if replies.last_ok else float("nan")
    delivered = len(set(outcome.received))
    print(f"  wall time    {wall:.2f} s from first POST to last message accepted by SMTP")
    print(f"  sustained    {report.sustained_rate(outcome.arrivals):.1f} emails/s between the 10th and 90th "
          "percentile of arrivals")
    print(f"  delivered    {delivered / wall:.1f} emails/s (SMTP-bound ideal {options.worker_jobs / SMTP_DELAY:.0f}/s"
          f" = {options.worker_jobs} jobs / {SMTP_DELAY * 1000:.0f} ms)")


def print_integrity(outcome: Outcome) -> None:
    """Sent, failed, and the two things that must never happen: lost and duplicated mail."""
    by_status = Counter(outcome.final.values())
    received = Counter(outcome.received)
    lost = [nid for nid in outcome.ids if nid not in received and outcome.final[nid] != "failed"]
    duplicated = {nid: n for nid, n in received.items() if n > 1}
    unexpected = set(received) - set(outcome.ids)
    print("  statuses     " + ", ".join(f"{status}: {n}" for status, n in by_status.most_common()))
    print(f"  sent         {by_status['sent']}")
    print(f"  failed       {by_status['failed']}")
    print(f"  lost         {len(lost)}" + example_ids(lost, outcome.final))
    print(f"  duplicated   {len(duplicated)} notifications, {sum(duplicated.values()) - len(duplicated)} extra "
          "copies" + example_ids(list(duplicated), outcome.final))
    print(f"  unexpected   {len(unexpected)} received messages with no accepted notification id")


def example_ids(ids: list[str], final: dict[str, str], limit: int = 5) -> str:
    if not ids:
        return ""
    return "  e.g. " + ", ".join(f"{nid} ({final.get(nid, '?')})" for nid in ids[:limit])
