"""Side by side: Herald and the peers in bench/peers/ on one machine, one Redis, one SMTP server.

Each target gets three phases, each on fresh processes and a flushed Redis: API load, delivery of N
notifications, then latency one notification at a time. One table at the end, with Herald's ratios.

The API phase runs first for every target, in rounds (A B C, B C A, C A B ...), and each figure is
the median of a target's rounds: on a shared VM the speed drifts from one minute to the next, and
a target measured once in a slow minute would otherwise look slow. The two ARQ peers serve the
same web app, so the gap between their API figures shows what noise remains.
"""

from __future__ import annotations

import argparse
import os
import statistics
import platform
import tempfile
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

from bench.delivery import SMTP_DELAY, TRANSIENT_RATIO
from bench.peers import api_load, drain, trip
from bench.peers.api_load import ApiFigures
from bench.peers.arrivals import Arrivals
from bench.peers.drain import DrainFigures
from bench.peers.launch import Running, Shared, session
from bench.peers.targets import HERALD_RETRY, TARGETS, Target
from bench.peers.trip import TripFigures
from bench.procs import start_redis


@dataclass
class PeersRun:
    targets: list[str]
    notifications: int
    quick: bool = False
    generator: str = "auto"  # wrk, python, or auto: wrk when on PATH
    api_rounds: int = 3

    @property
    def api_seconds(self) -> float:
        return 5.0 if self.quick else 15.0

    @property
    def samples(self) -> int:
        return 10 if self.quick else 30

    @property
    def cap(self) -> float:
        # Celery prefork sends about 10 a second here: 2,000 take over 200 s.
        return 120.0 if self.quick else 600.0


@dataclass
class Row:
    target: Target
    api: ApiFigures | None = None
    api_rounds: list[ApiFigures] = field(default_factory=list)
    drain: DrainFigures | None = None
    trip: TripFigures | None = None
    web_mib: float = 0.0
    worker_mib: float | None = None
    workers: str = ""  # the worker processes the figure sums, e.g. worker+bulk
    error: str = ""

    def api_rate(self) -> float | None:
        return self.api.requests_per_second if self.api else None

    def delivery_rate(self) -> float | None:
        return self.drain.sustained_rate() if self.drain else None

    def note_memory(self, running: Running) -> None:
        """Peaks are per process lifetime and each phase has its own processes: keep the largest."""
        web, worker = running.peaks()
        self.web_mib = max(self.web_mib, web)
        if worker is not None:
            self.worker_mib = max(self.worker_mib or 0.0, worker)
            self.workers = "+".join(running.worker_names())


def parse_targets(text: str) -> list[str]:
    keys = [key.strip() for key in text.split(",") if key.strip()]
    unknown = [key for key in keys if key not in TARGETS]
    if unknown:
        raise argparse.ArgumentTypeError(f"unknown target(s) {', '.join(unknown)}; choose from {', '.join(TARGETS)}")
    return keys


async def run(options: PeersRun) -> None:
    generator = api_load.generator(options.generator)
    print_header(options, generator)
    with ExitStack() as stack, tempfile.TemporaryDirectory(prefix="herald-bench-peers-") as tmp:
        redis_server = start_redis(stack, Path(tmp) / "redis")
        shared = Shared(redis_server.url, Arrivals(stack), Path(tmp))
        rows = [Row(TARGETS[key]) for key in options.targets]
        await api_rounds(shared, rows, options, generator)
        for row in rows:
            await measure_target(shared, row, options)
    print()
    for line in table(rows) + ratios(rows) + [machine(), f"load gen: {api_load.describe(generator)}"]:
        print(line)


def machine() -> str:
    return f"machine: {os.cpu_count()} CPUs, {platform.platform()}, Python {platform.python_version()}"


