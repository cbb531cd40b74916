"""The recipient's address: one readable error where it is, and the testing names by deployment."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager

from service.factory import create_app
from tests.conftest import AUTH, drain

WELCOME = {"template": "user.welcome", "context": {"name": "Ada"}}


async def _nothing_written(app: Any) -> None:
    queue = app.state.queue
    assert await queue.zcard("arq:queue") == 0 and await queue.zcard("arq:queue:bulk") == 0
    assert await queue.keys("herald:n:*") == []


@pytest.mark.parametrize(("to", "loc", "says"), [
    ("nobody", ["body", "to"], "invalid email address: An email address must have an @-sign."),
    ("a b@example.com", ["body", "to"], "invalid email address: The email address contains invalid characters"),
    ("a@" + "b" * 300 + ".com", ["body", "to"], "invalid email address: longer than 254 characters"),
    ({"email": "nobody"}, ["body", "to", "email"], "invalid email address: An email address must have an @-sign."),
    ({"email": "a@localhost", "name": "A"}, ["body", "to", "email"], "invalid email address: The part after the @"),
    (5, ["body", "to"], "must be an email address, or an object with email and name"),
    (None, ["body"], "give to (an email address), recipient (a profile's id), or a slack or http address"),
])
async def test_a_bad_address_is_one_error_where_it_is(client, app, to, loc, says) -> None:
    response = await client.post("/v1/notifications", json=WELCOME | {"to": to})
    assert response.status_code == 422
    [error] = response.json()["detail"]
    assert error["loc"] == loc and error["msg"].startswith(says), error
    await _nothing_written(app)


async def test_an_object_is_still_checked_for_its_other_fields(client, app) -> None:
    response = await client.post("/v1/notifications", json=WELCOME | {"to": {"email": "a@example.com", "x": 1}})
    assert [e["loc"] for e in response.json()["detail"]] == [["body", "to", "x"]]
    response = await client.post("/v1/notifications", json=WELCOME | {"to": {"name": "Ada"}})
    assert [(e["loc"], e["type"]) for e in response.json()["detail"]] == [(["body", "to", "email"], "missing")]
    await _nothing_written(app)


@pytest.mark.parametrize(("to", "loc"), [
    ("ada@acme.test", ["body", "to"]), ("ada@acme.example", ["body", "to"]), ("ada@x.invalid", ["body", "to"]),
    ({"email": "ada@app.localhost"}, ["body", "to", "email"]),
])
async def test_production_refuses_the_testing_names(client, app, to, loc) -> None:
    response = await client.post("/v1/notifications", json=WELCOME | {"to": to})
    assert response.status_code == 422
    [error] = response.json()["detail"]
    assert error["loc"] == loc
    assert "reserved for testing" in error["msg"] and "ALLOW_TEST_DOMAINS" in error["msg"]
    await _nothing_written(app)


async def test_a_batch_answers_each_address_on_its_own(client, app) -> None:
    items = [WELCOME | {"to": "nobody"}, WELCOME | {"to": "ada@acme.test"}, WELCOME | {"to": {"email": "a@"}}]
    results = (await client.post("/v1/notifications/batch", json={"notifications": items})).json()["results"]
    assert [r["status_code"] for r in results] == [422, 422, 422]
    # As for every batch item: its model's errors are located in the item, the checks after it in a body.
    assert [[e["loc"] for e in r["detail"]] for r in results] == [[["to"]], [["body", "to"]], [["to", "email"]]]
    await _nothing_written(app)


@pytest.fixture
async def staging(settings) -> AsyncIterator[httpx.AsyncClient]:
    application = create_app(settings.model_copy(update={"allow_test_domains": True}))
    async with LifespanManager(application):
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(transport=transport, base_url="http://herald.test", headers=AUTH) as c:
            yield c


async def test_with_allow_test_domains_they_are_sent(staging, settings, smtp) -> None:
    sent = []
    for to in ("ada@acme.test", "Bob@Acme.Example", {"email": "cy@app.localhost", "name": "Cy"}):
        response = await staging.post("/v1/notifications", json=WELCOME | {"to": to})
        assert response.status_code == 202, response.text
        sent.append(response.json()["to"])
    assert sent == ["ada@acme.test", "Bob@acme.example", "cy@app.localhost"]
    assert (await staging.post("/v1/notifications", json=WELCOME | {"to": "a@localhost"})).status_code == 422
    await drain(settings)
    assert sorted(m.rcpt_tos[0] for m in smtp.received) == sorted(sent)
