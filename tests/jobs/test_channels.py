"""Slack, HTTP and email deliveries of one notification, against a local Slack, a local HTTP
receiver and the scripted SMTP server, through the API and a real worker."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from standardwebhooks import Webhook

from service.channels import http_secret
from service.settings import Settings
from tests.conftest import drain, make_settings
from tests.support.receiver import Answer, Receiver
from tests.support.slack import SlackServer
from tests.support.smtp import ScriptedSMTP

INQUIRY = {"template": "ops.inquiry",
           "context": {"name": "Grace", "email": "grace@example.com", "message": "A demo, please <!channel>"}}


@pytest.fixture(scope="module")
def slack_server() -> Iterator[SlackServer]:
    with SlackServer() as server:
        yield server


@pytest.fixture
def slack(slack_server: SlackServer) -> SlackServer:
    slack_server.received.clear()
    slack_server._accepted.clear()
    slack_server.script.clear()
    slack_server.limited = 0
    slack_server.archived = False
    return slack_server


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as server:
        yield server


@pytest.fixture
def settings(redis_url: str, smtp: ScriptedSMTP, slack: SlackServer, receiver: Receiver) -> Settings:
    receiver.secret = http_secret(make_settings())
    return make_settings(redis_url=redis_url, smtp_url=smtp.url, webhook_allow_private=True,
                         slack_api_url=slack.api_url, slack_bot_token=slack.token)


async def _send(client: Any, body: dict[str, Any], status: int = 202) -> dict[str, Any]:
    response = await client.post("/v1/notifications", json=body)
    assert response.status_code == status, response.text
    return response.json()


def _statuses(notification: dict[str, Any]) -> dict[str, str]:
    return {d["channel"]: d["status"] for d in notification["deliveries"]}


async def test_one_request_fans_out_to_every_channel_once(client, settings, smtp, slack, receiver) -> None:
    body = INQUIRY | {"channels": ["slack", "http", "email"], "to": "sales@acme.com",
                      "slack": {"webhook_url": slack.webhook_url}, "http": {"url": receiver.url},
                      "idempotency_key": "inquiry-42"}
    accepted = await _send(client, body)
    assert accepted["id"] == "inquiry-42" and accepted["channel"] == "slack"
    assert [(d["id"], d["channel"]) for d in accepted["deliveries"]] == [
        ("inquiry-42", "slack"), ("inquiry-42~http", "http"), ("inquiry-42~email", "email")]
    await drain(settings)
    [message] = slack.posted()
    # Caller's text goes in a plain_text block, which Slack never reads as a mention.
    assert message["blocks"][1]["text"] == {"type": "plain_text", "text": "A demo, please <!channel>"}
    [hook] = receiver.received
    assert hook.verified and hook.headers["webhook-id"] == "inquiry-42~http"
    assert hook.headers["x-herald-notification"] == "inquiry-42"
    [mail] = smtp.received
    assert mail.rcpt_tos == ["sales@acme.com"]
    shown = (await client.get("/v1/notifications/inquiry-42")).json()
    assert _statuses(shown) == {"slack": "sent", "http": "sent", "email": "sent"}
    # The same request again: nothing new is written or sent.
    again = await client.post("/v1/notifications", json=body)
    assert again.status_code == 200
    await drain(settings)
    assert len(slack.posted()) == 1 and len(receiver.received) == 1 and len(smtp.received) == 1


async def test_plain_slack_text_escapes_what_would_mention_everyone(client, settings, slack) -> None:
    context = {"name": "Ada", "author": "<!channel>", "excerpt": "a & b"}
    await _send(client, {"template": "comment.mention", "channels": ["slack"], "context": context,
                         "slack": {"webhook_url": slack.webhook_url}})
    await drain(settings)
    [message] = slack.posted()
    assert message == {"text": "*&lt;!channel&gt;* mentioned Ada: a &amp; b"}


async def test_slack_rate_limit_waits_retry_after_and_the_others_go_on(client, settings, slack, receiver) -> None:
    slack.limited, slack.retry_after = 1, 1
    accepted = await _send(client, INQUIRY | {"channels": ["slack", "http"], "http": {"url": receiver.url},
                                              "slack": {"webhook_url": slack.webhook_url}})
    await drain(settings)
    shown = (await client.get(f"/v1/notifications/{accepted['id']}")).json()
    assert _statuses(shown) == {"slack": "sent", "http": "sent"}
    first, second = shown["attempts"]
    assert (first["outcome"], first["smtp_code"], second["outcome"]) == ("transient_failure", 429, "sent")
    tried = [r.at for r in slack.received]
    assert tried[1] - tried[0] >= 1.0  # Retry-After, not the 0.05 s backoff of these settings
    http_delivery = (await client.get(f"/v1/notifications/{accepted['id']}~http")).json()
    assert [a["outcome"] for a in http_delivery["attempts"]] == ["sent"]


@pytest.mark.parametrize(("address", "error"), [
    ({"channel": "C0NOWHERE"}, "channel_not_found"),
    ("bad-token", "invalid_auth"),
])
async def test_slack_errors_that_waiting_cannot_fix_fail_at_once(client, settings, slack, address, error) -> None:
    if address == "bad-token":
        slack.token, address = "xoxb-another", {"channel": "C0ALERTS"}
    try:
        accepted = await _send(client, INQUIRY | {"slack": address})
        await drain(settings)
    finally:
        slack.token = "xoxb-herald-test"
    shown = (await client.get(f"/v1/notifications/{accepted['id']}")).json()
    assert shown["status"] == "failed" and shown["error"] == error
    assert [a["outcome"] for a in shown["attempts"]] == ["rejected"]


async def test_chat_post_message_with_the_bot_token_names_the_channel(client, settings, slack) -> None:
    await _send(client, INQUIRY | {"slack": {"channel": "C0ALERTS"}})
    await drain(settings)
    [message] = slack.posted()
    assert message["channel"] == "C0ALERTS" and message["text"] == "New inquiry from Grace"
    assert slack.received[0].headers["authorization"] == "Bearer xoxb-herald-test"


async def test_an_archived_slack_channel_fails_without_retrying(client, settings, slack) -> None:
    slack.archived = True
    accepted = await _send(client, INQUIRY | {"slack": {"webhook_url": slack.webhook_url}})
    await drain(settings)
    shown = (await client.get(f"/v1/notifications/{accepted['id']}")).json()
    assert shown["status"] == "failed" and shown["attempts"][0]["smtp_code"] == 410


async def test_http_channel_retries_a_5xx_with_the_same_webhook_id(client, settings, receiver) -> None:
    receiver.script = [Answer(503), Answer(500)]
    accepted = await _send(client, INQUIRY | {"channels": ["http"], "http": {"url": receiver.url}})
    await drain(settings)
    assert [r.headers["webhook-id"] for r in receiver.received] == [accepted["id"]] * 3
    assert all(r.verified for r in receiver.received)
    payload = Webhook(receiver.secret).verify(receiver.received[-1].body, receiver.received[-1].headers)
    assert payload["type"] == "inquiry.created" and payload["notification_id"] == accepted["id"]
    shown = (await client.get(f"/v1/notifications/{accepted['id']}")).json()
    assert [a["outcome"] for a in shown["attempts"]] == ["transient_failure", "transient_failure", "sent"]


async def test_cancelling_a_fanned_out_notification_cancels_every_channel(client, settings, slack, smtp) -> None:
    accepted = await _send(client, INQUIRY | {"channels": ["slack", "email"], "to": "sales@acme.com",
                                              "slack": {"webhook_url": slack.webhook_url}, "delay": 3600})
    cancelled = await client.delete(f"/v1/notifications/{accepted['id']}")
    assert cancelled.status_code == 200
    assert _statuses(cancelled.json()) == {"slack": "cancelled", "email": "cancelled"}
    assert (await client.delete(f"/v1/notifications/{accepted['id']}")).status_code == 409


async def test_channel_metrics_count_each_channel(client, settings, slack, receiver) -> None:
    await _send(client, INQUIRY | {"channels": ["slack", "http"], "http": {"url": receiver.url},
                                   "slack": {"webhook_url": slack.webhook_url}})
    await drain(settings)
    text = (await client.get("/metrics")).text
    assert 'herald_channel_deliveries_total{channel="slack",outcome="sent"} 1.0' in text
    assert 'herald_channel_deliveries_total{channel="http",outcome="sent"} 1.0' in text


async def test_the_mail_servers_send_rate_does_not_hold_back_other_channels(client, settings, slack) -> None:
    for n in range(3):
        await _send(client, INQUIRY | {"slack": {"webhook_url": slack.webhook_url}, "idempotency_key": f"lead-{n}"})
    # One email every 10 s: a Slack message made to wait for it would outlast the drain.
    await drain(settings.model_copy(update={"send_rate_per_second": 0.1}), timeout=8)
    assert len(slack.posted()) == 3


async def test_chat_post_message_rate_limited_is_tried_again(client, settings, slack) -> None:
    slack.limited, slack.retry_after = 2, 0
    accepted = await _send(client, INQUIRY | {"slack": {"channel": "C0ALERTS"}})
    await drain(settings)
    shown = (await client.get(f"/v1/notifications/{accepted['id']}")).json()
    assert [a["outcome"] for a in shown["attempts"]] == ["transient_failure", "transient_failure", "sent"]
    assert shown["attempts"][0]["smtp_code"] == 429 and len(slack.posted()) == 1


async def test_an_address_on_herald_s_own_network_is_not_called(client, settings, receiver) -> None:
    accepted = await _send(client, INQUIRY | {"channels": ["http"], "http": {"url": receiver.url}})
    await drain(settings.model_copy(update={"webhook_allow_private": False}))
    shown = (await client.get(f"/v1/notifications/{accepted['id']}")).json()
    assert shown["status"] == "failed" and shown["error"].startswith("not sent:") and "loopback" in shown["error"]
    assert receiver.received == []
