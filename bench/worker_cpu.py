"""Worker CPU per delivered message: N notifications queued first, then one `arq jobs.WorkerSettings`
drains them into an SMTP server that answers at once. The worker's CPU seconds come from /proc.

To compare two versions on the same machine in the same minute (the only fair comparison on a
noisy box), point HERALD_ROOT at another checkout: its code is then the one queued and run.

    HERALD_ROOT=/tmp/old .venv/bin/python -m bench.worker_cpu
"""

from __future__ import annotations

import asyncio
import os
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

import redis

from bench import smtp_sink
from bench.http import post_batches, wait_ok
from bench.procs import API_SECRET, BIN, Child, herald_env, start_redis, start_web

# The checkout whose web and worker run (through PYTHONPATH); the benchmark itself is this one.
ROOT = os.environ.get("HERALD_ROOT", str(Path(__file__).resolve().parents[1]))
COUNT = int(os.environ.get("COUNT", "3000"))


async def queued(stack: ExitStack, prefix: str) -> tuple[Path, str, dict[str, str]]:
    """A Redis, the SMTP sink and COUNT notifications queued by ROOT's web (stopped again):
    the folder for logs, the Redis URL and the environment a worker needs."""
    tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix=prefix)))
    server = start_redis(stack, tmp / "redis")
    smtp = smtp_sink.start(stack)
    # One lane, so that one worker serves everything whichever version runs.
    env = herald_env(redis_url=server.url, smtp_url=smtp.url, worker_max_jobs=100, log_level="WARNING",
                     bulk_lane="false", pythonpath=ROOT)
    web, port = start_web(stack, env, tmp)
    await wait_ok(port, "/healthz", timeout=30, alive=web.check_alive)
    await post_batches(port, {"Authorization": f"Bearer {API_SECRET}"}, COUNT)
    web.stop()
    return tmp, server.url, env


async def main() -> None:
    with ExitStack() as stack:
        tmp, redis_url, env = await queued(stack, "herald-bench-cpu-")
        worker = Child("worker", [str(BIN / "arq"), "jobs.WorkerSettings"], env, tmp / "worker.log")
        stack.callback(worker.stop)
        client = stack.enter_context(redis.Redis.from_url(redis_url))
        while not client.hget("herald:stats", "sent"):  # start counting at the first send, not at import
            worker.check_alive()
            await asyncio.sleep(0.01)
        cpu, started, first = worker.cpu_seconds(), time.monotonic(), int(client.hget("herald:stats", "sent") or 0)
        while int(client.hget("herald:stats", "sent") or 0) < COUNT:
            worker.check_alive()
            await asyncio.sleep(0.05)
        sent, spent, wall = COUNT - first, worker.cpu_seconds() - cpu, time.monotonic() - started
        print(f"{ROOT}: {sent} sent in {wall:.2f} s ({sent / wall:.0f}/s); worker CPU {spent:.2f} s = "
              f"{spent / sent * 1000:.2f} ms per message; peak RSS {worker.memory_mib()['peak']:.1f} MiB")


if __name__ == "__main__":
    asyncio.run(main())
