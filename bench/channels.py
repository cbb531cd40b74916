"""Channels beyond email, on one web + one worker process (default settings).

Inbox: STREAMS recipients each have an open SSE stream (/v1/inbox/stream with a recipient
token, read by httpx); N inbox notifications spread over them are POSTed in batches. Printed:
accepted per second (the POSTs alone), streamed per second (first POST to the last item read
from a stream), and each item's time from its batch's 200 to its arrival on the stream, p50/p99.
Slack: N notifications to an incoming webhook on the local Slack-compatible server
(tests/support/slack.py) that takes 100 ms to answer each; deliveries per second from the first
POST to the last message Slack accepted, for one worker.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx

from bench import smtp_sink
from bench.http import post_batches, wait_ok
from bench.procs import API_SECRET, herald_env, report_problems, start_redis, start_web, start_worker
from tests.support.slack import SlackServer

STREAMS = 50
SLACK_LATENCY = 0.1


async def run(*, inbox_items: int, slack_messages: int) -> None:
    print(f"== Channels: {inbox_items} inbox items to {STREAMS} open SSE streams; {slack_messages} Slack "
          f"messages at {SLACK_LATENCY * 1000:.0f} ms a message (web + worker, default settings)", flush=True)
    with ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="herald-bench-channels-")))
        redis_server = start_redis(stack, tmp / "redis")
        smtp = smtp_sink.start(stack)
        slack = stack.enter_context(SlackServer(latency=SLACK_LATENCY))
        env = herald_env(redis_url=redis_server.url, smtp_url=smtp.url, webhook_allow_private="true")
        web, port = start_web(stack, env, tmp)
        worker = start_worker(stack, env, tmp)
        await wait_ok(port, "/readyz", timeout=60, alive=lambda: [c.check_alive() for c in (web, worker)])
        auth = {"Authorization": f"Bearer {API_SECRET}"}
        await _inbox(port, auth, inbox_items)
        await _slack(port, auth, slack, slack_messages)
        print(f"  worker       peak RSS {worker.memory_mib().get('peak', 0):.0f} MiB; "
              f"web peak RSS {web.memory_mib().get('peak', 0):.0f} MiB")
        report_problems(web, worker)


async def _inbox(port: int, auth: dict[str, str], count: int) -> None:
    base = f"http://127.0.0.1:{port}"
    arrived: dict[str, float] = {}
    async with httpx.AsyncClient(base_url=base, headers=auth, timeout=httpx.Timeout(30, read=None)) as client:
        tokens = [(await client.post(f"/v1/recipients/reader{n}/inbox-token")).json()["token"] for n in range(STREAMS)]
        ready = [asyncio.Event() for _ in range(STREAMS)]
        readers = [asyncio.create_task(_read(client, t, arrived, e)) for t, e in zip(tokens, ready, strict=True)]
        await asyncio.gather(*(e.wait() for e in ready))
        started = time.monotonic()
        await post_batches(port, auth, count, size=100, item=lambda n: _mention(n))
        posted = time.monotonic() - started
        deadline = time.monotonic() + 120
        while len(arrived) < count and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        took = max(arrived.values(), default=started) - started
        burst = dict(arrived)
        one_by_one = await _one_at_a_time(client, arrived)
        for task in readers:
            task.cancel()
        await asyncio.gather(*readers, return_exceptions=True)
    print(f"  inbox        {count / posted:.0f} accepted/s (POSTs alone, batches of 100); "
          f"{len(burst)} of {count} streamed, {len(burst) / took:.0f} items/s from the first POST to the last "
          f"item read; an item reached its stream {_spread(burst, started, posted, count)}")
    print(f"  inbox idle   one at a time, from the POST's 202 to the item on its stream: {one_by_one}")


async def _one_at_a_time(client: httpx.AsyncClient, arrived: dict[str, float], count: int = 30) -> str:
    waits = []
    for n in range(count):
        response = await client.post("/v1/notifications", json=_mention(n) | {"idempotency_key": f"alone-{n}"})
        accepted = time.monotonic()
        deadline = accepted + 10
        while f"alone-{n}" not in arrived and time.monotonic() < deadline:
            await asyncio.sleep(0.002)
        waits.append(arrived.get(f"alone-{n}", deadline) - accepted)
        assert response.status_code == 202, response.text
    waits.sort()
    return f"p50 {statistics.median(waits) * 1000:.0f} ms, max {waits[-1] * 1000:.0f} ms ({count} items)"


def _spread(arrived: dict[str, float], started: float, posted: float, count: int) -> str:
    # Items are numbered in POST order; the batch an item was in answered no earlier than its
    # share of the POST time, so `arrival - (started + posted * n / count)` bounds its delay.
    delays = sorted(at - (started + posted * (int(nid.rsplit("-", 1)[1]) + 1) / count) for nid, at in arrived.items())
    if not delays:
        return "(none arrived)"
    p50 = statistics.median(delays)
    p99 = delays[min(len(delays) - 1, int(len(delays) * 0.99))]
    return f"p50 {max(p50, 0) * 1000:.0f} ms, p99 {max(p99, 0) * 1000:.0f} ms after it was accepted"


async def _read(client: httpx.AsyncClient, token: str, arrived: dict[str, float], ready: asyncio.Event) -> None:
    async with client.stream("GET", "/v1/inbox/stream", params={"token": token}) as response:
        event = ""
        async for line in response.aiter_lines():
            if line.startswith("event: "):
                event = line[7:]
            elif line.startswith("data: ") and event == "inbox.counts":
                ready.set()
            elif line.startswith("data: ") and event == "inbox.item":
                arrived.setdefault(json.loads(line[6:])["id"], time.monotonic())


def _mention(n: int) -> dict[str, Any]:
    return {"template": "comment.mention", "recipient": f"reader{n % STREAMS}", "channels": ["inbox"],
            "idempotency_key": f"mention-{n}",
            "context": {"name": "Ada", "author": "Grace", "excerpt": f"comment {n}"}}


async def _slack(port: int, auth: dict[str, str], slack: SlackServer, count: int) -> None:
    started = time.monotonic()
    await post_batches(port, auth, count, item=lambda n: {
        "template": "ops.inquiry", "channels": ["slack"], "slack": {"webhook_url": slack.webhook_url},
        "context": {"name": f"Lead {n}", "email": f"lead{n}@example.com", "message": "a demo"}})
    deadline = time.monotonic() + 300
    while len(slack.posted()) < count and time.monotonic() < deadline:
        await asyncio.sleep(0.02)
    took = time.monotonic() - started
    done = len(slack.posted())
    print(f"  slack        {done / took:.0f} deliveries/s per worker ({done} of {count} in {took:.2f} s, "
          f"{SLACK_LATENCY * 1000:.0f} ms a message: at most {200 / SLACK_LATENCY:.0f}/s with 200 concurrent sends)")
