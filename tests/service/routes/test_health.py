"""/healthz, /readyz and /metrics."""

from __future__ import annotations

import pytest

from service.queue import BULK_WORKER_HEALTH_KEY, WORKER_HEALTH_KEY


async def test_healthz(client):
    assert (await client.get("/healthz")).json() == {"status": "ok"}


async def test_readyz_needs_a_fresh_worker_heartbeat(client, app):
    not_ready = await client.get("/readyz")
    assert not_ready.status_code == 503 and not_ready.json()["redis"] is True
    await app.state.queue.set(WORKER_HEALTH_KEY, b"alive", px=5000)
    ready = await client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["worker"] is True
    assert ready.json()["bulk_worker"] is False  # reported, but the bulk lane may be off
    await app.state.queue.set(BULK_WORKER_HEALTH_KEY, b"alive", px=5000)
    assert (await client.get("/readyz")).json()["bulk_worker"] is True


async def test_metrics_is_prometheus_text(client):
    await client.post("/v1/notifications",
                      json={"template": "user.welcome", "to": "ada@example.com", "context": {"name": "Ada"}})
    response = await client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    assert 'herald_notifications_accepted_total{status="queued",template="user.welcome"} 1.0' in response.text
    assert "herald_pending_notifications 1.0" in response.text
    assert "herald_scheduled_notifications 0.0" in response.text
    await client.post("/v1/notifications", json={"template": "user.welcome", "to": "bob@example.com",
                                                 "context": {"name": "Bob"}, "delay": 3600})
    assert "herald_scheduled_notifications 1.0" in (await client.get("/metrics")).text


async def test_metrics_show_what_the_workers_did(client, settings, smtp):
    from tests.conftest import drain

    smtp.script.rcpt["bob@example.com"].append("451 4.3.0 later")
    fast = settings.model_copy(update={"retry_base_seconds": 0.05, "retry_max_seconds": 0.1})
    for to in ("ada@example.com", "bob@example.com"):
        await client.post("/v1/notifications", json={"template": "user.welcome", "to": to, "context": {"name": "X"}})
    await drain(fast)
    await client.post("/v1/notifications", json={"template": "user.welcome", "to": "cy@example.com",
                                                 "context": {"name": "C"}, "delay": 3600})
    text = (await client.get("/metrics")).text
    assert 'herald_deliveries_total{category="transactional",outcome="sent",template="user.welcome"} 2.0' in text
    assert 'herald_deliveries_total{category="transactional",outcome="transient_failure",template="user.welcome"} 1.0' in text
    assert 'herald_smtp_replies_total{class="2xx"} 2.0' in text and 'herald_smtp_replies_total{class="4xx"} 1.0' in text
    assert 'herald_smtp_send_seconds_count 3.0' in text and 'herald_smtp_send_seconds_bucket{le="+Inf"} 3.0' in text
    assert 'herald_delivery_latency_seconds_count 2.0' in text
    assert 'herald_queue_depth{lane="default",state="deferred"} 1.0' in text  # the one an hour away
    assert 'herald_queue_depth{lane="bulk",state="due"} 0.0' in text


async def test_metrics_count_cancellations_and_send_time_suppressions(client, app, settings):
    from tests.conftest import drain

    scheduled = (await client.post("/v1/notifications", json={
        "template": "user.welcome", "to": "ada@example.com", "context": {"name": "A"}, "delay": 3600})).json()
    assert (await client.delete(f"/v1/notifications/{scheduled['id']}")).status_code == 200
    await client.post("/v1/notifications", json={"template": "newsletter", "to": "bob@example.com",
                                                 "context": {"headline": "H", "body": "B"}})
    # Bob opts out while his newsletter waits: the worker suppresses it at send time.
    await client.put("/v1/recipients/bob@example.com/preferences", json={"categories": {"marketing": False}})
    await drain(settings)
    text = (await client.get("/metrics")).text
    assert 'herald_notifications_cancelled_total{category="transactional",template="user.welcome"} 1.0' in text
    assert 'herald_deliveries_total{category="marketing",outcome="suppressed",template="newsletter"} 1.0' in text


async def test_a_whole_number_sum_after_a_fractional_one_is_still_added(client, app):
    """cjson reads 1.0 as 1: a sum must still go through HINCRBYFLOAT, or the script stops halfway."""
    created = (await client.post("/v1/notifications", json={"template": "user.welcome", "to": "ada@example.com",
                                                            "context": {"name": "A"}})).json()
    store = app.state.store
    for total in (0.123, 1.0):
        applied, _ = await store.transition(created["id"], allowed=None, counts={"send|sum": total, "send|count": 1})
        assert applied
    stats = await app.state.queue.hgetall("herald:stats")
    assert float(stats[b"send|sum"]) == pytest.approx(1.123) and int(stats[b"send|count"]) == 2
