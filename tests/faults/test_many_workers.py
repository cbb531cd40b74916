"""Several worker processes draining one queue: every notification once, none twice."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator

import pytest

from bench.report import sustained_rate
from tests.support.smtp import ScriptedSMTP
from tests.support.herald import Herald, herald_env, post_many, statuses, wait_until

pytestmark = pytest.mark.e2e


@pytest.fixture
def racing(redis_url: str, smtp: ScriptedSMTP) -> Iterator[Herald]:
    """Herald whose sweeper looks at everything more than a second overdue: it runs in every
    worker at start-up, alongside the other workers' live jobs, and must leave them alone."""
    herald = Herald(herald_env(redis_url, smtp.url) | {"SWEEP_GRACE_SECONDS": "1"})
    herald.start("web")
    try:
        herald.wait_web()
        yield herald
    finally:
        herald.stop_all()


@pytest.mark.parametrize("workers", [2, 4])
def test_workers_share_the_queue_without_sending_twice(racing: Herald, redis_url: str, smtp: ScriptedSMTP,
                                                       workers: int):
    smtp.script.delay = 0.05
    smtp.script.transient_ratio = 0.1
    ids = post_many(racing, 200)
    time.sleep(1.5)  # every notification is now overdue by more than the sweeper's grace
    started = time.monotonic()
    for _ in range(workers):
        racing.start("worker")
        time.sleep(0.3)  # later workers sweep while the first ones are sending
    wait_until(lambda: statuses(redis_url, ids)["sent"] == 200, 90, "all 200 sent")
    elapsed = time.monotonic() - started
    received = Counter(smtp.notification_ids())
    assert set(received) == set(ids)
    assert max(received.values()) == 1
    print(f"\n{workers} workers: 200 delivered in {elapsed:.1f} s (figure only; see scripts/bench for speed)")


def test_throughput_grows_with_each_worker(redis_url: str, smtp: ScriptedSMTP):
    """Each worker is held to 4 concurrent sends into a 300 ms server, so a worker's throughput is
    bounded by its concurrency, not by this machine's two CPUs: more workers must deliver more.
    Only ratios within one run are asserted; the figures are printed."""
    herald = Herald(herald_env(redis_url, smtp.url) | {"WORKER_MAX_JOBS": "4"})
    herald.start("web")
    rates = {}
    try:
        herald.wait_web()
        for workers in (1, 2, 4):
            smtp.reset()
            smtp.script.delay = 0.3
            ids = post_many(herald, 120)
            procs = [herald.start("worker") for _ in range(workers)]
            wait_until(lambda: statuses(redis_url, ids)["sent"] == 120, 60, f"120 sent by {workers}")
            for proc in procs:
                proc.terminate()
                proc.wait(timeout=30)
            assert sorted(smtp.notification_ids()) == sorted(ids)  # each once
            rates[workers] = sustained_rate(sorted(r.at for r in smtp.received))
    finally:
        herald.stop_all()
    print("\n" + ", ".join(f"{w} worker(s): {r:.1f} msg/s" for w, r in rates.items())
          + f" (ideal {4 / 0.3:.1f} per worker)")
    assert rates[2] > 1.5 * rates[1]
    assert rates[4] > 2.5 * rates[1]