def print_header(options: PeersRun, generator: str) -> None:
    print(f"== Peers: side by side{' (--quick)' if options.quick else ''}: {', '.join(options.targets)}")
    print(f"  {machine()}")
    print(f"  load gen     {api_load.describe(generator)}")
    print(f"  SMTP         one server for all, in a process of its own: {SMTP_DELAY * 1000:.0f} ms per message, "
          f"a seeded {TRANSIENT_RATIO:.0%} answered 451 (the same draw for each target); one redis-server, "
          "flushed between phases")
    print(f"  API          {options.api_seconds:.0f} s of POST /v1/notifications, {api_load.WARMUP_REQUESTS} "
          "warm-up requests first; the web process alone, no worker (what accepting costs; BackgroundTasks "
          "still sends); "
          f"{options.api_rounds} rounds over all targets, each figure the median of its target's rounds")
    print(f"  delivery     {options.notifications} notifications; rate between the 10th and 90th percentile "
          f"arrival; lost = never arrived ({options.cap:.0f} s cap, or {drain.QUIET_SECONDS:.0f} s without a "
          "new arrival)")
    print(f"  low load     {options.samples} notifications one at a time, POST sent -> SMTP accepted")
    print("  memory       peak RSS (VmHWM), the largest over the three phases; worker = every worker process "
          "and its children summed (Celery prefork: parent + pool processes)")
    herald_env = ", ".join(f"{k.upper()}={v}" for k, v in HERALD_RETRY.items())
    print(f"  Herald       its Procfile, 1 process per line, defaults except {herald_env}; "
          "'Herald max_jobs 100' also sets WORKER_MAX_JOBS=100", flush=True)


async def api_rounds(shared: Shared, rows: list[Row], options: PeersRun, generator: str) -> None:
    """Every target's API phase, `options.api_rounds` times, each round starting one target later."""
    for round_number in range(options.api_rounds):
        print(f"-- API round {round_number + 1} of {options.api_rounds}", flush=True)
        shift = round_number % len(rows)
        for row in rows[shift:] + rows[:shift]:
            try:
                await _api_round(shared, row, options, generator)
            except Exception as exc:  # one broken target must not hide the others' figures
                failure = f"round {round_number + 1}: {type(exc).__name__}: {exc}"
                row.error = "; ".join(filter(None, [row.error, failure]))
                print(f"  {row.target.label:<19} FAILED {exc}", flush=True)
    for row in rows:
        row.api = _median(row.api_rounds) if row.api_rounds else None


async def _api_round(shared: Shared, row: Row, options: PeersRun, generator: str) -> None:
    # The web alone: on two shared CPUs a busy worker would take the web's CPU, and the fastest
    # deliverer would look like the slowest API. BackgroundTasks sends from its web all the same.
    async with session(shared, row.target, "api", web_only=True) as running:
        figures = await api_load.measure(running.port, options.api_seconds, generator)
        row.api_rounds.append(figures)
        row.note_memory(running)
        print(f"  {row.target.label:<19} {figures.requests_per_second:.0f} requests/s, p50 {figures.p50_ms:.1f} ms, "
              f"p99 {figures.p99_ms:.1f} ms, errors {figures.errors}", flush=True)


def _median(rounds: list[ApiFigures]) -> ApiFigures:
    """Each figure's median over the rounds; errors of every round."""
    errors = "; ".join(figures.errors for figures in rounds if figures.errors != "0") or "0"
    return ApiFigures(statistics.median(f.requests_per_second for f in rounds),
                      statistics.median(f.p50_ms for f in rounds), statistics.median(f.p99_ms for f in rounds), errors)


async def measure_target(shared: Shared, row: Row, options: PeersRun) -> None:
    """Delivery and low-load latency; the API figures came from the rounds before."""
    target = row.target
    print(f"-- {target.label}", flush=True)
    if row.api:
        rates = ", ".join(f"{f.requests_per_second:.0f}" for f in row.api_rounds)
        print(f"  API          median {row.api.requests_per_second:.0f} requests/s (rounds: {rates}), "
              f"p50 {row.api.p50_ms:.1f} ms, p99 {row.api.p99_ms:.1f} ms, errors {row.api.errors}", flush=True)
    started = time.monotonic()
    try:
        # Each phase prints inside its session, so what the logs complain about follows its figures.
        async with session(shared, target, "delivery") as running:
            row.drain = await drain.measure(running.port, shared.arrivals, options.notifications, options.cap,
                                            running.check_alive)
            row.note_memory(running)
            print_drain(row.drain)
        async with session(shared, target, "latency") as running:
            row.trip = await trip.measure(running.port, shared.arrivals, options.samples)
            row.note_memory(running)
            print_trip(row.trip)
    except Exception as exc:  # one broken target must not hide the others' figures
        row.error = "; ".join(filter(None, [row.error, f"{type(exc).__name__}: {exc}"]))
        print(f"  FAILED       {row.error}", flush=True)
    print(f"  memory       web {row.web_mib:.0f} MiB, {row.workers or 'worker'} {_mib(row.worker_mib)} (peak RSS); "
          f"{time.monotonic() - started:.0f} s for delivery and low load", flush=True)


