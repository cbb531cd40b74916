"""History on disk (DATABASE_URL): what Redis keeps per notification with and without it, and how
fast the worker's mover empties Redis while the worker delivers 500 a second.

Each run gets a database of its own on the machine's PostgreSQL (BENCH_POSTGRES, default
postgresql://postgres@127.0.0.1:5432/postgres), dropped at the end.
"""

from __future__ import annotations

import asyncio
import json
import re
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import redis

from bench.http import HttpConnection, post_batches
from bench.pg import fetchval, scratch_database
from bench.procs import API_SECRET, report_problems
from bench.stack import start_herald

AUTH = {"Authorization": f"Bearer {API_SECRET}"}
CAP_SECONDS = 900
_ROUND = re.compile(r"archive: (\d+) notifications moved to PostgreSQL in ([\d.]+) s")


def keyed(n: int) -> dict[str, Any]:
    """With an Idempotency-Key: the case where something of each must stay in Redis."""
    return {"template": "user.welcome", "to": f"user{n}@example.com", "context": {"name": f"User {n}"},
            "idempotency_key": f"order-{n}"}


async def run(count: int, *, rate: int = 500, seconds: int = 40) -> None:
    print(f"== History on disk: Redis per notification over {count:,}, with and without DATABASE_URL", flush=True)
    without = await _resident(count, database_url=None)
    async with scratch_database() as url:
        with_db = await _resident(count, database_url=url)
    print(f"  redis        {without:.0f} bytes per sent notification without DATABASE_URL, {with_db:.0f} with it "
          f"({without / max(with_db, 1):.0f}x less; what stays is the idempotency key and the Message-ID's)")
    print(f"== The mover beside {rate}/s delivery for {seconds} s", flush=True)
    async with scratch_database() as url:
        await _beside_delivery(url, rate=rate, seconds=seconds)


async def _resident(count: int, *, database_url: str | None) -> float:
    """Redis bytes per notification once all are sent (and, with a database, moved)."""
    extra = {"database_url": database_url, "archive_after_seconds": 0} if database_url else {}
    with ExitStack() as stack, tempfile.TemporaryDirectory(prefix="herald-bench-archive-") as tmp:
        herald = await start_herald(stack, Path(tmp), **extra)
        web, port, worker = herald.web, herald.port, herald.worker
        client = stack.enter_context(redis.Redis.from_url(herald.redis.url))
        await asyncio.sleep(2)  # the worker's start-up (and its first writes) before the baseline
        baseline = int(client.info("memory")["used_memory"])
        started = time.monotonic()
        await post_batches(port, AUTH, count, item=keyed, size=500)
        while not await _done(client, database_url, count):
            worker.check_alive()
            if time.monotonic() - started > CAP_SECONDS:
                raise RuntimeError("not done within the cap")
            await asyncio.sleep(1)
        used = int(client.info("memory")["used_memory"]) - baseline
        label = "with" if database_url else "without"
        print(f"  {label:7} DATABASE_URL: {count:,} sent in {time.monotonic() - started:.0f} s, Redis holds "
              f"{used / 2**20:.1f} MiB for them, {used / count:.0f} bytes each", flush=True)
        report_problems(web, worker)
        return used / count


async def _done(client: redis.Redis, database_url: str | None, count: int) -> bool:
    if database_url is None:
        return int(client.zcard("herald:idx:status:sent")) >= count
    moved = await fetchval(database_url, "SELECT count(*) FROM herald_notifications")
    return (moved or 0) >= count and not client.zcard("herald:idx:finished")


async def _beside_delivery(database_url: str, *, rate: int, seconds: int) -> None:
    with ExitStack() as stack, tempfile.TemporaryDirectory(prefix="herald-bench-archive-") as tmp:
        herald = await start_herald(stack, Path(tmp), database_url=database_url, archive_after_seconds=0)
        web, port, worker, sink = herald.web, herald.port, herald.worker, herald.sink
        client = stack.enter_context(redis.Redis.from_url(herald.redis.url))
        conn = HttpConnection(port, AUTH)
        backlog = 0
        started = time.monotonic()
        try:
            for tick in range(seconds * 10):  # a batch of rate/10 every 100 ms
                body = json.dumps({"notifications": [keyed(tick * 1000 + i) for i in range(rate // 10)]})
                status, _ = await conn.request("POST", "/v1/notifications/batch", body.encode())
                if status != 200:
                    raise RuntimeError(f"batch answered {status}")
                backlog = max(backlog, int(client.zcard("herald:idx:finished")))
                await asyncio.sleep(max(0.0, started + (tick + 1) / 10 - time.monotonic()))
        finally:
            conn.close()
        elapsed = time.monotonic() - started
        delivered = len(sink.received)
        worker.check_alive()
        rounds = [(int(m[1]), float(m[2])) for m in _ROUND.finditer(worker.log_path.read_text(errors="replace"))]
        moved, busy = sum(n for n, _ in rounds), sum(s for _, s in rounds)
        print(f"  accepted     {seconds * rate:,} in {elapsed:.1f} s ({seconds * rate / elapsed:.0f}/s); "
              f"delivered meanwhile {delivered:,}")
        print(f"  mover        {len(rounds)} rounds moved {moved:,} to PostgreSQL in {busy:.1f} s of work: "
              f"{moved / max(busy, 1e-9):,.0f} notifications/s while moving, "
              f"{busy / elapsed:.0%} of the time; at most {backlog:,} finished ones waited in Redis")
        print(f"  worker       peak RSS {worker.memory_mib()['peak']:.1f} MiB")
        report_problems(web, worker)
