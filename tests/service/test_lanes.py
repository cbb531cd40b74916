"""Priority lanes: urgent mail on the default queue, newsletters, digests and batches on the bulk one."""

from __future__ import annotations

import asyncio
import time

import pytest

from service.queue import BULK_QUEUE_NAME, QUEUE_NAME, lane
from tests.conftest import AUTH, drain

NEWSLETTER = {"template": "newsletter", "to": "ada@example.com", "context": {"headline": "H", "body": "B"}}
RESET = {"template": "user.password_reset", "to": "bob@example.com",
         "context": {"name": "Bob", "reset_url": "https://acme.test/r/1"}}
WELCOME = {"template": "user.welcome", "to": "cy@example.com", "context": {"name": "Cy"}}


@pytest.mark.parametrize(("category", "batch", "expected"), [
    ("transactional", False, QUEUE_NAME),
    ("security", False, QUEUE_NAME),
    ("billing", False, QUEUE_NAME),
    ("internal", False, QUEUE_NAME),
    ("marketing", False, BULK_QUEUE_NAME),
    ("digest", False, BULK_QUEUE_NAME),
    ("transactional", True, BULK_QUEUE_NAME),
    ("security", True, QUEUE_NAME),  # a batch of password resets is still urgent
])
def test_lane_by_category_and_batch(category: str, batch: bool, expected: str):
    assert lane(category, batch=batch) == expected
    assert lane(category, batch=batch, bulk_lane=False) == QUEUE_NAME


async def _queue_of(client, notification_id: str) -> str:
    redis = client._transport.app.state.queue  # the app behind the test client
    queues = [q for q in (QUEUE_NAME, BULK_QUEUE_NAME) if await redis.zscore(q, notification_id) is not None]
    assert len(queues) == 1
    return queues[0]


async def test_single_and_batch_requests_take_their_lanes(client):
    newsletter = (await client.post("/v1/notifications", json=NEWSLETTER, headers=AUTH)).json()
    reset = (await client.post("/v1/notifications", json=RESET, headers=AUTH)).json()
    batch = (await client.post("/v1/notifications/batch", json={"notifications": [WELCOME, RESET]},
                               headers=AUTH)).json()["results"]
    assert await _queue_of(client, newsletter["id"]) == BULK_QUEUE_NAME
    assert await _queue_of(client, reset["id"]) == QUEUE_NAME
    assert await _queue_of(client, batch[0]["notification"]["id"]) == BULK_QUEUE_NAME
    assert await _queue_of(client, batch[1]["notification"]["id"]) == QUEUE_NAME


async def test_a_password_reset_does_not_wait_for_the_newsletters(client, settings, smtp):
    items = [NEWSLETTER | {"to": f"reader{n}@example.com"} for n in range(300)]
    assert (await client.post("/v1/notifications/batch", json={"notifications": items}, headers=AUTH)).status_code == 200
    reset = (await client.post("/v1/notifications", json=RESET, headers=AUTH)).json()
    from jobs.starter import Worker

    from jobs.worker import worker_settings

    default_lane = Worker(**worker_settings(settings, burst=True, handle_signals=False, poll_delay=0.02))
    try:
        await default_lane.main()
    finally:
        await default_lane.close()
    assert smtp.notification_ids() == [reset["id"]]  # sent while all 300 newsletters still wait
    await drain(settings)
    assert len(smtp.notification_ids()) == 301


async def test_a_requeued_dead_letter_keeps_its_lane(client, settings, smtp):
    smtp.script.rcpt["ada@example.com"].append("550 5.7.1 policy refusal")  # fails without suppressing
    created = (await client.post("/v1/notifications", json=NEWSLETTER, headers=AUTH)).json()
    await drain(settings)
    assert (await client.get(f"/v1/notifications/{created['id']}", headers=AUTH)).json()["status"] == "failed"
    assert (await client.post(f"/v1/notifications/{created['id']}/retry", headers=AUTH)).status_code == 202
    assert await _queue_of(client, created["id"]) == BULK_QUEUE_NAME


async def test_the_sweeper_requeues_a_lost_job_on_its_lane(client, app):
    from jobs.sweeper import sweep
    from service.queue import JOB_KEY_PREFIX
    from service.keys import PENDING_KEY

    created = (await client.post("/v1/notifications", json=NEWSLETTER, headers=AUTH)).json()
    queue = app.state.queue
    await queue.delete(JOB_KEY_PREFIX + created["id"])
    await queue.zrem(BULK_QUEUE_NAME, created["id"])
    await queue.zadd(PENDING_KEY, {created["id"]: 0})  # overdue
    assert await sweep({"store": app.state.store, "redis": queue, "sweep_grace_seconds": 0}) == 1
    assert await _queue_of(client, created["id"]) == BULK_QUEUE_NAME


async def test_without_a_bulk_worker_overdue_bulk_jobs_move_to_the_default_lane(client, app, settings, smtp):
    from jobs.sweeper import sweep
    from service.queue import BULK_WORKER_HEALTH_KEY

    created = (await client.post("/v1/notifications", json=NEWSLETTER, headers=AUTH)).json()
    queue = app.state.queue
    await queue.zadd(BULK_QUEUE_NAME, {created["id"]: int(time.time() * 1000) - 60_000})  # a minute overdue
    ctx = {"store": app.state.store, "redis": queue, "sweep_grace_seconds": 30}
    await queue.set(BULK_WORKER_HEALTH_KEY, b"alive", px=5000)
    await sweep(ctx)
    assert await _queue_of(client, created["id"]) == BULK_QUEUE_NAME  # a bulk worker will come to it
    await queue.delete(BULK_WORKER_HEALTH_KEY)
    await sweep(ctx)
    assert await _queue_of(client, created["id"]) == QUEUE_NAME
    from jobs.starter import Worker

    from jobs.worker import worker_settings

    default_lane = Worker(**worker_settings(settings, burst=True, handle_signals=False, poll_delay=0.02))
    try:
        await asyncio.wait_for(default_lane.main(), 10)
    finally:
        await default_lane.close()
    assert smtp.notification_ids() == [created["id"]]
