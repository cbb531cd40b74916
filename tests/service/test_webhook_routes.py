"""/v1/webhooks against a real redis-server: registration, its refusals (SSRF among them), listing,
deleting and the delivery views; bad input is a 4xx that leaves nothing behind."""

from __future__ import annotations

import httpx
import pytest
from standardwebhooks.webhooks import Webhook

from service.keys import WEBHOOKS_KEY

PUBLIC = "https://93.184.216.34/hooks/herald"  # an address literal: no DNS is asked
EVENTS = ["notification.sent", "notification.bounced"]


@pytest.fixture
def redis(app):
    return app.state.store.redis


async def _register(client: httpx.AsyncClient, **body: object) -> dict:
    response = await client.post("/v1/webhooks", json={"url": PUBLIC, "events": EVENTS} | body)
    assert response.status_code == 201, response.text
    return response.json()


async def test_registering_answers_the_secret_once(client):
    created = await _register(client, description="billing")
    assert created["id"].startswith("wh_") and created["secret"].startswith("whsec_")
    Webhook(created["secret"])  # the standardwebhooks package takes it as it is
    assert created["status"] == "enabled" and created["events"] == EVENTS
    shown = (await client.get(f"/v1/webhooks/{created['id']}")).json()
    assert "secret" not in shown and shown["url"] == PUBLIC and shown["description"] == "billing"
    listed = (await client.get("/v1/webhooks")).json()["items"]
    assert [e["id"] for e in listed] == [created["id"]] and "secret" not in listed[0]


async def test_event_types_are_kept_once_in_their_documented_order(client):
    created = await _register(client, events=["recipient.unsubscribed", "notification.sent", "notification.sent"])
    assert created["events"] == ["notification.sent", "recipient.unsubscribed"]


@pytest.mark.parametrize("url", [
    "http://127.0.0.1:8080/hook", "http://localhost/hook", "http://10.1.2.3/hook", "http://192.168.0.10/",
    "http://169.254.169.254/latest/meta-data/", "http://[::1]/hook", "http://[::ffff:127.0.0.1]/hook",
    "http://0.0.0.0/", "http://100.64.0.1/",
])
async def test_private_and_local_addresses_are_refused(client, redis, url):
    response = await client.post("/v1/webhooks", json={"url": url, "events": EVENTS})
    assert response.status_code == 422
    [error] = response.json()["detail"]
    assert error["loc"] == ["body", "url"] and "WEBHOOK_ALLOW_PRIVATE" in error["msg"]
    assert not await redis.exists(WEBHOOKS_KEY)


@pytest.mark.parametrize("body", [
    {"url": "ftp://93.184.216.34/x", "events": EVENTS},
    {"url": "https://user:pw@93.184.216.34/x", "events": EVENTS},
    {"url": "https://93.184.216.34:99999/x", "events": EVENTS},
    {"url": PUBLIC, "events": []},
    {"url": PUBLIC, "events": ["notification.opened"]},
    {"url": PUBLIC, "events": EVENTS, "secret": "whsec_mine"},
    {"url": PUBLIC},
    {"events": EVENTS},
    {"url": "h" * 3000, "events": EVENTS},
    [],
])
async def test_malformed_registrations_are_422_and_change_nothing(client, redis, body):
    response = await client.post("/v1/webhooks", json=body)
    assert response.status_code == 422, response.text
    assert not await redis.exists(WEBHOOKS_KEY)


async def test_a_host_that_does_not_resolve_is_refused(client):
    response = await client.post("/v1/webhooks", json={"url": "https://nowhere.invalid/hook", "events": EVENTS})
    assert response.status_code == 422 and "does not resolve" in response.json()["detail"][0]["msg"]


async def test_deleting_an_endpoint(client, redis):
    created = await _register(client)
    assert (await client.delete(f"/v1/webhooks/{created['id']}")).status_code == 204
    assert (await client.get(f"/v1/webhooks/{created['id']}")).status_code == 404
    assert (await client.delete(f"/v1/webhooks/{created['id']}")).status_code == 404
    assert not await redis.exists(WEBHOOKS_KEY)  # so the scripts stop writing the outbox
    audit = (await client.get("/v1/audit")).json()["items"]
    assert {"webhook.create", "webhook.delete"} <= {entry["action"] for entry in audit}


@pytest.mark.parametrize("path", [
    "/v1/webhooks/wh_nope", "/v1/webhooks/wh_nope/deliveries", "/v1/webhooks/wh_nope/deliveries/msg_x",
    "/v1/webhooks/" + "x" * 500,
])
async def test_unknown_endpoints_and_deliveries_are_404(client, path):
    assert (await client.get(path)).status_code == 404


async def test_delivery_views_refuse_bad_queries_and_unknown_ids(client):
    created = await _register(client)
    base = f"/v1/webhooks/{created['id']}/deliveries"
    assert (await client.get(base)).json() == {"items": [], "next_cursor": None}
    for query in ("?cursor=nonsense", "?status=lost", "?limit=0", "?limit=201"):
        assert (await client.get(base + query)).status_code == 422, query
    assert (await client.get(f"{base}/msg_unknown")).status_code == 404
    assert (await client.post(f"{base}/msg_unknown/replay")).status_code == 404
    assert (await client.post("/v1/webhooks/wh_nope/enable")).status_code == 404


async def test_webhooks_need_the_api_key(client):
    for method, path in (("GET", "/v1/webhooks"), ("POST", "/v1/webhooks"), ("DELETE", "/v1/webhooks/wh_x")):
        response = await client.request(method, path, headers={"Authorization": "Bearer wrong"})
        assert response.status_code == 401, (method, path)
