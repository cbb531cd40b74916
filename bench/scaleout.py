"""Scale-out on one machine: delivery with 1, 2 and 4 worker processes, the API with 1 and 2 web
processes, and what one notification costs Redis end to end (commands and CPU).

The Redis figures are what the README's capacity estimate rests on: a Redis primary runs
commands on one core, so the CPU it spends per notification bounds how many notifications a
second one primary can carry, however many web and worker processes are added.
"""

from __future__ import annotations

import asyncio
import json
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

import redis

from bench import report
from bench.http import HttpConnection, drive, post_batches, wait_ok
from bench.procs import API_SECRET, BIN, Child, herald_env, start_redis, start_web, start_worker
from bench import smtp_sink
from service.embedded import free_port

SMTP_DELAY = 0.2
BATCH = 500
CAP_SECONDS = 300


def _redis_work(client: redis.Redis) -> tuple[int, float]:
    """Commands Redis has run (EVALSHA counts as one; the commands inside a script count too), and
    its CPU seconds."""
    stats = client.info("commandstats")
    cpu = client.info("cpu")
    calls = sum(int(v["calls"]) for v in stats.values())
    return calls, float(cpu["used_cpu_user"]) + float(cpu["used_cpu_sys"])


async def _deliveries(workers: int, count: int) -> tuple[float, float, float]:
    """Queue `count` (batch sends: the bulk lane), then drain them with `workers` bulk processes.
    Returns the sustained rate, Redis commands per notification and Redis CPU µs per notification."""
    with ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="herald-bench-scale-")))
        server = start_redis(stack, tmp / "redis")
        smtp = smtp_sink.start(stack, delay=SMTP_DELAY)
        env = herald_env(redis_url=server.url, smtp_url=smtp.url, worker_max_jobs=100, log_level="WARNING")
        web, port = start_web(stack, env, tmp)
        await wait_ok(port, "/healthz", timeout=30, alive=web.check_alive)
        client = stack.enter_context(redis.Redis.from_url(server.url))
        client.config_resetstat()
        await post_batches(port, {"Authorization": f"Bearer {API_SECRET}"}, count)
        for n in range(workers):
            logs = tmp / f"worker{n}"  # a folder each: every worker writes its own bulk.log
            logs.mkdir()
            start_worker(stack, env, logs, bulk=True)
        deadline = time.monotonic() + CAP_SECONDS
        while len(smtp.received) < count and time.monotonic() < deadline:
            await asyncio.sleep(0.2)
        calls, cpu = _redis_work(client)
    return report.sustained_rate(sorted(a.at for a in smtp.received)), calls / count, cpu / count * 1e6


async def _api_rate(webs: int, requests: int) -> tuple[float, str]:
    """POST /v1/notifications from 50 clients against `webs` uvicorn processes (one port)."""
    with ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="herald-bench-scale-web-")))
        server = start_redis(stack, tmp / "redis")
        env = herald_env(redis_url=server.url, smtp_url=f"smtp://127.0.0.1:{free_port()}")
        if webs == 1:
            web, port = start_web(stack, env, tmp)
        else:  # as a platform would run two dynos behind its router, on one port here
            port = free_port()
            web = Child("web", [str(BIN / "uvicorn"), "service.app:app", "--host", "127.0.0.1", "--port", str(port),
                                "--workers", str(webs), "--no-access-log", "--log-level", "warning"],
                        env, tmp / "web.log")
            stack.callback(web.stop)
        await wait_ok(port, "/healthz", timeout=30, alive=web.check_alive)
        body = json.dumps({"template": "user.welcome", "to": "ada@example.com", "context": {"name": "Ada"}}).encode()
        conns = [HttpConnection(port, {"Authorization": f"Bearer {API_SECRET}"}) for _ in range(50)]
        try:
            await drive(conns, lambda _: ("POST", "/v1/notifications", body), 500, time_cap=30)  # warm-up
            samples, elapsed = await drive(conns, lambda _: ("POST", "/v1/notifications", body), requests,
                                           time_cap=60)
        finally:
            for conn in conns:
                conn.close()
    accepted = sum(s.status == 202 for s in samples)
    return accepted / elapsed, report.latency_line(samples)


async def run(*, notifications: int, requests: int) -> None:
    print(f"== Scale-out: {notifications} notifications into a {SMTP_DELAY * 1000:.0f} ms SMTP server with 1, 2 "
          f"and 4 bulk worker processes (WORKER_MAX_JOBS=100 each); POST with 1 and 2 web processes", flush=True)
    for workers in (1, 2, 4):
        rate, commands, cpu_us = await _deliveries(workers, notifications)
        print(f"  {workers} worker(s)  {rate:6.1f} emails/s sustained; Redis {commands:.1f} commands and "
              f"{cpu_us:.0f} µs CPU per notification, accepted and delivered", flush=True)
    for webs in (1, 2):
        rate, latency = await _api_rate(webs, requests)
        print(f"  {webs} web(s)     {rate:6.1f} POST/s at 50 clients, latency ms {latency}", flush=True)
    print(f"  {report.cpu_caveat()}")


if __name__ == "__main__":
    asyncio.run(run(notifications=2000, requests=5000))
