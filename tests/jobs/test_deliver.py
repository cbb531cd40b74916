"""The deliver job against a real redis-server and a real SMTP server."""

from __future__ import annotations

import time
from datetime import datetime

import httpx
import pytest

from tests.conftest import drain
from tests.support.smtp import ScriptedSMTP

WELCOME = {"template": "user.welcome", "to": "ada@example.com", "context": {"name": "Ada"}}


def job_ctx(store, settings, *, throttle=None) -> dict:
    """What the worker's start-up puts in ctx, as far as the claim goes (jobs.worker.startup)."""
    return {"store": store, "settings": settings, "throttle": throttle, "throttle_wait_seconds": 0,
            "lease_seconds": settings.job_timeout_seconds + 60}


async def post(client: httpx.AsyncClient, body: dict | None = None, **extra) -> dict:
    response = await client.post("/v1/notifications", json=(body or WELCOME) | extra)
    assert response.status_code == 202, response.text
    return response.json()


async def test_accepted_notification_is_sent_with_its_headers(client, settings, smtp: ScriptedSMTP):
    created = await post(client)
    await drain(settings)
    got = (await client.get(f"/v1/notifications/{created['id']}")).json()
    assert got["status"] == "sent"
    assert got["sent_at"]
    [attempt] = got["attempts"]
    assert attempt["outcome"] == "sent" and attempt["smtp_code"] == 250 and attempt["duration_ms"] >= 0
    [mail] = smtp.received
    msg = mail.message
    assert mail.rcpt_tos == ["ada@example.com"]
    assert msg["Message-ID"] == got["message_id"]
    assert msg["X-Herald-Notification"] == created["id"]
    assert msg["Subject"] == "Welcome to Acme, Ada!"
    assert msg["From"] == "Acme <no-reply@acme.test>" and msg["To"] == "ada@example.com" and msg["Date"]
    assert msg.get_content_type() == "multipart/alternative"
    assert "Hi Ada" in msg.get_body(("plain",)).get_content()
    assert "<h1>Welcome, Ada!</h1>" in msg.get_body(("html",)).get_content()


async def test_a_number_in_the_context_is_sent_exactly_even_beyond_64_bits(client, settings, smtp: ScriptedSMTP):
    # orjson would read 2**70 back as a float (1.1805916207174113e+21) in the worker.
    await post(client, context={"name": 2**70})
    await drain(settings)
    [mail] = smtp.received
    assert mail.message["Subject"] == f"Welcome to Acme, {2**70}!"


async def test_transient_4xx_is_retried_then_sent(client, settings, smtp: ScriptedSMTP):
    smtp.script.data["ada@example.com"] += ["451 4.3.0 Try again later", "421 4.7.0 Busy"]
    created = await post(client)
    await drain(settings)
    got = (await client.get(f"/v1/notifications/{created['id']}")).json()
    assert got["status"] == "sent"
    assert [a["outcome"] for a in got["attempts"]] == ["transient_failure", "transient_failure", "sent"]
    assert [a["smtp_code"] for a in got["attempts"]] == [451, 421, 250]
    assert "Try again later" in got["attempts"][0]["detail"]
    assert [a["n"] for a in got["attempts"]] == [1, 2, 3]
    assert len(smtp.received) == 1


async def test_transient_failures_exhaust_max_tries_then_failed(client, redis_url, smtp: ScriptedSMTP):
    from tests.conftest import make_settings

    settings = make_settings(redis_url=redis_url, smtp_url=smtp.url, max_tries=3)
    smtp.script.always_data["ada@example.com"] = "452 4.2.2 Mailbox full"
    created = await post(client)
    await drain(settings)
    got = (await client.get(f"/v1/notifications/{created['id']}")).json()
    assert got["status"] == "failed"
    assert len(got["attempts"]) == 3
    assert all(a["outcome"] == "transient_failure" and a["smtp_code"] == 452 for a in got["attempts"])
    assert "gave up after 3 tries" in got["error"]
    assert smtp.received == []


async def test_connection_refused_is_retried(client, redis_url, smtp: ScriptedSMTP):
    from service.embedded import free_port
    from tests.conftest import make_settings

    settings = make_settings(redis_url=redis_url, smtp_url=f"smtp://127.0.0.1:{free_port()}", max_tries=2)
    created = await post(client)
    await drain(settings)
    got = (await client.get(f"/v1/notifications/{created['id']}")).json()
    assert got["status"] == "failed"
    assert [a["outcome"] for a in got["attempts"]] == ["transient_failure", "transient_failure"]
    assert got["attempts"][0]["smtp_code"] is None
    assert "Connect" in got["attempts"][0]["detail"] or "connect" in got["attempts"][0]["detail"]