def print_drain(d: DrainFigures) -> None:
    print(f"  delivery     {d.accepted} accepted of {d.posted} in {d.enqueue_seconds:.1f} s "
          f"({d.posted / d.enqueue_seconds:.0f}/s), errors {d.errors}; {len(d.firsts)} delivered, "
          f"{d.refusals} x 451 served; {d.ended}")
    last = f"{d.firsts[-1]:.1f} s" if d.firsts else "-"
    print(f"               sustained {_num(d.sustained_rate(), '.1f')} msg/s, last arrival {last} after the "
          f"first POST, lost {d.lost}, duplicated {d.duplicated}", flush=True)


def print_trip(t: TripFigures) -> None:
    figures = "  ".join(f"p{rank} {_num(_ms(t.p(rank)), '.0f')} ms" for rank in (50, 90, 99))
    print(f"  low load     {figures}  max {_num(_ms(t.p(100)), '.0f')} ms; "
          f"{t.missing} of {t.samples} did not arrive", flush=True)


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else seconds * 1000


def _num(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def _mib(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f} MiB"


# (header, width, cell): the whole table is built from this one list.
COLUMNS: list[tuple[str, int, Callable[[Row], str]]] = [
    ("target", 19, lambda r: r.target.label),
    ("API req/s", 9, lambda r: _num(r.api_rate(), ".0f")),
    ("p50 ms", 7, lambda r: _num(r.api.p50_ms if r.api else None, ".1f")),
    ("p99 ms", 7, lambda r: _num(r.api.p99_ms if r.api else None, ".1f")),
    ("deliv msg/s", 11, lambda r: _num(r.delivery_rate(), ".1f")),
    ("all in s", 8, lambda r: _num(r.drain.all_delivered() if r.drain else None, ".1f")),
    ("lost", 5, lambda r: _num(r.drain.lost if r.drain else None, "d")),
    ("dup", 4, lambda r: _num(r.drain.duplicated if r.drain else None, "d")),
    ("low p50 ms", 10, lambda r: _num(_ms(r.trip.p(50)) if r.trip else None, ".0f")),
    ("low p99 ms", 10, lambda r: _num(_ms(r.trip.p(99)) if r.trip else None, ".0f")),
    ("web MiB", 7, lambda r: _num(r.web_mib or None, ".0f")),
    ("worker MiB", 10, lambda r: _num(r.worker_mib, ".0f")),
]


def table(rows: list[Row]) -> list[str]:
    def line(cells: list[str]) -> str:
        first, *rest = zip(cells, COLUMNS, strict=True)
        return first[0].ljust(first[1][1]) + "".join(" " + cell.rjust(column[1]) for cell, column in rest)

    lines = [line([header for header, _, _ in COLUMNS])]
    lines.append("-" * len(lines[0]))
    lines += [line([cell(row) for _, _, cell in COLUMNS]) for row in rows]
    lines += [f"{row.target.label}: {row.error}" for row in rows if row.error]
    lines.append("all in s: first POST to the last delivery, '-' when any was lost; "
                 "low: one at a time, POST sent -> SMTP 250")
    if any(row.target.key == "background" for row in rows):
        lines.append("deliv msg/s: BackgroundTasks starts every accepted send at once, so its rate is its API's pace")
    summed = [f"{row.target.label} {row.workers}" for row in rows if "+" in row.workers]
    lines.append("worker MiB: peak RSS summed over the worker processes and their children (Celery prefork: "
                 f"parent + pool){'; ' + ', '.join(summed) if summed else ''}")
    return lines


def ratios(rows: list[Row]) -> list[str]:
    heralds = [row for row in rows if row.target.is_herald]
    peers = [row for row in rows if not row.target.is_herald]
    lines: list[str] = []
    for herald in heralds if peers else []:
        lines += ["", f"{herald.target.label} / peer (above 1: Herald does more per second)"]
        for peer in peers:
            api = _ratio(herald.api_rate(), peer.api_rate())
            delivery = _ratio(herald.delivery_rate(), peer.delivery_rate())
            lines.append(f"  vs {peer.target.label:<19} API req/s x{api}   delivery msg/s x{delivery}")
    return lines


def _ratio(ours: float | None, theirs: float | None) -> str:
    return f"{ours / theirs:.2f}" if ours and theirs else "-"
