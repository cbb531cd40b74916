"""POST /v1/notifications/batch: per-item results in order; one bad item never blocks the others."""

from __future__ import annotations

from tests.conftest import drain


def item(n: int, **extra) -> dict:
    return {"template": "user.welcome", "to": f"u{n}@example.com", "context": {"name": f"U{n}"}} | extra


async def test_mixed_batch_answers_each_item_in_order(client, app, settings, smtp):
    await client.post("/v1/notifications", json=item(99, idempotency_key="dup-same"))
    await client.post("/v1/notifications", json=item(98, idempotency_key="dup-other"))
    batch = [
        item(0),
        {"template": "no.such", "to": "x@example.com"},
        item(1, context={}),
        item(2, to="not-an-address"),
        item(99, idempotency_key="dup-same"),
        item(3, idempotency_key="dup-other"),
        "not even an object",
        item(4, delay=3600),
        item(5, idempotency_key="in-batch"),
        item(5, idempotency_key="in-batch"),
    ]
    response = await client.post("/v1/notifications/batch", json={"notifications": batch})
    assert response.status_code == 200
    results = response.json()["results"]
    assert [r["status_code"] for r in results] == [202, 422, 422, 422, 200, 409, 422, 202, 202, 200]
    assert results[0]["notification"]["to"] == "u0@example.com"
    assert "unknown template" in str(results[1]["detail"])
    assert results[2]["detail"][0]["loc"][-1] == "name"
    assert results[4]["notification"]["id"] == "dup-same"
    assert results[7]["notification"]["status"] == "scheduled"
    assert results[9]["notification"]["id"] == "in-batch"
    await client.delete(f"/v1/notifications/{results[7]['notification']['id']}")  # or drain would wait an hour
    await drain(settings)
    delivered = sorted(smtp.notification_ids())
    assert delivered == sorted([results[0]["notification"]["id"], "dup-same", "dup-other", "in-batch"])


async def test_a_full_batch_of_500_is_accepted_and_delivered(client, settings, smtp):
    response = await client.post("/v1/notifications/batch", json={"notifications": [item(n) for n in range(500)]})
    results = response.json()["results"]
    assert [r["status_code"] for r in results] == [202] * 500
    ids = [r["notification"]["id"] for r in results]
    assert len(set(ids)) == 500
    await drain(settings)
    assert sorted(smtp.notification_ids()) == sorted(ids)


async def test_batch_limits(client, app):
    too_many = await client.post("/v1/notifications/batch", json={"notifications": [item(n) for n in range(501)]})
    assert too_many.status_code == 422
    assert (await client.post("/v1/notifications/batch", json={"notifications": []})).status_code == 422
    assert (await client.post("/v1/notifications/batch", json=[item(1)])).status_code == 422
    assert await app.state.queue.zcard("arq:queue") == 0
