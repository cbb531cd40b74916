"""Memory under load: 20,000 notifications queued, then drained by one worker.

Prints the Redis memory each stored notification costs (queued, and once sent with its
attempt), and the peak RSS of the web and worker processes.
"""

from __future__ import annotations

import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

import redis

from bench import smtp_sink
from bench.http import post_batches, wait_ok
from bench.procs import API_SECRET, herald_env, report_problems, start_redis, start_web, start_worker

BATCH = 500
DRAIN_CAP_SECONDS = 600


def _used(client: redis.Redis) -> int:
    return int(client.info("memory")["used_memory"])


def _sent(client: redis.Redis) -> int:
    return int(client.zcard("herald:idx:status:sent"))


async def run(count: int) -> None:
    print(f"== Memory: {count} notifications queued with batches of {BATCH}, then drained by one worker (default settings)", flush=True)
    with ExitStack() as stack, tempfile.TemporaryDirectory(prefix="herald-bench-memory-") as tmp:
        logs = Path(tmp)
        store = start_redis(stack, logs / "redis")
        smtp = smtp_sink.start(stack)
        env = herald_env(redis_url=store.url, smtp_url=smtp.url)
        web, port = start_web(stack, env, logs)
        await wait_ok(port, "/healthz", timeout=30, alive=web.check_alive)
        client = stack.enter_context(redis.Redis.from_url(store.url))
        baseline = _used(client)
        await post_batches(port, {"Authorization": f"Bearer {API_SECRET}"}, count, size=BATCH)
        queued = _used(client) - baseline
        print(f"  redis        {queued / count:.0f} bytes per queued notification "
              f"(record, indexes, audit entry, ARQ job), {queued / 2**20:.1f} MiB in all")
        worker = start_worker(stack, env, logs, bulk=True)  # batch sends take the bulk lane
        started = time.monotonic()
        while _sent(client) < count and time.monotonic() - started < DRAIN_CAP_SECONDS:
            worker.check_alive()
            time.sleep(0.5)
        elapsed = time.monotonic() - started
        sent = _sent(client)
        stored = _used(client) - baseline
        print(f"  drained      {sent} of {count} sent in {elapsed:.1f} s ({sent / elapsed:.0f}/s, SMTP with no delay)")
        print(f"  redis        {stored / count:.0f} bytes per sent notification (with its attempt), "
              f"{stored / 2**20:.1f} MiB in all")
        print(f"  worker       peak RSS {worker.memory_mib()['peak']:.1f} MiB")
        print(f"  web          peak RSS {web.memory_mib()['peak']:.1f} MiB")
        report_problems(web, worker)
