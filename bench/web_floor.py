"""Where the web's CPU per request goes: Herald's app as it is, the same app with a send route
that answers 202 at once (so: uvicorn, FastAPI and Herald's middlewares only), and raw ARQ's
peer web. One web process (no worker) under wrk at 50 connections, SECONDS each, ROUNDS times
alternated; CPU seconds from /proc.

    .venv/bin/python -m bench.web_floor
"""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
from contextlib import ExitStack
from pathlib import Path

from fastapi import FastAPI
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from bench.http import wait_ok
from bench.peers.api_load import run_wrk
from bench.procs import BIN, Child, herald_env, start_redis
from service.embedded import free_port

SECONDS = float(os.environ.get("SECONDS", "8"))
ROUNDS = int(os.environ.get("ROUNDS", "2"))
APPS = {
    "Herald": ["service.app:app"],
    "Herald, send route answering 202 at once": ["bench.web_floor:constant_app", "--factory"],
    "raw ARQ peer": ["bench.peers.arq_peer:app"],
}


def constant_app() -> FastAPI:
    from service.factory import create_app

    async def accepted(request: Request) -> Response:
        await request.body()
        return Response(b'{"id":"x"}', status_code=202, media_type="application/json")

    app = create_app()
    app.router.routes.insert(0, Route("/v1/notifications", accepted, methods=["POST"]))
    return app


async def measure(label: str, app: list[str]) -> None:
    with ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="herald-bench-floor-")))
        server = start_redis(stack, tmp / "redis")
        env = herald_env(redis_url=server.url, smtp_url="smtp://127.0.0.1:9")
        port = free_port()
        web = Child("web", [str(BIN / "uvicorn"), *app, "--host", "127.0.0.1", "--port", str(port)], env,
                    tmp / "web.log")
        stack.callback(web.stop)
        await wait_ok(port, "/healthz", timeout=30, alive=web.check_alive)
        await run_wrk(port, 2)  # warm up
        cpu = web.cpu_seconds()
        figures = await run_wrk(port, SECONDS)
        per_request = (web.cpu_seconds() - cpu) / (figures.requests_per_second * SECONDS) * 1000
        print(f"  {label:<42} {figures.requests_per_second:7.0f} req/s  p99 {figures.p99_ms:5.0f} ms  "
              f"web CPU {per_request:.3f} ms per request  (non-2xx: {figures.errors})", flush=True)


async def main() -> None:
    if not shutil.which("wrk"):
        raise SystemExit("bench.web_floor needs wrk on PATH")
    for round_ in range(1, ROUNDS + 1):
        print(f"round {round_}")
        for label, app in APPS.items():
            await measure(label, app)


if __name__ == "__main__":
    asyncio.run(main())
