"""PATCH /v1/notifications/{id}: move a scheduled reminder."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest

from tests.conftest import drain

REMINDER = {"template": "reminder", "to": "ada@example.com", "context": {"name": "Ada", "title": "Call mum"}}


async def test_move_later_then_earlier_and_it_arrives_at_the_new_time(client, app, settings, smtp):
    created = (await client.post("/v1/notifications", json=REMINDER | {"delay": 3600})).json()
    later = (datetime.now(UTC) + timedelta(days=2)).replace(microsecond=0)
    moved = await client.patch(f"/v1/notifications/{created['id']}", json={"send_at": later.isoformat()})
    assert moved.status_code == 200 and datetime.fromisoformat(moved.json()["send_at"]) == later
    assert await app.state.queue.zscore("arq:queue", created["id"]) == later.timestamp() * 1000

    started = time.time()
    soon = await client.patch(f"/v1/notifications/{created['id']}", json={"delay": 0.5})
    assert soon.status_code == 200
    new_due = datetime.fromisoformat(soon.json()["send_at"])
    await drain(settings)
    got = (await client.get(f"/v1/notifications/{created['id']}")).json()
    assert got["status"] == "sent" and datetime.fromisoformat(got["sent_at"]) >= new_due
    assert time.time() - started >= 0.45
    assert len(smtp.received) == 1


async def test_only_scheduled_ones_move(client, settings):
    queued = (await client.post("/v1/notifications", json=REMINDER)).json()
    assert (await client.patch(f"/v1/notifications/{queued['id']}", json={"delay": 60})).status_code == 409
    assert (await client.patch("/v1/notifications/nope", json={"delay": 60})).status_code == 404


@pytest.mark.parametrize(
    "body",
    [{}, {"delay": 5, "send_at": "2099-01-01T00:00:00Z"}, {"delay": 0}, {"send_at": "2001-01-01T00:00:00Z"},
     {"send_at": "2099-01-01T00:00:00"}, {"delay": "soon"}, {"when": 5}],
)
async def test_bad_reschedules_are_422_and_change_nothing(client, body):
    created = (await client.post("/v1/notifications", json=REMINDER | {"delay": 3600})).json()
    response = await client.patch(f"/v1/notifications/{created['id']}", json=body)
    assert response.status_code == 422, response.text
    assert (await client.get(f"/v1/notifications/{created['id']}")).json()["send_at"] == created["send_at"]
