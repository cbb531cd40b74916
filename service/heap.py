"""The cyclic garbage collector's schedule in the long-running processes (web and workers).

Under load, Python's default schedule (a young collection every 700 net allocations) ran a
collection on most requests: the 50 requests in flight keep a few thousand objects alive at
any moment, and each collection walks them, and every so often the 90,000 objects that
start-up made (modules, routes, templates, clients) as well. That was 5-8% of the web's CPU
per request (py-spy --native; gc.callbacks timed with thread CPU). Herald's per-request
objects are freed by reference counting; cycles are rare, so collecting seldom costs little
memory.
"""

from __future__ import annotations

import gc

# Net allocations between young collections. At 10,000 the collector ran a handful of times in
# 10,000 requests rather than 1,300; the garbage cycles it leaves waiting meanwhile are bounded
# by this count.
YOUNG_THRESHOLD = 10_000


def settle() -> None:
    """Called once start-up is done: what exists now lives as long as the process, so it leaves
    the collector's view (gc.freeze), and young collections run at longer intervals."""
    gc.collect()
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(YOUNG_THRESHOLD, middle, old)
