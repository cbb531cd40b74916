"""`python -m bench [--quick] [--worker-jobs N] [--part latency|delivery|...|all|peers] [--targets herald,arq100]`.

`--part peers` (side by side with the peers in bench/peers/) is not part of `all`: it takes about 15-20 minutes.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import time

from bench import archive, channels, compare, delivery, events, history_pg, lanes, latency, memory, roundtrips, scaleout


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="a small run: 1,000 requests, 300 notifications")
    parser.add_argument("--worker-jobs", type=int, default=100,
                        help="WORKER_MAX_JOBS for part 2 (default 100, as in the figures before 200 became the default)")
    parser.add_argument("--requests", type=int, help="measured POSTs in part 1 (default 5,000; --quick 1,000)")
    parser.add_argument("--notifications", type=int, help="notifications in part 2 (default 2,000; --quick 300)")
    parser.add_argument("--part", choices=("latency", "roundtrips", "delivery", "lanes", "events", "channels", "scaleout",
                                           "memory", "archive", "history", "all", "peers"),
                        default="all")
    parser.add_argument("--targets", type=compare.parse_targets, default=list(compare.TARGETS),
                        help=f"for --part peers, comma-separated (default all: {','.join(compare.TARGETS)})")
    parser.add_argument("--load-generator", choices=("auto", "wrk", "python"), default="auto",
                        help="for --part peers' API phase (default auto: wrk when on PATH)")
    parser.add_argument("--api-rounds", type=int, default=3,
                        help="for --part peers: API phases per target, interleaved; the median counts (default 3)")
    parser.add_argument("--memory-notifications", type=int, help="notifications in the memory part (default 20,000)")
    parser.add_argument("--archive-notifications", type=int,
                        help="notifications in the archive part's Redis figures (default 100,000; --quick 5,000)")
    parser.add_argument("--history-rows", type=int,
                        help="rows generated in PostgreSQL for the history part (default 10,000,000; --quick 200,000)")
    args = parser.parse_args()
    args.requests = args.requests or (1000 if args.quick else 5000)
    args.notifications = args.notifications or (300 if args.quick else 2000)
    args.memory_notifications = args.memory_notifications or (2000 if args.quick else 20_000)
    args.archive_notifications = args.archive_notifications or (5000 if args.quick else 100_000)
    args.history_rows = args.history_rows or (200_000 if args.quick else 10_000_000)
    return args


async def main(args: argparse.Namespace) -> None:
    print(f"Herald benchmark{' (--quick)' if args.quick else ''}: Python {platform.python_version()}, "
          f"{os.cpu_count()} CPUs, {platform.platform()}", flush=True)
    started = time.monotonic()
    if args.part in ("latency", "all"):
        await latency.run(latency.LatencyRun(requests=args.requests))
    if args.part in ("roundtrips", "all"):
        await roundtrips.run()
    if args.part in ("delivery", "all"):
        await delivery.run(delivery.DeliveryRun(notifications=args.notifications, worker_jobs=args.worker_jobs))
    if args.part in ("lanes", "all"):
        await lanes.run(newsletters=2000 if args.quick else 10_000, resets=5 if args.quick else 10)
    if args.part in ("events", "all"):
        await events.run(reports=500 if args.quick else 2000)
    if args.part in ("channels", "all"):
        await channels.run(inbox_items=500 if args.quick else 2000, slack_messages=500 if args.quick else 2000)
    if args.part in ("scaleout", "all"):
        await scaleout.run(notifications=args.notifications, requests=args.requests)
    if args.part in ("memory", "all"):
        await memory.run(args.memory_notifications)
    if args.part in ("archive", "all"):
        await archive.run(args.archive_notifications, seconds=10 if args.quick else 40)
    if args.part == "history":  # not part of all: generating the rows takes minutes
        await history_pg.run(args.history_rows)
    if args.part == "peers":
        await compare.run(compare.PeersRun(args.targets, args.notifications, args.quick, args.load_generator,
                                                   max(1, args.api_rounds)))
    print(f"benchmark done in {time.monotonic() - started:.0f} s")


if __name__ == "__main__":
    asyncio.run(main(parse_args()))
