"""Priority lanes: urgent mail on the default queue, newsletters, digests and batches on the bulk one."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import pytest

from jobs.starter import Worker
from jobs.worker import worker_settings
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


@contextlib.asynccontextmanager
async def _run_worker(settings) -> AsyncIterator[Worker]:
    """The default lane's worker, as `arq jobs.WorkerSettings` runs it (it serves the bulk lane too)."""
    worker = Worker(**worker_settings(settings, handle_signals=False, poll_delay=0.02))
    running = asyncio.create_task(worker.main())
    try:
        yield worker
    finally:
        worker.allow_pick_jobs = False  # as on SIGTERM: the sends under way finish and are recorded
        await asyncio.wait_for(worker._sleep_until_tasks_complete(), 10)
        running.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await running
        await worker.close()


async def _until(predicate, what: str, timeout: float = 20) -> None:
    try:
        async with asyncio.timeout(timeout):
            while not predicate():
                await asyncio.sleep(0.01)
    except TimeoutError:
        raise AssertionError(f"timed out waiting for {what}") from None


async def test_a_password_reset_does_not_wait_for_the_newsletters(client, settings, smtp):
    smtp.script.delay = 0.05
    settings = settings.model_copy(update={"worker_max_jobs": 8})
    items = [NEWSLETTER | {"to": f"reader{n}@example.com"} for n in range(300)]
    assert (await client.post("/v1/notifications/batch", json={"notifications": items}, headers=AUTH)).status_code == 200
    async with _run_worker(settings):
        await _until(lambda: len(smtp.received) >= 10, "newsletters under way")
        reset = (await client.post("/v1/notifications", json=RESET, headers=AUTH)).json()
        await _until(lambda: reset["id"] in smtp.notification_ids(), "the reset sent")
        newsletters_before = smtp.notification_ids().index(reset["id"])
        await _until(lambda: len(smtp.received) == 301, "every newsletter sent")
    # Six slots send newsletters; two are kept for urgent mail, so the reset starts at once.
    assert newsletters_before < 100, newsletters_before


async def test_urgent_mail_goes_first_when_both_lanes_wait(client, settings, smtp):
    smtp.script.delay = 0.02
    settings = settings.model_copy(update={"worker_max_jobs": 4})
    items = [NEWSLETTER | {"to": f"reader{n}@example.com"} for n in range(40)]
    assert (await client.post("/v1/notifications/batch", json={"notifications": items}, headers=AUTH)).status_code == 200
    resets = [(await client.post("/v1/notifications", json=RESET | {"to": f"r{n}@example.com"}, headers=AUTH)).json()["id"]
              for n in range(12)]
    async with _run_worker(settings):
        await _until(lambda: len(smtp.received) == 52, "both lanes sent")
    order = smtp.notification_ids()
    # No newsletter starts while a reset is due; one may finish before the last resets do.
    assert set(resets) <= set(order[:12 + 3]), order.index(resets[-1])


async def test_one_worker_delivers_every_lane_without_a_bulk_worker(client, settings, smtp):
    newsletter = (await client.post("/v1/notifications", json=NEWSLETTER, headers=AUTH)).json()
    batch = (await client.post("/v1/notifications/batch", json={"notifications": [WELCOME]}, headers=AUTH)).json()
    ids = {newsletter["id"], batch["results"][0]["notification"]["id"]}
    async with _run_worker(settings):
        await _until(lambda: set(smtp.notification_ids()) == ids, "the bulk lane sent", timeout=10)


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
