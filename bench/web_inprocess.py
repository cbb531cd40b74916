"""The web's CPU per request with no HTTP server and no load generator: the ASGI app called
directly, 50 callers at a time (each waits for its answer before the next, as a keep-alive
connection does), against a real redis-server. What the app costs, apart from uvicorn and wrk
and from most of the VM's noise; the same three apps as bench.web_floor, alternated, ROUNDS times.

    N=10000 .venv/bin/python -m bench.web_inprocess
"""

from __future__ import annotations

import asyncio
import os
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import uvloop
from starlette.types import ASGIApp, Message

from bench.procs import API_SECRET, herald_env, start_redis
from bench.web_floor import alternate

N = int(os.environ.get("N", "10000"))
ROUNDS = int(os.environ.get("ROUNDS", "2"))
CALLERS = 50
WARMUP = 500


def _herald() -> Any:
    from service.factory import create_app

    return create_app()


def _constant() -> Any:
    from bench.web_floor import constant_app

    return constant_app()


def _arq() -> Any:
    from bench.peers.arq_peer import app

    return app


APPS: dict[str, Callable[[], Any]] = {
    "Herald": _herald,
    "Herald, send route answering 202 at once": _constant,
    "raw ARQ peer": _arq,
}


async def _post(app: ASGIApp, n: int, statuses: Counter[int]) -> None:
    body = b'{"template": "user.welcome", "to": "user%d@example.com", "context": {"name": "User %d"}}' % (n, n)
    headers = [(b"host", b"127.0.0.1"), (b"content-type", b"application/json"),
               (b"authorization", b"Bearer " + API_SECRET.encode()), (b"content-length", b"%d" % len(body))]
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "scheme": "http",
             "path": "/v1/notifications", "raw_path": b"/v1/notifications", "query_string": b"", "root_path": "",
             "server": ("127.0.0.1", 8000), "client": ("127.0.0.1", 50000), "headers": headers}
    messages = [{"type": "http.request", "body": body, "more_body": False}]

    async def receive() -> Message:
        if messages:
            return messages.pop()
        await asyncio.Event().wait()  # no disconnect while the app answers
        raise AssertionError

    async def send(message: Message) -> None:
        if message["type"] == "http.response.start":
            statuses[message["status"]] += 1

    await app(scope, receive, send)


async def _load(app: ASGIApp, start: int, count: int, statuses: Counter[int]) -> None:
    async def caller(offset: int) -> None:
        for n in range(start + offset, start + count, CALLERS):
            await _post(app, n, statuses)

    await asyncio.gather(*(caller(offset) for offset in range(CALLERS)))


async def measure(label: str, build: Callable[[], Any]) -> None:
    app = build()
    async with app.router.lifespan_context(app):
        statuses: Counter[int] = Counter()
        await _load(app, 0, WARMUP, statuses)
        cpu, wall = time.process_time(), time.perf_counter()
        await _load(app, WARMUP, N, statuses)
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    print(f"  {label:<42} {cpu / N * 1e6:5.0f} µs CPU per request  ({N / wall:5.0f} req/s, "
          f"answers {dict(statuses)})", flush=True)


async def main() -> None:
    with ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="herald-bench-inprocess-")))
        server = start_redis(stack, tmp / "redis")
        # The apps read their settings from the environment, as they do when deployed; WARNING keeps
        # the request log lines (a few µs each) out of this terminal.
        os.environ.update(herald_env(redis_url=server.url, smtp_url="smtp://127.0.0.1:9", log_level="WARNING"))
        await alternate(APPS, measure, ROUNDS)


if __name__ == "__main__":
    uvloop.run(main())
