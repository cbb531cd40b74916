"""Dead letters: failed notifications keep every attempt and can be put back in the queue."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from service.queue import job_serializer
from tests.conftest import drain, make_settings

WELCOME = {"template": "user.welcome", "context": {"name": "Ada"}}


async def failed_one(client, settings, smtp, to="ada@example.com", reply="421 4.7.0 Try later") -> dict:
    smtp.script.always_data[to] = reply
    created = (await client.post("/v1/notifications", json=WELCOME | {"to": to})).json()
    await drain(settings)
    got = (await client.get(f"/v1/notifications/{created['id']}")).json()
    assert got["status"] == "failed"
    return got


async def test_retry_puts_a_dead_letter_back_under_the_same_id_with_fresh_tries(client, redis_url, smtp):
    settings = make_settings(redis_url=redis_url, smtp_url=smtp.url, max_tries=2)
    dead = await failed_one(client, settings, smtp)
    assert len(dead["attempts"]) == 2
    del smtp.script.always_data["ada@example.com"]
    smtp.script.data["ada@example.com"].append("451 4.3.0 once more")

    response = await client.post(f"/v1/notifications/{dead['id']}/retry")
    assert response.status_code == 202 and response.json()["status"] == "queued"
    await drain(settings)
    got = (await client.get(f"/v1/notifications/{dead['id']}")).json()
    assert got["status"] == "sent"
    # The old attempts are kept; the new round had MAX_TRIES of its own (a 451, then sent).
    assert [a["outcome"] for a in got["attempts"]] == ["transient_failure"] * 3 + ["sent"]
    assert [m.message["Message-ID"] for m in smtp.received] == [dead["message_id"]]


async def test_retry_while_the_old_result_key_still_exists(client, app, settings, smtp):
    dead = await failed_one(client, settings, smtp, reply="554 5.7.1 rejected")
    del smtp.script.always_data["ada@example.com"]
    # What ARQ leaves when keep_result is on (or an older deploy had it): it blocks the _job_id.
    await app.state.queue.set(f"arq:result:{dead['id']}", job_serializer({"s": False}), ex=3600)
    assert (await client.post(f"/v1/notifications/{dead['id']}/retry")).status_code == 202
    assert not await app.state.queue.exists(f"arq:result:{dead['id']}")
    await drain(settings)
    assert (await client.get(f"/v1/notifications/{dead['id']}")).json()["status"] == "sent"


async def test_retry_rules(client, settings, smtp):
    assert (await client.post("/v1/notifications/nope/retry")).status_code == 404
    queued = (await client.post("/v1/notifications", json=WELCOME | {"to": "ada@example.com"})).json()
    assert (await client.post(f"/v1/notifications/{queued['id']}/retry")).status_code == 409


async def test_bulk_requeue_by_code_and_failure_time(client, app, settings, smtp):
    a = await failed_one(client, settings, smtp, to="a@example.com", reply="421 4.7.0 Try later")
    b = await failed_one(client, settings, smtp, to="b@example.com", reply="554 5.7.1 spam")
    c = await failed_one(client, settings, smtp, to="c@example.com", reply="421 4.7.0 Try later")
    # c failed two hours ago: outside "the last hour".
    two_hours_ago = int((datetime.now(UTC) - timedelta(hours=2)).timestamp() * 1000)
    await app.state.queue.hset(f"herald:n:{c['id']}", "failed_ms", two_hours_ago)
    smtp.script.always_data.clear()

    since = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
    response = await client.post("/v1/notifications/retry", json={"smtp_code": 421, "failed_since": since})
    assert response.status_code == 202 and response.json() == {"requeued": 1, "ids": [a["id"]]}
    await drain(settings)
    statuses = {n: (await client.get(f"/v1/notifications/{n}")).json()["status"] for n in (a["id"], b["id"], c["id"])}
    assert statuses == {a["id"]: "sent", b["id"]: "failed", c["id"]: "failed"}
    assert (await client.post("/v1/notifications/retry", json={"smtp_code": 99})).status_code == 422
