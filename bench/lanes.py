"""Priority lanes: each lane's mail on an idle deployment, then password resets while newsletters drain.

Run twice: web + worker (the worker serves the bulk lane with the slots urgent mail leaves), and
web + worker + bulk. Idle, a welcome and a newsletter are each sent one at a time. Under load, the
newsletters go in through the batch endpoint and take the bulk lane; each password reset is
timed from the moment its POST is sent to the moment the SMTP server accepts it.
"""

from __future__ import annotations

import asyncio
import json
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from redis.asyncio import Redis

from bench import report, smtp_sink
from bench.http import HttpConnection, post_batches, wait_ok
from bench.smtp_sink import SmtpSink
from bench.procs import API_SECRET, herald_env, report_problems, start_redis, start_web, start_worker
from service.queue import BULK_QUEUE_NAME

SMTP_DELAY = 0.2
BATCH = 500


async def run(*, newsletters: int, resets: int) -> None:
    for bulk in (False, True):
        await _deployment(newsletters=newsletters, resets=resets, bulk=bulk)


async def _deployment(*, newsletters: int, resets: int, bulk: bool) -> None:
    processes = "web + worker + bulk" if bulk else "web + worker"
    print(f"== Lanes, {processes}: {resets} password resets, one at a time, while {newsletters} newsletters "
          f"drain (SMTP {SMTP_DELAY * 1000:.0f} ms/message; default settings)", flush=True)
    with ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="herald-bench-lanes-")))
        redis_server = start_redis(stack, tmp / "redis")
        smtp = smtp_sink.start(stack, delay=SMTP_DELAY)
        env = herald_env(redis_url=redis_server.url, smtp_url=smtp.url)
        web, port = start_web(stack, env, tmp)
        workers = [start_worker(stack, env, tmp)] + ([start_worker(stack, env, tmp, bulk=True)] if bulk else [])
        await wait_ok(port, "/readyz", timeout=60, alive=lambda: [w.check_alive() for w in (web, *workers)])
        auth = {"Authorization": f"Bearer {API_SECRET}"}
        conn = HttpConnection(port, auth)
        redis = Redis.from_url(redis_server.url)
        try:
            for name, item in (("welcome", _welcome), ("newsletter", _newsletter)):
                idle = sorted(t * 1000 for t in await _time_each(conn, smtp, [item(n) for n in range(5)]))
                print(f"  idle {name:10} ms p50 {report.percentile(idle, 50):.0f}  max {idle[-1]:.0f} "
                      "(one at a time, POST sent -> accepted by SMTP)", flush=True)
            expected = len(smtp.received) + newsletters + resets
            started = time.monotonic()
            await post_batches(port, auth, newsletters, item=_newsletter, size=BATCH)
            print(f"  newsletters  {newsletters} accepted in {time.monotonic() - started:.1f} s", flush=True)
            timings, backlog = await _time_resets(conn, redis, smtp, resets)
            drained = await _drain_rate(smtp, newsletters, expected, started)
        finally:
            conn.close()
            await redis.aclose()
        ms = sorted(t * 1000 for t in timings)
        print(f"  reset ms     p50 {report.percentile(ms, 50):.0f}  max {ms[-1]:.0f}  "
              f"(accepted -> accepted by SMTP, which itself takes {SMTP_DELAY * 1000:.0f} ms)")
        print(f"  bulk backlog {min(backlog)}-{max(backlog)} newsletters still queued while each reset was sent")
        print(f"  newsletters  {drained:.1f} msg/s from the batch's first POST to the last one accepted by SMTP")
        for worker in workers:
            print(f"  {worker.name:12} {report.usage(worker.memory_mib(), worker.cpu_seconds())}")
        report_problems(web, *workers)


async def _drain_rate(smtp: SmtpSink, newsletters: int, expected: int, started: float, *,
                      timeout: float = 300) -> float:
    deadline = time.monotonic() + timeout
    while len(smtp.received) < expected:
        if time.monotonic() > deadline:
            raise RuntimeError(f"{expected - len(smtp.received)} messages not delivered within {timeout:.0f} s")
        await asyncio.sleep(0.1)
    return newsletters / (max(r.at for r in smtp.received) - started)


def _welcome(n: int) -> dict[str, Any]:
    return {"template": "user.welcome", "to": f"new{n}@example.com", "context": {"name": "Ada"}}


def _newsletter(n: int) -> dict[str, Any]:
    return {"template": "newsletter", "to": f"reader{n}@example.com",
            "context": {"headline": "News", "body": "This week at Acme"}}


async def _time_each(conn: HttpConnection, smtp: SmtpSink, bodies: list[dict[str, Any]]) -> list[float]:
    timings = []
    for body in bodies:
        sent = time.monotonic()
        status, answer = await conn.request("POST", "/v1/notifications", json.dumps(body).encode())
        if status != 202:
            raise RuntimeError(f"POST answered {status}: {answer[:200]!r}")
        timings.append(await _arrival(smtp, json.loads(answer)["id"], deadline=sent + 30) - sent)
        await asyncio.sleep(0.2)
    return timings


async def _time_resets(conn: HttpConnection, redis: Redis, smtp: SmtpSink,
                       count: int) -> tuple[list[float], list[int]]:
    timings, backlog, smtp_ms = [], [], []
    for n in range(count):
        body = {"template": "user.password_reset", "to": f"user{n}@example.com",
                "context": {"name": "Ada", "reset_url": f"https://acme.test/reset/{n}"}}
        sent = time.monotonic()
        status, answer = await conn.request("POST", "/v1/notifications", json.dumps(body).encode())
        if status != 202:
            raise RuntimeError(f"POST answered {status}")
        notification_id = json.loads(answer)["id"]
        arrived = await _arrival(smtp, notification_id, deadline=sent + 30)
        timings.append(arrived - sent)
        smtp_ms.append(await _attempt_ms(conn, notification_id))
        backlog.append(await redis.zcard(BULK_QUEUE_NAME))
        await asyncio.sleep(0.5)
    print(f"  reset SMTP   p50 {report.percentile(sorted(smtp_ms), 50):.0f} ms of that in the SMTP conversation "
          "(timed by the worker)")
    return timings, backlog


async def _attempt_ms(conn: HttpConnection, notification_id: str) -> float:
    for _ in range(100):  # the record is written just after the server's answer
        status, answer = await conn.request("GET", f"/v1/notifications/{notification_id}")
        record = json.loads(answer)
        if status == 200 and record["status"] == "sent":
            return float(record["attempts"][-1]["duration_ms"])
        await asyncio.sleep(0.01)
    raise RuntimeError(f"{notification_id} was not recorded as sent")


async def _arrival(smtp: SmtpSink, notification_id: str, *, deadline: float) -> float:
    while time.monotonic() < deadline:
        for received in reversed(smtp.received):
            if received.message["X-Herald-Notification"] == notification_id:
                return received.at
        await asyncio.sleep(0.005)
    raise RuntimeError(f"{notification_id} was not delivered within 30 s")


if __name__ == "__main__":
    asyncio.run(run(newsletters=10_000, resets=10))
