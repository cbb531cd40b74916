"""Web CPU per accepted notification: one web process (no worker) under 50 connections of
POST /v1/notifications (wrk when on PATH, else Python) for SECONDS; its CPU seconds from /proc.

To compare two versions on the same machine in the same minutes, point HERALD_ROOT at another
checkout: its code is then the one served. Alternate the two, several times:

    HERALD_ROOT=/tmp/old .venv/bin/python -m bench.web_cpu; .venv/bin/python -m bench.web_cpu
"""

from __future__ import annotations

import asyncio
import os
import tempfile
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

from bench.http import wait_ok
from bench.peers.api_load import WARMUP_REQUESTS, ApiFigures, generator, measure, run_wrk
from bench.procs import BIN, Child, herald_env, start_redis
from service.embedded import free_port

ROOT = os.environ.get("HERALD_ROOT", str(Path(__file__).resolve().parents[1]))
SECONDS = float(os.environ.get("SECONDS", "10"))


@dataclass
class WebLoad:
    figures: ApiFigures
    generator: str  # "wrk" or "python"
    cpu_ms: float  # web CPU per request
    peak_mib: float


async def serve_and_load(uvicorn_args: list[str], *, log_level: str, load: str = "auto") -> WebLoad:
    """One web process (`uvicorn <uvicorn_args>`) over its own Redis, warmed up, then loaded for SECONDS."""
    with ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="herald-bench-web-")))
        server = start_redis(stack, tmp / "redis")
        env = herald_env(redis_url=server.url, smtp_url="smtp://127.0.0.1:9", log_level=log_level)
        port = free_port()
        web = Child("web", [str(BIN / "uvicorn"), *uvicorn_args, "--host", "127.0.0.1", "--port", str(port)],
                    env, tmp / "web.log")
        stack.callback(web.stop)
        await wait_ok(port, "/healthz", timeout=30, alive=web.check_alive)
        name = generator(load)
        await measure(port, 2, name)  # warm up: imports, first connections, script loading
        cpu = web.cpu_seconds()
        figures = await (run_wrk(port, SECONDS) if name == "wrk" else measure(port, SECONDS, name))
        spent = web.cpu_seconds() - cpu
        # The Python generator's measure() sends its warm-up requests inside the measured span.
        requests = figures.requests_per_second * SECONDS + (0 if name == "wrk" else WARMUP_REQUESTS)
        return WebLoad(figures, name, spent / requests * 1000, web.memory_mib()["peak"])


async def main() -> None:
    # --app-dir puts ROOT first on sys.path, ahead of this checkout's editable install.
    run = await serve_and_load(["service.app:app", "--app-dir", ROOT, "--log-level", "warning"],
                               log_level="WARNING")
    figures = run.figures
    print(f"{ROOT}: {figures.requests_per_second:.0f} req/s ({run.generator}), p50 {figures.p50_ms:.1f} ms, "
          f"p99 {figures.p99_ms:.1f} ms, errors {figures.errors}; web CPU {run.cpu_ms:.3f} ms "
          f"per request; peak RSS {run.peak_mib:.1f} MiB")


if __name__ == "__main__":
    asyncio.run(main())
