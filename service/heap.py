"""The cyclic garbage collector's schedule in the long-running processes (web and workers).

Under load, Python's default schedule (a young collection every 700 net allocations) ran
500-1,100 young collections in 10 s of wrk at 50 connections: the requests in flight keep a
few thousand objects alive at any moment, and each collection walks them, and every so often
a full one walks the 90,000 objects start-up made (modules, routes, templates, clients), 41-50 ms
each. py-spy --native put the collector at 8% of the web's samples; timed with gc.callbacks and
the thread's CPU clock it was 0.57 s of those 10 s. Herald's per-request objects are freed by
reference counting (the collections found no cyclic garbage under load), so collecting seldom
holds no more memory.
"""

from __future__ import annotations

import gc

# Net allocations between young collections. At 10,000 the collector ran at most 8 times in the
# same 10 s (0.045-0.06 s in all); the garbage cycles left waiting meanwhile are at most this
# many objects.
YOUNG_THRESHOLD = 10_000


def settle() -> None:
    """Called once start-up is done: what exists now lives as long as the process, so it leaves
    the collector's view (gc.freeze), and young collections run at longer intervals."""
    gc.collect()
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(YOUNG_THRESHOLD, middle, old)
