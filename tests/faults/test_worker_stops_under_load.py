"""500 notifications in flight to a slow SMTP server when the worker is killed or stopped.

Each test prints its figures (sent, lost, duplicated, time to recover) and asserts the promise:
SIGKILL loses nothing and repeats at most what was mid-send; SIGTERM loses nothing and repeats
nothing.
"""

from __future__ import annotations

import signal
import time
from collections import Counter
from collections.abc import Iterator

import httpx
import pytest
import redis

from tests.support.herald import AUTH, Herald, herald_env, statuses, wait_until
from tests.support.smtp import ScriptedSMTP

pytestmark = pytest.mark.e2e
COUNT = 500
MAX_JOBS = 100
# Batch sends take the bulk lane: its worker process is the one under load.
LANE = "bulk"


@pytest.fixture
def loaded(redis_url: str, smtp: ScriptedSMTP) -> Iterator[tuple[Herald, list[str]]]:
    smtp.script.delay = 0.3
    herald = Herald(herald_env(redis_url, smtp.url) | {"WORKER_MAX_JOBS": str(MAX_JOBS)})
    herald.start("web")
    try:
        herald.wait_web()
        yield herald, _post_in_batches(herald)
    finally:
        herald.stop_all()


def _post_in_batches(herald: Herald) -> list[str]:
    ids: list[str] = []
    with httpx.Client(base_url=herald.base, headers=AUTH, timeout=30) as client:
        for start in range(0, COUNT, 250):
            items = [{"template": "user.welcome", "to": f"load{n}@example.com", "context": {"name": "L"}}
                     for n in range(start, start + 250)]
            results = client.post("/v1/notifications/batch", json={"notifications": items}).json()["results"]
            ids += [r["notification"]["id"] for r in results]
    assert len(ids) == COUNT
    return ids


def _interrupted(redis_url: str, ids: list[str]) -> int:
    with redis.Redis.from_url(redis_url) as client:
        pipe = client.pipeline(transaction=False)
        for nid in ids:
            pipe.lrange(f"herald:a:{nid}", 0, -1)
        return sum(b'"interrupted"' in attempt for attempts in pipe.execute() for attempt in attempts)


def _attempts(redis_url: str, nid: str) -> list[str]:
    with redis.Redis.from_url(redis_url) as client:
        return [a.decode() for a in client.lrange(f"herald:a:{nid}", 0, -1)]


def test_sigkill_with_500_in_flight(loaded, redis_url: str, smtp: ScriptedSMTP):
    herald, ids = loaded
    worker = herald.start(LANE)
    wait_until(lambda: statuses(redis_url, ids)["sending"] >= MAX_JOBS // 2, 30, "sends in flight")
    worker.send_signal(signal.SIGKILL)
    worker.wait(timeout=10)
    at_kill = statuses(redis_url, ids)
    restarted = time.monotonic()
    herald.start(LANE)
    wait_until(lambda: statuses(redis_url, ids)["sent"] == COUNT, 120, "every notification sent")
    recovered = time.monotonic() - restarted
    received = Counter(smtp.notification_ids())
    lost = len(set(ids) - set(received))
    duplicated = sum(received.values()) - len(received)
    print(f"\nSIGKILL: {COUNT} accepted, {at_kill['sending']} mid-send at the kill, {len(received)} sent, "
          f"{lost} lost, {duplicated} duplicated, all sent {recovered:.1f} s after the restart")
    assert lost == 0
    assert duplicated <= at_kill["sending"]
    assert _interrupted(redis_url, ids) == at_kill["sending"]


def test_sigterm_with_500_in_flight(loaded, redis_url: str, smtp: ScriptedSMTP):
    herald, ids = loaded
    # Roomy SMTP timeouts: on a loaded machine a 2 s step timeout can give up on a message the
    # server then accepts, and its retry is a duplicate that has nothing to do with the deploy.
    herald.env |= {"SMTP_TIMEOUT_SECONDS": "10", "JOB_TIMEOUT_SECONDS": "20"}
    worker = herald.start(LANE)
    wait_until(lambda: statuses(redis_url, ids)["sending"] >= MAX_JOBS // 2, 30, "sends in flight")
    stopping = time.monotonic()
    worker.send_signal(signal.SIGTERM)
    assert worker.wait(timeout=30) == 0
    stopped_in = time.monotonic() - stopping
    after_stop = statuses(redis_url, ids)
    assert after_stop["sending"] == 0, after_stop
    herald.start(LANE)
    wait_until(lambda: statuses(redis_url, ids)["sent"] == COUNT, 120, "every notification sent")
    received = Counter(smtp.notification_ids())
    lost = len(set(ids) - set(received))
    duplicated = sum(received.values()) - len(received)
    print(f"\nSIGTERM: {COUNT} accepted, stopped in {stopped_in:.1f} s with {after_stop['sent']} sent, "
          f"{len(received)} sent in all, {lost} lost, {duplicated} duplicated")
    for nid in [n for n, copies in received.items() if copies > 1][:3]:  # what happened, should it fail
        print(f"  {nid}: {_attempts(redis_url, nid)}")
    assert lost == 0 and duplicated == 0
