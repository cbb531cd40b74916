"""The API phase: POST /v1/notifications from 50 keep-alive connections for a fixed time, with wrk or Python."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from bench.http import drive
from bench.peers import client
from bench.peers.api import PATH
from bench.procs import API_SECRET
from bench.report import non_202, percentile

WARMUP_REQUESTS = 200
REQUEST_BOUND = 1_000_000  # the time cap ends the Python run; this only keeps it bounded in count too
WRK_THREADS = 2
WRK_SCRIPT = """
counter = 0
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer %s"
request = function()
  counter = counter + 1
  return wrk.format(nil, nil, nil, string.format(
    '{"template": "user.welcome", "to": "user%%d@example.com", "context": {"name": "User %%d"}}', counter, counter))
end
"""
_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3}


@dataclass
class ApiFigures:
    requests_per_second: float
    p50_ms: float
    p99_ms: float
    errors: str  # non-202 answers and failed requests, "0" when none


def generator(choice: str) -> str:
    """'wrk' or 'python': wrk when asked, or when it is on PATH and nothing was asked."""
    if choice == "wrk" and not shutil.which("wrk"):
        raise RuntimeError("--load-generator wrk: wrk is not on PATH")
    if choice == "auto":
        return "wrk" if shutil.which("wrk") else "python"
    return choice


def describe(name: str) -> str:
    if name == "wrk":
        return f"wrk ({shutil.which('wrk')}, {WRK_THREADS} threads, {client.CLIENTS} connections)"
    return f"Python asyncio (bench/http.py) in the benchmark process, {client.CLIENTS} connections"


async def measure(port: int, seconds: float, name: str) -> ApiFigures:
    conns = client.connections(port)
    try:
        await drive(conns, client.welcome, WARMUP_REQUESTS, time_cap=seconds)
        if name == "wrk":
            client.close(conns)  # wrk brings its own 50
            return await run_wrk(port, seconds)
        samples, elapsed = await drive(conns, client.welcome, REQUEST_BOUND, time_cap=seconds)
    finally:
        client.close(conns)
    answered = sorted(s.seconds * 1000 for s in samples if s.status is not None)
    if not answered:
        raise RuntimeError(f"no request was answered: {non_202(samples)}")
    return ApiFigures(len(samples) / elapsed, percentile(answered, 50), percentile(answered, 99), non_202(samples))


async def run_wrk(port: int, seconds: float) -> ApiFigures:
    with tempfile.TemporaryDirectory(prefix="herald-bench-wrk-") as tmp:
        script = Path(tmp) / "post.lua"
        script.write_text(WRK_SCRIPT % API_SECRET)
        process = await asyncio.create_subprocess_exec(
            "wrk", f"-t{WRK_THREADS}", f"-c{client.CLIENTS}", f"-d{seconds:.0f}s", "--timeout", "10s", "--latency",
            "-s", str(script), f"http://127.0.0.1:{port}{PATH}",
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT, env=dict(os.environ))
        output, _ = await asyncio.wait_for(process.communicate(), timeout=seconds + 30)
    return parse_wrk(output.decode(errors="replace"))


def parse_wrk(text: str) -> ApiFigures:
    rate = re.search(r"Requests/sec:\s+([\d.]+)", text)
    if rate is None:
        raise RuntimeError(f"wrk printed no Requests/sec:\n{text}")
    return ApiFigures(float(rate.group(1)), _wrk_percentile(text, 50), _wrk_percentile(text, 99), _wrk_errors(text))


def _wrk_percentile(text: str, rank: int) -> float:
    found = re.search(rf"^\s+{rank}%\s+([\d.]+)(us|ms|s|m)\s*$", text, re.MULTILINE)
    if found is None:
        raise RuntimeError(f"wrk printed no {rank}% latency:\n{text}")
    return float(found.group(1)) * _UNITS[found.group(2)]


def _wrk_errors(text: str) -> str:
    problems = [m.group(0).strip() for m in re.finditer(r"(Non-2xx or 3xx responses: \d+|Socket errors: .*)", text)]
    return "; ".join(problems) or "0"
