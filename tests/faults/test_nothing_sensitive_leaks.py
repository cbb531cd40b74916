"""Nothing sensitive in logs or job payloads: no bodies, no secrets, no SMTP credentials."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
import redis

from service.embedded import free_port
from tests.support.herald import AUTH, Herald, herald_env, statuses, wait_until
from tests.support.smtp import ScriptedSMTP

pytestmark = pytest.mark.e2e
SMTP_USER, SMTP_PASSWORD = "herald-user", "smtp-pass-Zx81q"
CONTEXT_SECRET = "context-value-Qm27v"


def test_logs_and_job_payloads_hold_no_secrets(redis_url: str, tmp_path: Path):
    smtp = ScriptedSMTP(port=free_port(), login=(SMTP_USER, SMTP_PASSWORD)).start()
    env = herald_env(redis_url, f"smtp://{SMTP_USER}:{SMTP_PASSWORD}@127.0.0.1:{smtp.port}")
    herald = Herald(env, logs=tmp_path)
    try:
        herald.start("web")
        herald.wait_web()
        with httpx.Client(base_url=herald.base, headers=AUTH, timeout=10) as client:
            ids = [client.post("/v1/notifications", json={
                "template": "user.password_reset", "to": "ada@example.com",
                "context": {"name": "Ada", "reset_url": f"https://acme.test/reset/{CONTEXT_SECRET}"},
            }).json()["id"]]
            ids.append(client.post("/v1/notifications", json={
                "template": "user.welcome", "to": "ada@example.com", "context": {"name": CONTEXT_SECRET},
                "delay": 3600}).json()["id"])
            client.get("/v1/notifications", headers={"Authorization": "Bearer wrong-key-123"})
            with redis.Redis.from_url(redis_url) as r:
                payload = r.get(f"arq:job:{ids[1]}")
        herald.start("worker")
        wait_until(lambda: statuses(redis_url, ids[:1])["sent"] == 1, 20, "the reset sent")
    finally:
        herald.stop_all()
        smtp.stop()
    [mail] = smtp.received
    assert smtp.login is not None and smtp.login.accepted >= 1  # the credentials were used
    assert CONTEXT_SECRET in mail.message.get_body(("plain",)).get_content()  # it did go where it belongs
    assert CONTEXT_SECRET.encode() not in payload and ids[1].encode() in payload
    logs = "\n".join(p.read_text(errors="replace") for p in tmp_path.glob("*.log"))
    assert "deliver" in logs  # the logs were captured at all
    for secret in (SMTP_PASSWORD, env["SECRET_KEY"], env["API_KEYS"].partition(":")[2], "wrong-key-123",
                   CONTEXT_SECRET, "Reset your Acme password"):
        assert secret not in logs, secret
