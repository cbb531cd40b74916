"""A 202 is a promise: the sweeper enqueues any accepted notification that lost its job."""

from __future__ import annotations

import asyncio

from service.keys import PENDING_KEY
from tests.conftest import drain

WELCOME = {"template": "user.welcome", "to": "ada@example.com", "context": {"name": "Ada"}}


async def lose_jobs(queue, ids: list[str]) -> None:
    """What an expired job, a flushed queue or a lost Redis write leaves behind."""
    await queue.delete(*(f"arq:job:{i}" for i in ids))
    await queue.zrem("arq:queue", *ids)


async def test_record_without_job_is_swept_and_delivered(client, app, settings, smtp):
    accepted = [(await client.post("/v1/notifications", json=WELCOME)).json() for _ in range(3)]
    await lose_jobs(app.state.queue, [n["id"] for n in accepted])
    assert all(n["status"] == "queued" for n in accepted)
    assert await app.state.queue.zcard(PENDING_KEY) == 3

    await asyncio.sleep(settings.sweep_grace_seconds + 0.1)
    await drain(settings)

    for n in accepted:
        got = (await client.get(f"/v1/notifications/{n['id']}")).json()
        assert got["status"] == "sent"
    assert sorted(smtp.notification_ids()) == sorted(n["id"] for n in accepted)
    assert await app.state.queue.zcard(PENDING_KEY) == 0


async def test_send_interrupted_without_a_job_is_resent_and_the_attempt_recorded(client, app, settings, smtp):
    created = (await client.post("/v1/notifications", json=WELCOME)).json()
    store = app.state.store
    await store.transition(created["id"], allowed=["queued"], fields={"status": "sending"}, pending=0)
    await lose_jobs(app.state.queue, [created["id"]])

    await drain(settings)
    got = (await client.get(f"/v1/notifications/{created['id']}")).json()
    assert [a["outcome"] for a in got["attempts"]] == ["interrupted", "sent"]
    assert got["status"] == "sent"
    assert smtp.notification_ids() == [created["id"]]


async def test_sweeper_leaves_jobs_that_exist_and_drops_finished_entries(client, app, settings, smtp):
    from jobs.sweeper import sweep

    scheduled = (await client.post("/v1/notifications", json=WELCOME | {"delay": 3600})).json()
    cancelled = (await client.post("/v1/notifications", json=WELCOME)).json()
    await app.state.store.transition(cancelled["id"], allowed=None, fields={"status": "cancelled"})
    await app.state.queue.zadd(PENDING_KEY, {scheduled["id"]: 0, cancelled["id"]: 0})
    ctx = {"store": app.state.store, "redis": app.state.queue, "sweep_grace_seconds": 0}
    assert await sweep(ctx) == 0
    assert await app.state.queue.zrange(PENDING_KEY, 0, -1) == [scheduled["id"].encode()]
