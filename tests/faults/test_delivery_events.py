"""After the 250, with the Procfile's processes: web, worker and inbound as subprocesses over a
real redis-server, the scriptable SMTP server answering 250, and a real HTTP receiver verifying
every webhook with the `standardwebhooks` package.

A DSN mailed to the VERP address, an ARF complaint and an SNS-shaped SES bounce each change the
notification, suppress the address and reach the product as a signed webhook; a receiver that
is down for a while loses nothing and sees each event under one webhook-id; a 410 disables it.
"""

from __future__ import annotations

import json
import smtplib
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from service.embedded import free_port
from tests.jobs.test_inbound import BOUNCE, dsn
from tests.support.herald import AUTH, Herald, herald_env, wait_until
from tests.support.receiver import Answer, Receiver
from tests.support.smtp import ScriptedSMTP

pytestmark = pytest.mark.e2e
SES_SECRET = "ses-e2e-secret-0123"
EVENTS = ["notification.sent", "notification.bounced", "notification.complained", "notification.suppressed"]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as server:
        yield server


@pytest.fixture
def herald(redis_url: str, smtp: ScriptedSMTP) -> Iterator[Herald]:
    env = herald_env(redis_url, smtp.url) | {
        "BOUNCE_ADDRESS": BOUNCE, "INBOUND_SMTP_PORT": str(free_port()), "INBOUND_SMTP_HOST": "127.0.0.1",
        "WEBHOOK_ALLOW_PRIVATE": "true", "WEBHOOK_RETRY_SECONDS": "0,0.3,0.3,0.5,0.5,1,1,1,1,1,1,1,1,1,1",
        "SES_WEBHOOK_SECRET": SES_SECRET,
    }
    app = Herald(env)
    for name in ("web", "worker", "inbound"):
        app.start(name)
    try:
        app.wait_web()
        yield app
    finally:
        app.stop_all()


@pytest.fixture
def api(herald: Herald) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=herald.base, headers=AUTH, timeout=10) as client:
        yield client


def _register(api: httpx.Client, receiver: Receiver, events: list[str]) -> dict[str, Any]:
    response = api.post("/v1/webhooks", json={"url": receiver.url, "events": events})
    assert response.status_code == 201, response.text
    receiver.secret = response.json()["secret"]
    return response.json()


def _send(api: httpx.Client, smtp: ScriptedSMTP, to: str, template: str = "user.welcome") -> tuple[dict, Any]:
    context = {"name": "Ada"} if template == "user.welcome" else {"headline": "News", "body": "Hello"}
    created = api.post("/v1/notifications", json={"template": template, "to": to, "context": context})
    assert created.status_code == 202, created.text
    nid = created.json()["id"]
    wait_until(lambda: any(m.message["X-Herald-Notification"] == nid for m in smtp.received), 20, f"{to}'s mail")
    mail = next(m for m in smtp.received if m.message["X-Herald-Notification"] == nid)
    return api.get(f"/v1/notifications/{nid}").json(), mail


def _mail_report(herald: Herald, report: bytes, recipient: str) -> None:
    """As a remote MTA does: MAIL FROM:<> to the inbound port."""
    with smtplib.SMTP("127.0.0.1", int(herald.env["INBOUND_SMTP_PORT"]), timeout=10) as client:
        client.sendmail("", [recipient], report)


def _until_status(api: httpx.Client, nid: str, status: str) -> dict[str, Any]:
    wait_until(lambda: api.get(f"/v1/notifications/{nid}").json()["status"] == status, 20, f"{nid} {status}")
    return api.get(f"/v1/notifications/{nid}").json()


def _hooks(receiver: Receiver) -> list[tuple[str, str, str]]:
    """(webhook-id, type, notification id) of each verified request received."""
    found = []
    for request in receiver.received:
        assert request.verified, request.headers
        body = json.loads(request.body)
        found.append((request.headers["webhook-id"], body["type"], body["data"]["notification"]["id"]))
    return found


def _arf(original: bytes, recipient: str) -> bytes:
    headers = original.split(b"\r\n\r\n", 1)[0].decode()
    return (
        "From: fbl@mail.example.net\r\nTo: abuse@bounce.acme.test\r\nSubject: FW: complaint\r\n"
        "Message-ID: <arf-1@mail.example.net>\r\nMIME-Version: 1.0\r\n"
        'Content-Type: multipart/report; report-type=feedback-report; boundary="F"\r\n\r\n'
        "--F\r\nContent-Type: text/plain\r\n\r\nThis is an email abuse report.\r\n\r\n"
        "--F\r\nContent-Type: message/feedback-report\r\n\r\n"
        f"Feedback-Type: abuse\r\nUser-Agent: ExampleFBL/1.0\r\nVersion: 1\r\nOriginal-Rcpt-To: <{recipient}>\r\n"
        "Arrival-Date: Sun, 06 Dec 2026 10:00:00 +0000\r\n\r\n"
        f"--F\r\nContent-Type: text/rfc822-headers\r\n\r\n{headers}\r\n\r\n--F--\r\n"
    ).encode()


