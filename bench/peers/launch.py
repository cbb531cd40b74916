"""One target's processes for one phase: started, proven to deliver, measured for memory, stopped."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import ExitStack, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import redis

from bench.http import wait_ok
from bench.peers.arrivals import Arrivals
from bench.peers.targets import WEB, Target, argv
from bench.peers.tree import descendants, kill_leftovers, tree_peak_mib
from bench.peers.trip import one_trip
from bench.procs import PROBLEM_MARKERS, Child
from service.embedded import free_port

STARTUP_SECONDS = 60.0


@dataclass
class Shared:
    """What every target uses in turn: one Redis, one SMTP server, one folder of logs."""

    redis_url: str
    arrivals: Arrivals
    logs: Path


@dataclass
class Running:
    port: int
    children: list[Child]

    def check_alive(self) -> None:
        for child in self.children:
            child.check_alive()

    def worker_names(self) -> list[str]:
        return [c.name for c in self.children if c.name != WEB]

    def peaks(self) -> tuple[float, float | None]:
        """Peak RSS (MiB) of the web, and of all the workers with their children summed (None: no worker)."""
        web = sum(tree_peak_mib(c.pid) for c in self.children if c.name == WEB)
        workers = [tree_peak_mib(c.pid) for c in self.children if c.name != WEB]
        return web, (sum(workers) if workers else None)


def stop_tree(child: Child) -> None:
    # Listed first: once the parent is gone, its orphans can no longer be found by their parent pid.
    pool = descendants(child.pid)
    child.stop()
    if killed := kill_leftovers(pool):
        print(f"    ({child.name} left {len(killed)} children running; killed them: {killed})")


def start(stack: ExitStack, target: Target, shared: Shared, phase: str, *, web_only: bool = False) -> Running:
    port = free_port()
    env = target.environment(redis_url=shared.redis_url, smtp_url=shared.arrivals.url, port=port)
    children = []
    for name, line in target.processes().items():
        if web_only and name != WEB:
            continue
        child = Child(name, argv(line, port), env, shared.logs / f"{target.key}-{phase}-{name}.log")
        stack.callback(stop_tree, child)
        children.append(child)
    return Running(port, children)


async def prove(running: Running, arrivals: Arrivals) -> None:
    """One notification all the way to the SMTP server: every process is up, workers included."""
    arrivals.reset()
    if await one_trip(running.port, arrivals, 0, timeout=STARTUP_SECONDS) is None:
        running.check_alive()
        raise RuntimeError(f"the first notification did not reach the SMTP server in {STARTUP_SECONDS:.0f} s")
    arrivals.reset()


def first_problem(log: str) -> str:
    """The first error line; for a traceback, the exception it ends with (its first unindented line)."""
    lines = log.splitlines()
    for index, line in enumerate(lines):
        if line.startswith("Traceback"):
            return next((after for after in lines[index + 1:] if not after.startswith(" ")), line)
        if any(marker in line for marker in PROBLEM_MARKERS):
            return line
    return ""


def report_problems(running: Running) -> None:
    for child in running.children:
        if found := child.problems():
            example = first_problem(child.log_path.read_text(errors="replace"))
            print(f"    {child.name} log: {len(found)} error/traceback lines, e.g. | {example[:160]}")


@asynccontextmanager
async def session(shared: Shared, target: Target, phase: str, *,
                  web_only: bool = False) -> AsyncIterator[Running]:
    """Fresh processes on a flushed Redis, so no phase inherits another's backlog. `web_only`: the
    web process alone (what accepting costs, the queue absorbing it), nothing proven end to end."""
    try:
        with ExitStack() as stack:  # stops every process started, even on errors
            running = start(stack, target, shared, phase, web_only=web_only)
            await wait_ok(running.port, "/healthz", timeout=STARTUP_SECONDS, alive=running.check_alive)
            if not web_only:
                await prove(running, shared.arrivals)
            yield running
        report_problems(running)
    finally:
        with redis.Redis.from_url(shared.redis_url) as store:
            store.flushall()
