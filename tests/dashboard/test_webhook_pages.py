"""The dashboard's Webhooks page over HTTP: endpoints, every attempt, and a replay that delivers."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from service.settings import Settings
from tests.conftest import make_settings
from tests.dashboard.test_pages import _csrf, login
from tests.service.test_lanes import _run_worker
from tests.support.receiver import Answer, Receiver
from tests.support.smtp import ScriptedSMTP

WELCOME = {"template": "user.welcome", "to": "ada@example.com", "context": {"name": "Ada"}}


@pytest.fixture
def settings(redis_url: str, smtp: ScriptedSMTP) -> Settings:
    return make_settings(redis_url=redis_url, smtp_url=smtp.url, webhook_allow_private=True,
                         webhook_retry_seconds=[0, 0.1])


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as server:
        yield server


@pytest.fixture
async def browser(app: Any) -> Any:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://herald.test") as c:
        yield c


async def _delivery_status(client: httpx.AsyncClient, endpoint_id: str, status: str) -> dict[str, Any]:
    for _ in range(400):
        items = (await client.get(f"/v1/webhooks/{endpoint_id}/deliveries")).json()["items"]
        if items and items[0]["status"] == status:
            return items[0]
        await asyncio.sleep(0.025)
    raise AssertionError(f"the delivery never became {status}")


async def test_a_failed_delivery_is_shown_with_its_attempts_and_replayed(client, browser, settings, receiver):
    receiver.default = Answer(503, body="maintenance")
    endpoint = (await client.post("/v1/webhooks", json={"url": receiver.url, "events": ["notification.sent"]})).json()
    receiver.secret = endpoint["secret"]
    async with _run_worker(settings):
        await client.post("/v1/notifications", json=WELCOME)
        failed = await _delivery_status(client, endpoint["id"], "failed")
        assert [a["status_code"] for a in failed["attempts"]] == [503, 503]
        await login(browser, next_page="/dashboard/webhooks")
        shown = await browser.get("/dashboard/webhooks")
        assert shown.status_code == 200 and receiver.url in shown.text and failed["id"] in shown.text
        assert shown.text.count("503 failed") == 2 and "maintenance" in shown.text
        receiver.default = Answer(204)
        answer = await browser.post("/dashboard/webhooks/replay", data={"csrf": _csrf(shown.text),
                                                                       "delivery": failed["id"]})
        assert answer.status_code == 303 and "replayed=" in answer.headers["location"]
        done = await _delivery_status(client, endpoint["id"], "succeeded")
    assert [a["status_code"] for a in done["attempts"]] == [503, 503, 204]
    assert len(set(receiver.ids())) == 1 and receiver.received[-1].verified
    audit = (await client.get("/v1/audit")).json()["items"]
    assert any(e["action"] == "webhook.replay" and e["detail"].get("via") == "dashboard" for e in audit)


async def test_a_replay_without_the_form_token_is_refused_and_changes_nothing(client, browser, settings, receiver):
    receiver.default = Answer(500)
    endpoint = (await client.post("/v1/webhooks", json={"url": receiver.url, "events": ["notification.sent"]})).json()
    async with _run_worker(settings):
        await client.post("/v1/notifications", json=WELCOME)
        failed = await _delivery_status(client, endpoint["id"], "failed")
    await login(browser, next_page="/dashboard/webhooks")
    answer = await browser.post("/dashboard/webhooks/replay", data={"delivery": failed["id"]})
    assert answer.status_code == 403
    after = (await client.get(f"/v1/webhooks/{endpoint['id']}/deliveries/{failed['id']}")).json()
    assert after["status"] == "failed" and len(after["attempts"]) == 2