def test_dsn_arf_and_ses_reports_reach_the_product_as_signed_webhooks(herald, api, smtp, receiver):
    endpoint = _register(api, receiver, EVENTS)
    # A DSN mailed to the message's own VERP address.
    ada, mail = _send(api, smtp, "ada@example.com")
    assert mail.mail_from.startswith("bounces+") and mail.mail_from.endswith("@bounce.acme.test")
    _mail_report(herald, dsn(mail.raw, recipient="ada@example.com"), mail.mail_from)
    bounced = _until_status(api, ada["id"], "bounced")
    assert bounced["events"][0]["source"] == "dsn" and "5.1.1" in bounced["error"]
    suppressed = {e["email"]: e for e in api.get("/v1/suppressions").json()["items"]}
    assert suppressed["ada@example.com"]["reason"].startswith("bounce")
    # An ARF complaint, to the bare bounce address.
    bob, mail = _send(api, smtp, "bob@example.com", template="newsletter")
    _mail_report(herald, _arf(mail.raw, "bob@example.com"), BOUNCE)
    assert _until_status(api, bob["id"], "complained")["events"][0]["source"] == "arf"
    # An SES bounce as SNS posts it (vouched for by SES_WEBHOOK_SECRET).
    carol, _ = _send(api, smtp, "carol@example.com")
    notification = {"notificationType": "Bounce", "mail": {"commonHeaders": {"messageId": carol["message_id"]}},
                    "bounce": {"bounceType": "Permanent", "feedbackId": "fb-1", "bouncedRecipients": [
                        {"emailAddress": "carol@example.com", "status": "5.1.1", "action": "failed"}]}}
    envelope = {"Type": "Notification", "MessageId": "sns-1", "TopicArn": "arn:aws:sns:eu-west-1:1:ses",
                "Message": json.dumps(notification), "Timestamp": "2026-12-06T10:00:00Z"}
    with httpx.Client(base_url=herald.base, timeout=10) as provider:
        assert provider.post("/v1/inbound/ses", json=envelope, auth=("sns", "wrong")).status_code == 401
        assert provider.post("/v1/inbound/ses", json=envelope, auth=("sns", SES_SECRET)).json()["recorded"] == 1
    _until_status(api, carol["id"], "bounced")
    # Sending to a bounced address again is refused, and the product hears of that too.
    again = api.post("/v1/notifications", json={"template": "user.welcome", "to": "ada@example.com",
                                                "context": {"name": "Ada"}}).json()
    expected = {("notification.sent", n["id"]) for n in (ada, bob, carol)}
    expected |= {("notification.bounced", ada["id"]), ("notification.complained", bob["id"]),
                 ("notification.bounced", carol["id"]), ("notification.suppressed", again["id"])}
    wait_until(lambda: {(t, n) for _, t, n in _hooks(receiver)} >= expected, 20, "every webhook")
    hooks = _hooks(receiver)
    assert len({hook_id for hook_id, _, _ in hooks}) == len(hooks) == len(expected)
    bounce_body = next(json.loads(r.body) for r in receiver.received
                       if json.loads(r.body)["type"] == "notification.bounced")
    assert bounce_body["data"]["notification"]["status"] == "bounced"
    deliveries = api.get(f"/v1/webhooks/{endpoint['id']}/deliveries").json()["items"]
    assert {d["status"] for d in deliveries} == {"succeeded"} and len(deliveries) == len(expected)


def test_a_receiver_down_for_a_while_loses_nothing_then_410_disables_it(herald, api, smtp, receiver):
    endpoint = _register(api, receiver, ["notification.sent"])
    receiver.down()
    sent = [_send(api, smtp, f"user{n}@example.com")[0]["id"] for n in range(10)]
    wait_until(lambda: len(api.get(f"/v1/webhooks/{endpoint['id']}/deliveries").json()["items"]) == 10, 20,
               "a delivery per event")
    failed_attempts = sum(len(d["attempts"]) for d in
                          api.get(f"/v1/webhooks/{endpoint['id']}/deliveries").json()["items"])
    assert failed_attempts >= 10  # each was tried while the receiver was down
    receiver.up()
    wait_until(lambda: {n for _, _, n in _hooks(receiver)} == set(sent), 30, "every event after the outage")
    per_event: dict[str, set[str]] = {}
    for hook_id, _, nid in _hooks(receiver):
        per_event.setdefault(nid, set()).add(hook_id)
    assert all(len(ids) == 1 for ids in per_event.values())  # a retry is the same webhook-id
    assert len({next(iter(ids)) for ids in per_event.values()}) == 10
    # 410 Gone: the endpoint is disabled and hears nothing more, while a second one still does.
    with Receiver() as witness:
        _register(api, witness, ["notification.sent"])
        receiver.default = Answer(410)
        before = len(receiver.received)
        _send(api, smtp, "gone@example.com")
        wait_until(lambda: api.get(f"/v1/webhooks/{endpoint['id']}").json()["status"] == "disabled", 20, "disabled")
        after = _send(api, smtp, "after@example.com")[0]
        wait_until(lambda: after["id"] in {n for _, _, n in _hooks(witness)}, 20, "the witness's webhook")
    assert len(receiver.received) == before + 1
    assert "410" in api.get(f"/v1/webhooks/{endpoint['id']}").json()["disabled_reason"]
