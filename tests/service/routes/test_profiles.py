"""Recipient profiles, channel preferences and what a notification naming a recipient gets."""

from __future__ import annotations

from typing import Any

import pytest

from service.settings import Settings
from tests.conftest import drain, make_settings
from tests.support.slack import SlackServer
from tests.support.smtp import ScriptedSMTP

INQUIRY = {"template": "ops.inquiry", "context": {"name": "Grace", "email": "g@example.com", "message": "hi"}}


@pytest.fixture
def slack() -> Any:
    with SlackServer() as server:
        yield server


@pytest.fixture
def settings(redis_url: str, smtp: ScriptedSMTP) -> Settings:
    return make_settings(redis_url=redis_url, smtp_url=smtp.url, webhook_allow_private=True)


async def test_a_profile_is_put_read_and_deleted(client) -> None:
    body = {"email": "Ada@Example.com", "name": "Ada", "locale": "fr",
            "slack": {"webhook_url": "https://hooks.slack.com/services/T/B/x"}}
    put = await client.put("/v1/recipients/user_1", json=body)
    assert put.status_code == 200 and put.json()["email"] == "Ada@example.com"
    got = await client.get("/v1/recipients/user_1")
    assert got.json() == {"id": "user_1"} | put.json() | {"id": "user_1"}
    assert (await client.delete("/v1/recipients/user_1")).json() == {"id": "user_1", "deleted": True}
    assert (await client.get("/v1/recipients/user_1")).status_code == 404
    assert (await client.delete("/v1/recipients/user_1")).status_code == 404


@pytest.mark.parametrize("body", [
    {"email": "nobody"}, {"slack": {}}, {"slack": {"webhook_url": "https://x.test/a", "channel": "C1"}},
    {"http": {"url": "ftp://x"}}, {"phone": "+1"}, {"name": "a\nb"},
])
async def test_a_bad_profile_is_a_422_and_writes_nothing(client, body) -> None:
    assert (await client.put("/v1/recipients/user_2", json=body)).status_code == 422
    assert (await client.get("/v1/recipients/user_2")).status_code == 404


async def test_a_bad_recipient_id_is_a_422(client) -> None:
    assert (await client.put("/v1/recipients/a%20b", json={})).status_code == 422


async def test_a_notification_to_a_recipient_uses_the_profiles_addresses(client, settings, smtp, slack) -> None:
    await client.put("/v1/recipients/team_sales", json={"email": "sales@acme.com",
                                                        "slack": {"webhook_url": slack.webhook_url}})
    accepted = await client.post("/v1/notifications", json=INQUIRY | {"recipient": "team_sales",
                                                                     "channels": ["slack", "email"]})
    assert accepted.status_code == 202, accepted.text
    assert accepted.json()["recipient"] == "team_sales"
    await drain(settings)
    assert len(slack.posted()) == 1 and [m.rcpt_tos for m in smtp.received] == [["sales@acme.com"]]


async def test_inline_addresses_win_over_the_profile(client, settings, smtp) -> None:
    await client.put("/v1/recipients/team_sales", json={"email": "sales@acme.com"})
    await client.post("/v1/notifications", json=INQUIRY | {"recipient": "team_sales", "channels": ["email"],
                                                          "to": "override@acme.com"})
    await drain(settings)
    assert [m.rcpt_tos for m in smtp.received] == [["override@acme.com"]]


async def test_a_channel_can_be_turned_off_for_one_category(client, settings, smtp, slack) -> None:
    await client.put("/v1/recipients/team_sales", json={"email": "sales@acme.com",
                                                        "slack": {"webhook_url": slack.webhook_url}})
    prefs = await client.put("/v1/recipients/team_sales/preferences", json={"channels": {"internal": {"slack": False}}})
    assert prefs.status_code == 200, prefs.text
    assert prefs.json()["channels"]["internal"] == {"email": True, "slack": False, "http": True, "inbox": True}
    assert prefs.json()["email"] == "sales@acme.com" and prefs.json()["recipient"] == "team_sales"
    accepted = await client.post("/v1/notifications", json=INQUIRY | {"recipient": "team_sales",
                                                                     "channels": ["slack", "email"]})
    statuses = {d["channel"]: d["status"] for d in accepted.json()["deliveries"]}
    assert statuses == {"slack": "suppressed", "email": "queued"}
    await drain(settings)
    assert slack.posted() == [] and len(smtp.received) == 1
    # The address's own preferences are the same ones.
    by_email = await client.get("/v1/recipients/sales@acme.com/preferences")
    assert by_email.json()["channels"]["internal"]["slack"] is False


