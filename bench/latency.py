"""Part 1: latency of POST /v1/notifications on one uvicorn process (no worker)."""

from __future__ import annotations

import json
import tempfile
import time
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

from bench import report
from bench.http import HttpConnection, Request, Sample, drive, wait_ok
from bench.procs import API_SECRET, herald_env, report_problems, start_redis, start_web
from service.embedded import free_port

PATH = "/v1/notifications"
BODY = json.dumps({"template": "user.welcome", "to": "ada@example.com", "context": {"name": "Ada"}}).encode()


@dataclass
class LatencyRun:
    requests: int
    warmup: int = 200
    clients: int = 50
    single: int = 500
    batches: int = 20
    batch_clients: int = 4
    time_cap: float = 60.0


BATCH_BODY = json.dumps({"notifications": [
    {"template": "user.welcome", "to": f"user{n}@example.com", "context": {"name": "Ada"}} for n in range(500)
]}).encode()


def post_batch(_: int) -> Request:
    return "POST", PATH + "/batch", BATCH_BODY


def print_batches(options: LatencyRun, samples: list[Sample], elapsed: float) -> None:
    accepted = sum(s.body.count(b'"status_code":202') for s in samples if s.status == 200)
    print(f"  batch        {len(samples)} batches of 500 over {options.batch_clients} clients: "
          f"{accepted} accepted in {elapsed:.2f} s = {accepted / elapsed:.0f} notifications/s, "
          f"latency ms per batch {report.latency_line(samples)}")


def post(_: int) -> Request:
    # No idempotency key: every POST creates a new notification, the common case.
    return "POST", PATH, BODY


async def run(options: LatencyRun) -> None:
    print(f"== Part 1: API latency, POST {PATH}, {options.clients} concurrent keep-alive clients, "
          "1 uvicorn process, no worker", flush=True)
    with ExitStack() as stack:  # closing it stops every process started, last first, even on errors
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="herald-bench-latency-")))
        redis = start_redis(stack, tmp / "redis")
        # Nothing listens on this SMTP port: without a worker, nothing is sent.
        env = herald_env(redis_url=redis.url, smtp_url=f"smtp://127.0.0.1:{free_port()}")
        web, port = start_web(stack, env, tmp)
        await wait_ok(port, "/healthz", timeout=30, alive=web.check_alive)
        conns = [HttpConnection(port, {"Authorization": f"Bearer {API_SECRET}"}) for _ in range(options.clients)]
        try:
            await drive(conns, post, options.warmup, time_cap=options.time_cap)
            cpu_before = time.process_time()
            samples, elapsed = await drive(conns, post, options.requests, time_cap=options.time_cap)
            cpu_used = time.process_time() - cpu_before
            # One client alone: the latency a caller sees when the server is not queueing requests.
            alone, _ = await drive(conns[:1], post, options.single, time_cap=options.time_cap)
            batches, batch_elapsed = await drive(conns[:options.batch_clients], post_batch, options.batches,
                                                 time_cap=options.time_cap)
        finally:
            for conn in conns:
                conn.close()
        print_figures(options, samples, elapsed)
        print(f"  web          {report.usage(web.memory_mib(), web.cpu_seconds())}")
        print(f"  load gen     CPU {cpu_used:.1f} s in this process during the measured run")
        print(f"  1 client     {len(alone)} sequential POSTs, latency ms {report.latency_line(alone)}, "
              f"non-202 {report.non_202(alone)}")
        print_batches(options, batches, batch_elapsed)
        report_problems(web)
    print(f"  {report.cpu_caveat()}", flush=True)


def print_figures(options: LatencyRun, samples: list[Sample], elapsed: float) -> None:
    capped = "time cap reached" if len(samples) < options.requests else "time cap not reached"
    print(f"  requests     {len(samples)} of {options.requests} measured after {options.warmup} warm-up "
          f"({capped}, cap {options.time_cap:.0f} s)")
    print(f"  elapsed      {elapsed:.2f} s")
    print(f"  throughput   {len(samples) / elapsed:.1f} requests/s")
    print(f"  latency ms   {report.latency_line(samples)}")
    print(f"  non-202      {report.non_202(samples)}")
    for example in report.first_errors(samples):
        print(f"    e.g. {example}")
