"""/healthz, /readyz and /metrics."""

from __future__ import annotations

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
