"""Redis restarted under load (AOF, appendfsync always): nothing acknowledged is lost, schedules
are kept, the API answers 503 while it is down and the worker reconnects by itself."""

from __future__ import annotations

import os
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import redis

from service.embedded import RedisServer, free_port
from tests.support.herald import API_KEY, AUTH
from tests.support.smtp import ScriptedSMTP
from tests.support.herald import Herald, wait_until

pytestmark = pytest.mark.e2e
OUTAGE_SECONDS = 10


@pytest.fixture
def durable_redis(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(workdir=tmp_path / "aof", durable=True).start()
    yield server
    server.stop()


def status_counts(url: str, ids: list[str]) -> Counter[str]:
    with redis.Redis.from_url(url) as client:
        pipe = client.pipeline(transaction=False)
        for nid in ids:
            pipe.hget(f"herald:n:{nid}", "status")
        return Counter((s or b"missing").decode() for s in pipe.execute())


def test_redis_restart_loses_nothing(durable_redis: RedisServer, smtp: ScriptedSMTP):
    smtp.script.delay = 0.3
    env = dict(os.environ) | {
        "REDIS_URL": durable_redis.url, "SMTP_URL": smtp.url, "MAIL_FROM": "Acme <no-reply@acme.test>",
        "API_KEYS": f"test:{API_KEY}", "SECRET_KEY": "restart-secret-key-0123", "PORT": str(free_port()),
        "WORKER_MAX_JOBS": "4", "JOB_TIMEOUT_SECONDS": "30", "SMTP_TIMEOUT_SECONDS": "3",
        "RETRY_BASE_SECONDS": "0.2", "RETRY_MAX_SECONDS": "1", "SWEEP_GRACE_SECONDS": "2",
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    herald = Herald(env)
    herald.start("web")
    worker = herald.start("worker")
    try:
        herald.wait_web()
        ids = _post(herald, 12, {}) + _post(herald, 5, {"delay": 4})
        wait_until(lambda: status_counts(durable_redis.url, ids)["sending"] >= 2, 20, "sends in flight")
        durable_redis.stop()

        down = httpx.post(f"{herald.base}/v1/notifications", headers=AUTH, timeout=15,
                          json={"template": "user.welcome", "to": "x@example.com", "context": {"name": "X"}})
        assert down.status_code == 503 and down.headers["Retry-After"]
        assert httpx.get(f"{herald.base}/readyz", timeout=15).status_code == 503
        # Long enough that the worker's own polling meets the outage, not only its in-flight jobs.
        time.sleep(OUTAGE_SECONDS)
        assert worker.poll() is None, "the worker died with Redis"

        durable_redis.start()
        wait_until(lambda: status_counts(durable_redis.url, ids)["sent"] == len(ids), 60, "all sent")
        assert worker.poll() is None
        received = Counter(smtp.notification_ids())
        assert set(received) == set(ids)
        print(f"\nredis restart: {len(ids)} accepted, {len(received)} delivered, "
              f"{sum(received.values()) - len(received)} duplicated")
        assert sum(received.values()) - len(received) <= 4  # at most the sends in flight
    finally:
        herald.stop_all()


def _post(herald: Herald, count: int, extra: dict) -> list[str]:
    ids = []
    with httpx.Client(base_url=herald.base, headers=AUTH, timeout=10) as client:
        for n in range(count):
            body = {"template": "user.welcome", "to": f"r{n}@example.com", "context": {"name": "R"}} | extra
            response = client.post("/v1/notifications", json=body)
            assert response.status_code == 202, response.text
            ids.append(response.json()["id"])
    return ids
