"""Where the web's CPU per request goes: Herald's app as it is, the same app with a send route
that answers 202 at once (so: uvicorn, FastAPI and Herald's middlewares only), and raw ARQ's
peer web. One web process (no worker) under wrk at 50 connections for SECONDS (default 10) each, twice,
alternated; CPU seconds from /proc (bench.web_cpu's measurement).

    .venv/bin/python -m bench.web_floor
"""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Awaitable, Callable
from typing import TypeVar

from fastapi import FastAPI
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from bench.web_cpu import serve_and_load

ROUNDS = 2
T = TypeVar("T")
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
    run = await serve_and_load(app, log_level="INFO", load="wrk")  # INFO: the request log line, as deployed
    print(f"  {label:<42} {run.figures.requests_per_second:7.0f} req/s  p99 {run.figures.p99_ms:5.0f} ms  "
          f"web CPU {run.cpu_ms:.3f} ms per request  (non-2xx: {run.figures.errors})", flush=True)


async def alternate(apps: dict[str, T], measure: Callable[[str, T], Awaitable[None]], rounds: int = ROUNDS) -> None:
    """Each app once per round, in turn: a before/after pair shares the VM's minute."""
    for round_ in range(1, rounds + 1):
        print(f"round {round_}")
        for label, app in apps.items():
            await measure(label, app)


async def main() -> None:
    if not shutil.which("wrk"):
        raise SystemExit("bench.web_floor needs wrk on PATH")
    await alternate(APPS, measure)


if __name__ == "__main__":
    asyncio.run(main())
