"""Outgoing webhooks end to end in one process: the API, a real worker (its dispatcher and its
webhook worker), a real redis-server, a real SMTP server and a real HTTP receiver on loopback,
each request verified with the `standardwebhooks` package."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest
from arq.connections import create_pool

from jobs import webhook_dispatch as dispatch
from jobs.worker import _redis_settings
from service.queue import job_deserializer, job_serializer
from service.settings import Settings
from service.webhooks import WEBHOOK_QUEUE_NAME
from tests.conftest import make_settings
from tests.service.test_lanes import _run_worker, _until
from tests.support.receiver import Answer, Receiver
from tests.support.smtp import ScriptedSMTP

WELCOME = {"template": "user.welcome", "to": "ada@example.com", "context": {"name": "Ada"}}


@pytest.fixture
def settings(redis_url: str, smtp: ScriptedSMTP) -> Settings:
    # overrides conftest's, so the app and client it builds use these
    return make_settings(redis_url=redis_url, smtp_url=smtp.url, webhook_allow_private=True,
                         webhook_retry_seconds=[0, 0.2, 0.2, 0.2, 0.2])


@pytest.fixture
def api(client: httpx.AsyncClient) -> httpx.AsyncClient:
    return client


@pytest.fixture
def receiver() -> Any:
    with Receiver() as server:
        yield server


async def register(api: httpx.AsyncClient, receiver: Receiver, events: list[str]) -> dict[str, Any]:
    response = await api.post("/v1/webhooks", json={"url": receiver.url, "events": events})
    assert response.status_code == 201, response.text
    receiver.secret = response.json()["secret"]
    return response.json()


async def test_a_sent_notification_reaches_the_receiver_signed(api, settings, receiver, smtp):
    endpoint = await register(api, receiver, ["notification.sent"])
    assert endpoint["secret"].startswith("whsec_")
    assert "secret" not in (await api.get(f"/v1/webhooks/{endpoint['id']}")).json()
    async with _run_worker(settings):
        created = (await api.post("/v1/notifications", json=WELCOME)).json()
        [request] = await receiver.wait_for(1)
    assert request.verified
    body = json.loads(request.body)
    assert body["type"] == "notification.sent" and body["timestamp"].endswith("Z")
    assert body["data"]["notification"]["id"] == created["id"]
    assert body["data"]["notification"]["status"] == "sent"
    [delivery] = (await api.get(f"/v1/webhooks/{endpoint['id']}/deliveries")).json()["items"]
    assert delivery["id"] == request.headers["webhook-id"] and delivery["status"] == "succeeded"
    assert [a["status_code"] for a in delivery["attempts"]] == [204]


async def test_a_receiver_down_for_a_while_loses_nothing_and_gets_each_event_under_one_id(
        api, settings, receiver, smtp):
    endpoint = await register(api, receiver, ["notification.sent"])
    receiver.down()
    async with _run_worker(settings):
        ids = [(await api.post("/v1/notifications", json=WELCOME | {"to": f"u{n}@example.com"})).json()["id"]
               for n in range(5)]
        await _until(lambda: len(smtp.received) == 5, "the mail sent")
        await asyncio.sleep(0.5)  # a couple of attempts fail against the closed port
        receiver.up()
        await _until(lambda: len(set(receiver.ids())) == 5, "every event delivered", timeout=30)
        await asyncio.sleep(0.5)
    assert all(r.verified for r in receiver.received)
    got = {json.loads(r.body)["data"]["notification"]["id"] for r in receiver.received}
    assert got == set(ids)
    assert len(receiver.received) == 5  # the receiver never answered a duplicate: each id arrived once
    deliveries = (await api.get(f"/v1/webhooks/{endpoint['id']}/deliveries")).json()["items"]
    assert {d["status"] for d in deliveries} == {"succeeded"}
    assert all(d["attempts"][0]["outcome"] == "error" for d in deliveries)


async def test_a_retry_carries_the_same_webhook_id_and_honours_retry_after(api, settings, receiver, smtp):
    endpoint = await register(api, receiver, ["notification.sent"])
    receiver.script = [Answer(503, {"Retry-After": "1"}), Answer(500)]
    async with _run_worker(settings):
        await api.post("/v1/notifications", json=WELCOME)
        first, second, third = await receiver.wait_for(3)
    assert first.headers["webhook-id"] == second.headers["webhook-id"] == third.headers["webhook-id"]
    assert second.at - first.at >= 0.9  # Retry-After: 1 over the schedule's 0.2 s
    assert first.body == second.body == third.body and all(r.verified for r in (first, second, third))
    [delivery] = (await api.get(f"/v1/webhooks/{endpoint['id']}/deliveries")).json()["items"]
    assert [a["status_code"] for a in delivery["attempts"]] == [503, 500, 204]


async def test_410_disables_the_endpoint_and_later_events_are_not_sent(api, settings, receiver, smtp):
    endpoint = await register(api, receiver, ["notification.sent"])
    receiver.default = Answer(410)
    async with _run_worker(settings):
        await api.post("/v1/notifications", json=WELCOME)
        await receiver.wait_for(1)
        await _until(lambda: len(smtp.received) == 1, "the mail sent")
        await asyncio.sleep(0.3)
        await api.post("/v1/notifications", json=WELCOME | {"to": "bob@example.com"})
        await _until(lambda: len(smtp.received) == 2, "the second mail sent")
        await asyncio.sleep(0.5)
    assert len(receiver.received) == 1
    got = (await api.get(f"/v1/webhooks/{endpoint['id']}")).json()
    assert got["status"] == "disabled" and "410" in got["disabled_reason"]


async def test_a_redirect_is_a_failure_not_followed_and_a_failed_delivery_can_be_replayed(
        api, settings, receiver, smtp):
    settings = settings.model_copy(update={"webhook_retry_seconds": [0, 0.1]})
    endpoint = await register(api, receiver, ["notification.sent"])
    receiver.default = Answer(302, {"Location": "http://127.0.0.1:1/elsewhere"})
    async with _run_worker(settings):
        await api.post("/v1/notifications", json=WELCOME)
        await receiver.wait_for(2)
        path = f"/v1/webhooks/{endpoint['id']}/deliveries"
        await _until_status(api, path, "failed")
        [delivery] = (await api.get(path)).json()["items"]
        assert [a["outcome"] for a in delivery["attempts"]] == ["failed", "failed"]
        assert "not followed" in delivery["attempts"][0]["detail"]
        receiver.default = Answer(200)
        replayed = await api.post(f"{path}/{delivery['id']}/replay")
        assert replayed.status_code == 202
        await receiver.wait_for(3)
        await _until_status(api, path, "succeeded")
    assert len({r.headers["webhook-id"] for r in receiver.received}) == 1
    assert len(receiver.received) == 3  # the redirect's target was never asked


async def _until_status(api: httpx.AsyncClient, path: str, status: str) -> None:
    for _ in range(200):
        items = (await api.get(path)).json()["items"]
        if items and items[0]["status"] == status:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"the delivery never became {status}")


async def test_handing_an_event_out_twice_is_one_delivery_and_one_job(api, app, settings, receiver):
    await register(api, receiver, ["recipient.unsubscribed"])
    redis = await create_pool(_redis_settings(settings.redis_url), job_serializer=job_serializer,
                              job_deserializer=job_deserializer)
    try:
        ctx = {"redis": redis, "settings": settings, "store": app.state.store}
        fields = {"type": "recipient.unsubscribed", "at": "2026-12-06T10:00:00.000Z", "email": "a@example.com",
                  "category": "marketing"}
        first = await dispatch.dispatch(ctx, "1765000000000-0", fields)
        again = await dispatch.dispatch(ctx, "1765000000000-0", fields)  # as after a crash before the ack
        assert first == again and len(first) == 1
        assert await redis.zcard(WEBHOOK_QUEUE_NAME) == 1
    finally:
        await redis.aclose()


async def test_an_endpoint_gets_only_the_types_it_subscribed_to(api, settings, receiver, smtp):
    await register(api, receiver, ["notification.cancelled"])
    async with _run_worker(settings):
        await api.post("/v1/notifications", json=WELCOME)
        later = (await api.post("/v1/notifications", json=WELCOME | {"delay": 3600})).json()
        await _until(lambda: len(smtp.received) == 1, "the mail sent")
        assert (await api.delete(f"/v1/notifications/{later['id']}")).status_code == 200
        [request] = await receiver.wait_for(1)
        await asyncio.sleep(0.3)
    assert json.loads(request.body)["type"] == "notification.cancelled" and len(receiver.received) == 1


async def test_a_slow_receiver_does_not_hold_up_email(api, settings, receiver, smtp):
    await register(api, receiver, ["notification.sent"])
    receiver.default = Answer(204, wait=3)
    settings = settings.model_copy(update={"worker_max_jobs": 2, "webhook_max_jobs": 2})
    async with _run_worker(settings):
        for n in range(20):
            await api.post("/v1/notifications", json=WELCOME | {"to": f"s{n}@example.com"})
        await receiver.wait_for(2)  # both webhook slots now wait on the receiver
        await _until(lambda: len(smtp.received) == 20, "every email sent", timeout=10)
        # Every email went out while the first two webhooks were still waiting for their answer.
        assert len(receiver.received) == 2
        receiver.default = Answer(204)
        await _until(lambda: len(set(receiver.ids())) == 20, "every webhook delivered", timeout=30)
