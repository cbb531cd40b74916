"""A 202 is a promise: the sweeper enqueues any accepted notification that lost its job."""

from __future__ import annotations

import asyncio

from redis.exceptions import ConnectionError as RedisConnectionError

from service.deps import get_queue
from service.store import PENDING_KEY
from tests.conftest import drain

WELCOME = {"template": "user.welcome", "to": "ada@example.com", "context": {"name": "Ada"}}


class DiesBeforeEnqueue:
    """The web process's queue as it is when the process dies right after writing the record."""

    def __init__(self, real) -> None:
        self.real = real

    async def enqueue_job(self, *args, **kwargs):
        raise RedisConnectionError("process died here")


async def test_record_without_job_is_swept_and_delivered(client, app, settings, smtp):
    app.dependency_overrides[get_queue] = lambda: DiesBeforeEnqueue(app.state.queue)
    accepted = [(await client.post("/v1/notifications", json=WELCOME)).json() for _ in range(3)]
    app.dependency_overrides.clear()
    assert all(n["status"] == "queued" for n in accepted)
    assert await app.state.queue.zcard("arq:queue") == 0
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
    await app.state.queue.delete(f"arq:job:{created['id']}")
    await app.state.queue.zrem("arq:queue", created["id"])

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
