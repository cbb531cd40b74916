"""End to end: the Procfile's two processes as subprocesses, over a real Redis and SMTP server.

Includes the two ways a deploy stops a worker: SIGKILL mid-stream (nothing lost) and SIGTERM
(nothing lost, nothing sent twice).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import httpx
import pytest
import redis

from service.dev import read_procfile
from service.embedded import free_port
from tests.support.herald import API_KEY, ROOT, Herald, post_many, statuses, wait_until
from tests.support.smtp import ScriptedSMTP

pytestmark = pytest.mark.e2e


def test_procfile_processes_deliver_and_report_ready(herald: Herald, redis_url: str, smtp: ScriptedSMTP):
    herald.start("worker")
    ids = post_many(herald, 5)
    wait_until(lambda: statuses(redis_url, ids)["sent"] == 5, 20, "5 sent")
    assert sorted(smtp.notification_ids()) == sorted(ids)
    wait_until(lambda: httpx.get(f"{herald.base}/readyz").status_code == 200, 15, "readyz")
    metrics = httpx.get(f"{herald.base}/metrics").text
    assert 'herald_delivery_outcomes{outcome="sent"} 5.0' in metrics


def test_web_and_worker_alone_deliver_every_lane_promptly(herald: Herald, redis_url: str, smtp: ScriptedSMTP):
    """No `bulk` process: newsletters, batch sends and digests still go out at once (the sweeper's
    grace, 30 s here, is not what moves them)."""
    herald.start("worker")
    wait_until(lambda: httpx.get(f"{herald.base}/readyz").status_code == 200, 15, "a worker")
    with httpx.Client(base_url=herald.base, headers={"Authorization": f"Bearer {API_KEY}"}, timeout=10) as client:
        sent_at = time.monotonic()
        news = client.post("/v1/notifications", json={"template": "newsletter", "to": "ada@example.com",
                                                      "context": {"headline": "H", "body": "B"}}).json()["id"]
        batch = client.post("/v1/notifications/batch", json={"notifications": [
            {"template": "user.welcome", "to": "bob@example.com", "context": {"name": "Bob"}}]}).json()
        folded = client.post("/v1/notifications", json={"template": "reminder", "to": "cy@example.com",
                                                        "context": {"name": "Cy", "title": "T"}, "digest": "daily"})
        assert folded.status_code == 202 and client.post("/v1/digests/flush", json={"period": "daily"}).status_code == 202
    expected = {"ada@example.com", "bob@example.com", "cy@example.com"}
    wait_until(lambda: {m.rcpt_tos[0] for m in smtp.received} == expected, 10, "every lane delivered")
    took = time.monotonic() - sent_at
    print(f"\nnewsletter, batch and digest delivered by web + worker in {took:.2f} s")
    ids = set(smtp.notification_ids())
    assert {news, batch["results"][0]["notification"]["id"]} <= ids
    assert [m.message["Subject"] for m in smtp.received if m.rcpt_tos == ["cy@example.com"]] == \
        ["Your daily digest: 1 update"]


def test_sigkill_mid_stream_loses_nothing(herald: Herald, redis_url: str, smtp: ScriptedSMTP):
    smtp.script.delay = 0.25
    worker = herald.start("worker")
    ids = post_many(herald, 60)
    wait_until(lambda: statuses(redis_url, ids)["sending"] >= 4, 30, "sends in flight")
    worker.send_signal(signal.SIGKILL)
    worker.wait(timeout=10)
    at_kill = statuses(redis_url, ids)
    assert at_kill["sending"] >= 4 and at_kill["sent"] < 60, at_kill

    herald.start("worker")
    wait_until(lambda: statuses(redis_url, ids)["sent"] == 60, 90, "every notification sent")
    received = Counter(smtp.notification_ids())
    assert set(received) == set(ids)
    # Only sends in flight at the kill can repeat (their outcome was unknown), and each says so.
    assert sum(received.values()) - len(ids) <= at_kill["sending"]
    with redis.Redis.from_url(redis_url) as client:
        interrupted = sum(b'"interrupted"' in a for nid in ids for a in client.lrange(f"herald:a:{nid}", 0, -1))
    assert interrupted == at_kill["sending"]


def test_sigterm_finishes_in_flight_sends_and_sends_nothing_twice(
    herald: Herald, redis_url: str, smtp: ScriptedSMTP
):
    smtp.script.delay = 0.4
    worker = herald.start("worker")
    ids = post_many(herald, 40)
    wait_until(lambda: statuses(redis_url, ids)["sending"] >= 4, 30, "sends in flight")
    worker.send_signal(signal.SIGTERM)
    assert worker.wait(timeout=30) == 0
    after_stop = statuses(redis_url, ids)
    assert after_stop["sending"] == 0, after_stop
    assert after_stop["sent"] == len(smtp.received) < 40

    herald.start("worker")
    wait_until(lambda: statuses(redis_url, ids)["sent"] == 40, 60, "every notification sent")
    received = Counter(smtp.notification_ids())
    assert set(received) == set(ids)
    assert max(received.values()) == 1


@pytest.mark.parametrize(
    ("variable", "value"),
    [("REDIS_URL", "http://nope"), ("SMTP_URL", "smtp://host:notaport"), ("MAIL_FROM", ""), ("MAX_TRIES", "zero")],
)
@pytest.mark.parametrize("process", ["web", "worker"])
def test_misconfiguration_stops_with_one_line_naming_the_variable(redis_url, smtp, process, variable, value):
    env = dict(os.environ) | {
        "REDIS_URL": redis_url, "SMTP_URL": smtp.url, "MAIL_FROM": "a@b.test", "API_KEYS": f"t:{API_KEY}",
        "SECRET_KEY": "x" * 32, "PORT": str(free_port()), variable: value,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    command = read_procfile(ROOT / "Procfile")[process].replace("0.0.0.0", "127.0.0.1")
    done = subprocess.run(["bash", "-c", f"exec {command}"], cwd=ROOT, env=env, capture_output=True, timeout=30)
    assert done.returncode != 0
    err = done.stderr.decode()
    assert "Traceback" not in err
    [line] = [ln for ln in err.splitlines() if variable in ln]
    assert line.startswith("herald: configuration error:")
