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
from pathlib import Path

from bench.http import wait_ok
from bench.peers.api_load import WARMUP_REQUESTS, generator, measure, run_wrk
from bench.procs import BIN, Child, herald_env, start_redis
from service.embedded import free_port

ROOT = os.environ.get("HERALD_ROOT", str(Path(__file__).resolve().parents[1]))
SECONDS = float(os.environ.get("SECONDS", "10"))


async def main() -> None:
    with ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="herald-bench-web-")))
        server = start_redis(stack, tmp / "redis")
        env = herald_env(redis_url=server.url, smtp_url="smtp://127.0.0.1:9", log_level="WARNING")
        port = free_port()
        # --app-dir puts ROOT first on sys.path, ahead of this checkout's editable install.
        web = Child("web", [str(BIN / "uvicorn"), "service.app:app", "--app-dir", ROOT, "--host", "127.0.0.1",
                            "--port", str(port), "--log-level", "warning"], env, tmp / "web.log")
        stack.callback(web.stop)
        await wait_ok(port, "/healthz", timeout=30, alive=web.check_alive)
        load = generator("auto")
        await measure(port, 2, load)  # warm up: imports, first connections, script loading
        cpu = web.cpu_seconds()
        figures = await (run_wrk(port, SECONDS) if load == "wrk" else measure(port, SECONDS, load))
        spent = web.cpu_seconds() - cpu
        # The Python generator's measure() sends its warm-up requests inside the measured span.
        requests = figures.requests_per_second * SECONDS + (0 if load == "wrk" else WARMUP_REQUESTS)
        print(f"{ROOT}: {figures.requests_per_second:.0f} req/s ({load}), p50 {figures.p50_ms:.1f} ms, "
              f"p99 {figures.p99_ms:.1f} ms, errors {figures.errors}; web CPU {spent / requests * 1000:.3f} ms "
              f"per request; peak RSS {web.memory_mib()['peak']:.1f} MiB")


if __name__ == "__main__":
    asyncio.run(main())
