"""Herald as a benchmark part runs it: its own Redis, an SMTP sink, the web and one worker."""

from __future__ import annotations

from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

from bench import smtp_sink
from bench.http import wait_ok
from bench.procs import Child, herald_env, start_redis, start_web, start_worker
from service.embedded import RedisServer


@dataclass
class Running:
    redis: RedisServer
    sink: smtp_sink.SmtpSink
    web: Child
    port: int
    worker: Child


async def start_herald(stack: ExitStack, logs: Path, **settings: object) -> Running:
    """Started in that order and stopped with `stack`; `settings` as for `herald_env`."""
    store = start_redis(stack, logs / "redis")
    sink = smtp_sink.start(stack)
    env = herald_env(redis_url=store.url, smtp_url=sink.url, **settings)
    web, port = start_web(stack, env, logs)
    await wait_ok(port, "/healthz", timeout=30, alive=web.check_alive)
    return Running(store, sink, web, port, start_worker(stack, env, logs))
