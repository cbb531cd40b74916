"""A worker SIGKILLed while an HTTP-channel call is under way: the delivery is not lost, the
call is made again under the same webhook-id (so a receiver that got the first can drop the
second), and the record says what happened. Real web and worker processes, a real receiver."""

from __future__ import annotations

import signal
from types import SimpleNamespace

import httpx

from service.channels import http_secret
from tests.support.herald import AUTH, Herald, herald_env, wait_until
from tests.support.receiver import Answer, Receiver
from tests.support.smtp import ScriptedSMTP


def _shown(herald: Herald, nid: str) -> dict[str, object]:
    return httpx.get(f"{herald.base}/v1/notifications/{nid}", headers=AUTH, timeout=5).json()


def test_a_call_cut_by_sigkill_is_made_again_with_the_same_webhook_id(redis_url: str, smtp: ScriptedSMTP) -> None:
    env = herald_env(redis_url, smtp.url) | {"WEBHOOK_ALLOW_PRIVATE": "true"}
    with Receiver(secret=http_secret(SimpleNamespace(http_channel_secret=None, secret_key=env["SECRET_KEY"]))) as hook:
        hook.script = [Answer(200, wait=60)]  # the first call hangs until the worker is gone
        herald = Herald(env)
        try:
            herald.start("web")
            worker = herald.start("worker")
            herald.wait_web()
            sent = httpx.post(f"{herald.base}/v1/notifications", headers=AUTH, timeout=5, json={
                "template": "ops.inquiry", "channels": ["http"], "http": {"url": hook.url},
                "context": {"name": "Grace", "email": "g@example.com", "message": "hi"}})
            assert sent.status_code == 202, sent.text
            nid = sent.json()["id"]
            wait_until(lambda: hook.answering == 1, 20, "the first call to be under way")
            worker.send_signal(signal.SIGKILL)
            worker.wait(10)
            herald.start("worker")
            wait_until(lambda: _shown(herald, nid)["status"] == "sent", 60, "the delivery to be made again")
            attempts = [a["outcome"] for a in _shown(herald, nid)["attempts"]]  # type: ignore[union-attr]
        finally:
            herald.stop_all()
        assert hook.ids() == [nid, nid] and all(r.verified for r in hook.received)
        assert attempts == ["interrupted", "sent"]