async def test_hard_bounce_fails_at_once_and_suppresses(client, settings, smtp: ScriptedSMTP):
    smtp.script.always_rcpt["gone@example.com"] = "550 5.1.1 <gone@example.com>: user unknown"
    first = await post(client, to="gone@example.com")
    await drain(settings)
    got = (await client.get(f"/v1/notifications/{first['id']}")).json()
    assert got["status"] == "failed"
    [attempt] = got["attempts"]
    assert attempt["outcome"] == "hard_bounce" and attempt["smtp_code"] == 550
    assert "5.1.1" in got["error"]

    second = await post(client, to="Gone@Example.com")
    assert second["status"] == "suppressed"
    await drain(settings)
    again = (await client.get(f"/v1/notifications/{second['id']}")).json()
    assert again["status"] == "suppressed" and again["attempts"] == []
    assert smtp.received == []


async def test_mailbox_disabled_521_bounces(client, settings, smtp: ScriptedSMTP):
    smtp.script.always_rcpt["old@example.com"] = "550 5.2.1 Mailbox disabled"
    created = await post(client, to="old@example.com")
    await drain(settings)
    assert (await client.get(f"/v1/notifications/{created['id']}")).json()["status"] == "failed"
    assert (await post(client, to="old@example.com"))["status"] == "suppressed"


async def test_policy_rejection_fails_without_suppressing(client, settings, smtp: ScriptedSMTP):
    smtp.script.data["ada@example.com"].append("554 5.7.1 Message rejected as spam")
    smtp.script.data["bob@example.com"].append("552 5.4.5 Daily sending quota exceeded")
    ada = await post(client)
    bob = await post(client, to="bob@example.com")
    await drain(settings)
    for created, code in ((ada, 554), (bob, 552)):
        got = (await client.get(f"/v1/notifications/{created['id']}")).json()
        assert got["status"] == "failed"
        [attempt] = got["attempts"]
        assert attempt["outcome"] == "rejected" and attempt["smtp_code"] == code
    later = await post(client)
    assert later["status"] == "queued"
    await drain(settings)
    assert (await client.get(f"/v1/notifications/{later['id']}")).json()["status"] == "sent"


async def test_cancelled_notification_is_not_sent(client, settings, smtp: ScriptedSMTP):
    created = await post(client, delay=0.3)
    assert created["status"] == "scheduled"
    cancelled = await client.delete(f"/v1/notifications/{created['id']}")
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    await drain(settings)
    got = (await client.get(f"/v1/notifications/{created['id']}")).json()
    assert got["status"] == "cancelled" and got["attempts"] == []
    assert smtp.received == []


async def test_scheduled_notification_arrives_on_time_not_before(client, settings, smtp: ScriptedSMTP):
    import time
    from datetime import UTC, datetime

    created = await post(client, delay=1.0)
    send_at = datetime.fromisoformat(created["send_at"])
    started = time.time()
    await drain(settings)
    got = (await client.get(f"/v1/notifications/{created['id']}")).json()
    assert got["status"] == "sent"
    sent_at = datetime.fromisoformat(got["sent_at"])
    assert sent_at >= send_at
    assert time.time() - started >= 0.9
    assert (sent_at - send_at).total_seconds() < 5
    assert send_at > datetime.fromisoformat(created["created_at"]).astimezone(UTC)


async def test_unexpected_error_is_recorded_and_retried(client, settings, smtp: ScriptedSMTP):
    from service.templates import Catalog

    class Exploding(Catalog):
        calls = 0

        def render(self, *args, **kwargs):
            Exploding.calls += 1
            if Exploding.calls == 1:
                raise RuntimeError("disk on fire")
            return super().render(*args, **kwargs)

    created = await post(client)

    async def startup_with_exploding_catalog(ctx):
        from jobs.worker import startup

        await startup(ctx)
        ctx["catalog"] = Exploding(settings.templates_dir)

    await drain(settings, on_startup=startup_with_exploding_catalog)
    got = (await client.get(f"/v1/notifications/{created['id']}")).json()
    assert [a["outcome"] for a in got["attempts"]] == ["error", "sent"]
    assert "disk on fire" in got["attempts"][0]["detail"]
    assert got["status"] == "sent"


async def test_a_job_for_a_cancelled_notification_does_nothing(client, app, settings, smtp: ScriptedSMTP):
    """Cancel through the record only, leaving the job queued: the job must read the record."""
    created = await post(client)
    await app.state.store.transition(created["id"], allowed=["queued"], fields={"status": "cancelled"}, pending=None)
    assert await app.state.queue.zscore("arq:queue", created["id"]) is not None
    await drain(settings)
    got = (await client.get(f"/v1/notifications/{created['id']}")).json()
    assert got["status"] == "cancelled" and got["attempts"] == []
    assert smtp.received == []


async def test_a_notification_that_keeps_killing_its_worker_stops_at_max_tries(client, app, settings, smtp):
    """Each crash leaves it `sending`; the run after records `interrupted`. MAX_TRIES of those end it."""
    from jobs.deliver import deliver

    created = (await client.post("/v1/notifications", json=WELCOME)).json()
    store = app.state.store
    ctx = job_ctx(store, settings)
    # MAX_TRIES - 1 runs have died mid-send; this run records the last one as interrupted.
    await store.transition(created["id"], allowed=None,
                           fields={"status": "sending", "attempt_count": settings.max_tries - 1})
    outcome = await deliver(ctx, created["id"])
    got = (await client.get(f"/v1/notifications/{created['id']}")).json()
    assert outcome == "failed" and got["status"] == "failed" and "interrupted" in got["error"]
    assert smtp.notification_ids() == []


