"""Redis round trips per delivered message in the worker, ARQ's own included, counted by command.

COUNT notifications (3000) are queued first; then a burst worker drains them into an SMTP server that
answers at once. The worker runs in a child process whose redis-py connections count each
request they send (a pipeline is one, named by its first command; a script is named by its
file). Like bench.worker_cpu, HERALD_ROOT picks the checkout whose code runs:

    HERALD_ROOT=/tmp/old .venv/bin/python -m bench.worker_roundtrips
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from contextlib import ExitStack

from bench.worker_cpu import ROOT, queued

# Runs in the child, from HERALD_ROOT, so that it needs nothing of this checkout's bench package.
_CHILD = r"""
import asyncio, hashlib, json, re, sys
from collections import Counter
from pathlib import Path
import arq.worker
import jobs
from redis.asyncio.connection import Connection

lua = Path("service/lua")
common = (lua / "common.lua").read_text()
scripts = {hashlib.sha1((common + "\n" + f.read_text()).encode()).hexdigest().encode(): f.stem
           for f in lua.glob("*.lua")}
import jobs.starter
for source, label in ((getattr(jobs.starter, "_START", ""), "job start"), (getattr(jobs.starter, "_FINISH", ""), "job finish")):
    scripts[hashlib.sha1(source.encode()).hexdigest().encode()] = label
head = re.compile(rb"\*\d+\r\n\$\d+\r\n(\w+)\r\n(?:\$\d+\r\n(\w+)\r\n)?")
counts = Counter()
original = Connection.send_packed_command

async def counted(self, command, check_health=True):
    first = command if isinstance(command, (bytes, bytearray)) else command[0]
    name, arg = head.match(bytes(first[:200])).groups()
    name = name.upper().decode()
    counts[f"{name} {scripts.get(arg, 'other')}" if name == "EVALSHA" else name] += 1
    return await original(self, command, check_health)

Connection.send_packed_command = counted

async def main():
    # The class `arq jobs.WorkerSettings` builds: resolving the settings may choose it.
    settings = jobs.WorkerSettings
    worker = arq.worker.Worker(**settings, burst=True, handle_signals=False)
    try:
        await worker.main()
    finally:
        await worker.close()
    print(json.dumps({"jobs": worker.jobs_complete, "counts": counts}))

asyncio.run(main())
"""


def _drain(env: dict[str, str]) -> tuple[int, dict[str, int]]:
    env = env | {"PYTHONPATH": ROOT}
    done = subprocess.run([sys.executable, "-c", _CHILD], env=env, cwd=ROOT, capture_output=True, text=True,
                          check=True)
    answer = json.loads(done.stdout.strip().splitlines()[-1])
    return answer["jobs"], answer["counts"]


async def main() -> None:
    with ExitStack() as stack:
        _, _, env = await queued(stack, "herald-bench-rtt-")
        jobs, counts = _drain(env)
        total = sum(counts.values())
        print(f"{ROOT}: {jobs} jobs, {total} round trips = {total / jobs:.2f} per delivered message")
        for name, n in sorted(counts.items(), key=lambda item: -item[1]):
            print(f"  {name:<22} {n / jobs:6.3f} per message")


if __name__ == "__main__":
    asyncio.run(main())
