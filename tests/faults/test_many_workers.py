"""Several worker processes draining one queue: every notification once, none twice."""

from __future__ import annotations

import time
from collections import Counter

import pytest

from tests.support.smtp import ScriptedSMTP
from tests.support.herald import Herald, post_many, statuses, wait_until

pytestmark = pytest.mark.e2e


@pytest.mark.parametrize("workers", [2, 4])
def test_workers_share_the_queue_without_sending_twice(herald: Herald, redis_url: str, smtp: ScriptedSMTP,
                                                       workers: int):
    smtp.script.delay = 0.05
    smtp.script.transient_ratio = 0.1
    ids = post_many(herald, 200)
    started = time.monotonic()
    for _ in range(workers):
        herald.start("worker")
    wait_until(lambda: statuses(redis_url, ids)["sent"] == 200, 90, "all 200 sent")
    elapsed = time.monotonic() - started
    received = Counter(smtp.notification_ids())
    assert set(received) == set(ids)
    assert max(received.values()) == 1
    print(f"\n{workers} workers: 200 delivered in {elapsed:.1f} s (figure only; see scripts/bench for speed)")