async def test_a_throttled_run_leaves_an_interrupted_record_as_it_was(client, app, settings):
    from arq import Retry

    from jobs.deliver import deliver

    class Full:
        async def admit(self, *, max_wait: float, bulk: bool) -> float:
            return 2.0

    created = (await client.post("/v1/notifications", json=WELCOME)).json()
    store = app.state.store
    await store.transition(created["id"], allowed=None, fields={"status": "sending"})
    ctx = job_ctx(store, settings, throttle=Full())
    for _ in range(3):
        with pytest.raises(Retry):
            await deliver(ctx, created["id"])
    got = (await client.get(f"/v1/notifications/{created['id']}")).json()
    assert got["attempts"] == [] and got["status"] == "sending"


async def record_state(redis, notification_id: str) -> tuple:
    """Everything a claim may write: the record, its pending score, the status indexes, the stats."""
    statuses = ("queued", "scheduled", "sending", "suppressed")
    return (await redis.hgetall(f"herald:n:{notification_id}"), await redis.zscore("herald:pending", notification_id),
            [await redis.zscore(f"herald:idx:status:{s}", notification_id) for s in statuses],
            await redis.hgetall("herald:stats"))


async def test_a_claim_returns_the_record_as_it_was_and_marks_it_sending(client, app):
    created = await post(client)
    store = app.state.store
    before = await store.get(created["id"])
    claim = await store.claim(created["id"], now_ms=int(before["due_ms"]), early_ms=1000, lease_ms=123, mode="take")
    assert claim.verdict == "claimed" and claim.detail == "queued"
    assert claim.record == before | {"attempts": []}
    assert (await store.get(created["id"]))["status"] == "sending"
    assert await store.redis.zscore("herald:pending", created["id"]) == 123


async def test_a_claim_before_the_due_time_writes_nothing(client, app):
    created = await post(client, delay=60)
    store = app.state.store
    due_ms = int((await store.get(created["id"]))["due_ms"])
    before = await record_state(store.redis, created["id"])
    for mode in ("take", "retake", "look"):
        claim = await store.claim(created["id"], now_ms=due_ms - 1001, early_ms=1000, lease_ms=1, mode=mode)
        assert (claim.verdict, claim.record) == ("not due", None)
        # Within the tolerance: the worker is told how long to wait, and nothing is taken yet either.
        claim = await store.claim(created["id"], now_ms=due_ms - 1000, early_ms=1000, lease_ms=1, mode=mode)
        assert (claim.verdict, claim.detail, claim.record) == ("early", str(due_ms), None)
    assert await record_state(store.redis, created["id"]) == before


async def test_a_look_or_a_take_of_an_interrupted_send_writes_nothing(client, app):
    created = await post(client)
    store = app.state.store
    await store.transition(created["id"], allowed=None, fields={"status": "sending"})
    now_ms = int(time.time() * 1000)
    before = await record_state(store.redis, created["id"])
    for mode in ("look", "take"):
        claim = await store.claim(created["id"], now_ms=now_ms, early_ms=1000, lease_ms=1, mode=mode)
        assert claim.verdict == "unclaimed" and claim.detail == "sending"
        assert claim.record is not None and claim.record["status"] == "sending"
    assert await record_state(store.redis, created["id"]) == before
    claim = await store.claim(created["id"], now_ms=now_ms, early_ms=1000, lease_ms=1, mode="retake")
    assert claim.verdict == "claimed" and claim.detail == "sending"


async def test_a_claim_refuses_a_recipient_suppressed_since(client, app):
    created = await post(client)
    store = app.state.store
    await store.redis.hset("herald:suppressed", "ada@example.com", "{}")
    claim = await store.claim(created["id"], now_ms=int(time.time() * 1000), early_ms=1000, lease_ms=1)
    assert (claim.verdict, claim.detail, claim.record) == ("refused", "suppressed", None)
    got = await store.get(created["id"])
    assert got["status"] == "suppressed" and got["error"] == "recipient is suppressed"
    assert await store.redis.zscore("herald:pending", created["id"]) is None


async def test_a_job_a_little_ahead_of_its_due_time_waits_for_it(client, app, settings, smtp: ScriptedSMTP):
    """Another host's clock ran ahead: the job comes early, within the tolerance, and waits."""
    from jobs.deliver import EARLY_TOLERANCE_MS, deliver

    created = await post(client)
    store = app.state.store
    due_ms = int(time.time() * 1000) + EARLY_TOLERANCE_MS // 2
    await store.transition(created["id"], allowed=None, fields={"due_ms": due_ms})
    await drain(settings)
    got = (await client.get(f"/v1/notifications/{created['id']}")).json()
    assert got["status"] == "sent"
    assert datetime.fromisoformat(got["sent_at"]).timestamp() * 1000 >= due_ms
    assert await deliver(job_ctx(store, settings), created["id"]) == "nothing to do"