@pytest.mark.parametrize(("body", "loc"), [
    ({"channels": {"nonsense": {"slack": False}}}, ["body", "channels"]),
    ({"channels": {"security": {"email": False}}}, ["body", "channels"]),
    ({"channels": {"internal": {"pager": False}}}, ["body", "channels", "internal", "pager", "[key]"]),
])
async def test_bad_channel_preferences_are_a_422(client, body, loc) -> None:
    response = await client.put("/v1/recipients/ada@example.com/preferences", json=body)
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == loc, response.text


@pytest.mark.parametrize(("body", "loc"), [
    ({"template": "user.welcome", "to": "a@example.com", "channels": ["slack"], "context": {"name": "A"}},
     ["body", "channels"]),
    (INQUIRY | {"channels": ["slack"], "to": "a@example.com"}, ["body", "slack"]),
    (INQUIRY | {"channels": ["http"], "to": "a@example.com"}, ["body", "http"]),
    (INQUIRY | {"channels": ["email"], "recipient": "no_profile"}, ["body", "to"]),
    (INQUIRY | {"channels": ["slack", "pager"], "to": "a@example.com"}, ["body", "channels", 1]),
    ({"template": "comment.mention", "to": "a@example.com", "channels": ["inbox"],
      "context": {"name": "A", "author": "B", "excerpt": "c"}}, ["body", "recipient"]),
    ({"template": "comment.mention", "slack": {"channel": "C1"},
      "context": {"name": "A", "author": "B", "excerpt": "c"}}, ["body", "recipient"]),
    ({"template": "ops.inquiry", "slack": {"channel": "C1"}, "context": {"name": "G"}}, ["body", "context", "email"]),
])
async def test_a_notification_that_cannot_go_out_as_asked_is_a_422(client, app, body, loc) -> None:
    response = await client.post("/v1/notifications", json=body)
    assert response.status_code == 422, response.text
    assert response.json()["detail"][0]["loc"] == loc
    assert await app.state.store.redis.dbsize() == 0


async def test_a_templates_default_channels_leave_out_those_without_an_address(client, settings, smtp) -> None:
    context = {"name": "Ada", "author": "Grace", "excerpt": "hi"}
    only_email = await client.post("/v1/notifications", json={"template": "comment.mention", "to": "a@example.com",
                                                             "context": context})
    assert only_email.status_code == 202 and only_email.json()["channel"] == "email"
    assert only_email.json()["deliveries"] == []
    both = await client.post("/v1/notifications", json={"template": "comment.mention", "to": "a@example.com",
                                                       "recipient": "user_5", "context": context})
    assert [d["channel"] for d in both.json()["deliveries"]] == ["inbox", "email"]


async def test_channels_are_listed_with_their_templates(client, settings) -> None:
    listed = {c["name"]: c for c in (await client.get("/v1/channels")).json()["channels"]}
    assert set(listed) == {"email", "slack", "http", "inbox"}
    assert "ops.inquiry" in listed["slack"]["templates"] and "comment.mention" in listed["inbox"]["templates"]
    assert listed["http"]["signing_secret"].startswith("whsec_")


async def test_history_finds_a_recipients_notifications_by_its_id(client, settings) -> None:
    context = {"name": "Ada", "author": "Grace", "excerpt": "hi"}
    inbox_only = await client.post("/v1/notifications", json={"template": "comment.mention", "recipient": "user_h",
                                                             "context": context})
    await client.post("/v1/notifications", json={"template": "comment.mention", "recipient": "user_other",
                                                "context": context})
    found = (await client.get("/v1/notifications", params={"recipient": "user_h"})).json()["items"]
    assert [n["id"] for n in found] == [inbox_only.json()["id"]]
    both = await client.get("/v1/notifications", params={"recipient": "user_h", "to": "a@example.com"})
    assert both.status_code == 422


async def test_preferences_need_categories_or_channels(client) -> None:
    response = await client.put("/v1/recipients/ada@example.com/preferences", json={})
    assert response.status_code == 422 and response.json()["detail"][0]["loc"] == ["body"]
