"""POST /v1/inbound/{provider} against a real redis-server, real delivery and real signatures: SNS
messages signed with an RSA certificate made here (handed in as the app's SNS client, the one
part that would reach AWS), SendGrid's ECDSA, Mailgun's HMAC, Postmark's Basic credentials."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import NameOID
from hypothesis import HealthCheck, given, settings as hypothesis_settings, strategies as st

from service.factory import create_app
from service.providers import sns
from service.settings import Settings
from tests.conftest import make_settings
from tests.service.test_events import WELCOME, sent
from tests.support.smtp import ScriptedSMTP

TOPIC = "arn:aws:sns:eu-west-1:123456789012:ses-bounces"
CERT_URL = "https://sns.eu-west-1.amazonaws.com/SimpleNotificationService-0000.pem"
MAILGUN_KEY = "key-3ax6xnjp29jd6fds4gc373sgvjxteol0"
_RSA = rsa.generate_private_key(public_exponent=65537, key_size=2048)
_EC = ec.generate_private_key(ec.SECP256R1())
SENDGRID_KEY = base64.b64encode(_EC.public_key().public_bytes(
    serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)).decode()


def _certificate() -> bytes:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sns.amazonaws.com")])
    now = datetime.now(UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(_RSA.public_key())
            .serial_number(1).not_valid_before(now - timedelta(days=1)).not_valid_after(now + timedelta(days=1))
            .sign(_RSA, hashes.SHA256()))
    return cert.public_bytes(serialization.Encoding.PEM)


class LocalSns:
    """Serves the certificate SNS would, and notes the subscriptions confirmed."""

    def __init__(self) -> None:
        self.pem = _certificate()
        self.asked: list[str] = []
        self.confirmed: list[str] = []

    async def certificate(self, url: str) -> bytes:
        self.asked.append(url)
        return self.pem

    async def confirm(self, url: str) -> None:
        self.confirmed.append(url)


@pytest.fixture
def settings(redis_url: str, smtp: ScriptedSMTP) -> Settings:
    return make_settings(redis_url=redis_url, smtp_url=smtp.url, ses_topic_arns=[TOPIC],
                         postmark_webhook_secret="pm-secret-1234", sendgrid_webhook_public_key=SENDGRID_KEY,
                         mailgun_webhook_signing_key=MAILGUN_KEY)


@pytest.fixture
def local_sns(app) -> LocalSns:
    app.state.sns = LocalSns()
    return app.state.sns


@pytest.fixture
def public(app) -> httpx.AsyncClient:
    """A client without the API key, as the providers are."""
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://herald.test")


def sns_message(message: dict[str, Any] | str, *, version: str = "1", kind: str = "Notification",
                **fields: str) -> dict[str, Any]:
    envelope = {"Type": kind, "MessageId": "b7c6e1d4-0000-4000-8000-000000000001", "TopicArn": TOPIC,
                "Message": message if isinstance(message, str) else json.dumps(message),
                "Timestamp": "2026-12-06T10:00:00.000Z", "SignatureVersion": version,
                "SigningCertURL": CERT_URL} | fields
    algorithm = hashes.SHA1() if version == "1" else hashes.SHA256()
    signature = _RSA.sign(sns.string_to_sign(envelope), padding.PKCS1v15(), algorithm)
    return envelope | {"Signature": base64.b64encode(signature).decode()}


def ses_bounce(note: dict[str, Any], *, bounce_type: str = "Permanent") -> dict[str, Any]:
    return {"notificationType": "Bounce",
            "bounce": {"bounceType": bounce_type, "bounceSubType": "General", "feedbackId": "0100-fb-1",
                       "timestamp": "2026-12-06T10:00:01.000Z", "reportingMTA": "dsn; a1-2.smtp-out.amazonses.com",
                       "bouncedRecipients": [{"emailAddress": "ada@example.com", "action": "failed",
                                              "status": "5.1.1", "diagnosticCode": "smtp; 550 5.1.1 user unknown"}]},
            "mail": {"messageId": "0100-ses-1", "source": "no-reply@acme.test",
                     "commonHeaders": {"messageId": note["message_id"]}}}


async def _status(client: httpx.AsyncClient, note: dict[str, Any]) -> dict[str, Any]:
    return (await client.get(f"/v1/notifications/{note['id']}")).json()


async def _nothing_changed(client: httpx.AsyncClient, note: dict[str, Any]) -> None:
    got = await _status(client, note)
    assert got["status"] == "sent" and not got["events"]
    assert (await client.get("/v1/suppressions")).json()["items"] == []


@pytest.mark.parametrize("version", ["1", "2"])
async def test_a_signed_ses_bounce_makes_it_bounced(client, public, settings, local_sns, version):
    note = await sent(client, settings)
    response = await public.post("/v1/inbound/ses", json=sns_message(ses_bounce(note), version=version))
    assert response.json() == {"reports": 1, "recorded": 1, "duplicate": 0, "unmatched": 0}
    got = await _status(client, note)
    assert got["status"] == "bounced"
    [event] = got["events"]
    assert event["source"] == "ses" and event["detail"]["status"] == "5.1.1"
    assert event["detail"]["matched_by"] == "message-id" and event["at"] == "2026-12-06T10:00:01.000Z"
    [entry] = (await client.get("/v1/suppressions")).json()["items"]
    assert entry["email"] == "ada@example.com" and entry["reason"].startswith("bounce")
    assert local_sns.asked == [CERT_URL]
    again = await public.post("/v1/inbound/ses", json=sns_message(ses_bounce(note), version=version))
    assert again.json()["duplicate"] == 1 and len((await _status(client, note))["events"]) == 1


@pytest.mark.parametrize("spoil", ["message", "topic", "cert_url", "signature", "version"])
async def test_an_ses_message_that_does_not_verify_is_401_and_changes_nothing(client, public, settings, local_sns,
                                                                            spoil):
    note = await sent(client, settings)
    envelope = sns_message(ses_bounce(note))
    if spoil == "message":  # altered after signing
        envelope["Message"] = envelope["Message"].replace("Permanent", "Transient")
    elif spoil == "topic":  # signed, but by someone else's topic
        envelope = sns_message(ses_bounce(note), TopicArn="arn:aws:sns:eu-west-1:999999999999:mine")
    elif spoil == "cert_url":  # a certificate of the sender's choosing
        envelope = sns_message(ses_bounce(note), SigningCertURL="https://sns.evil.test/cert.pem")
    elif spoil == "signature":
        envelope["Signature"] = base64.b64encode(b"\0" * 256).decode()
    else:
        envelope["SignatureVersion"] = "3"
    response = await public.post("/v1/inbound/ses", json=envelope)
    assert response.status_code == 401, response.text
    await _nothing_changed(client, note)
    if spoil == "cert_url":
        assert local_sns.asked == []


async def test_the_sns_subscription_is_confirmed(public, local_sns):
    subscribe = "https://sns.eu-west-1.amazonaws.com/?Action=ConfirmSubscription&TopicArn=x&Token=t"
    envelope = sns_message("You have chosen to subscribe", kind="SubscriptionConfirmation", Token="t",
                           SubscribeURL=subscribe)
    response = await public.post("/v1/inbound/ses", json=envelope)
    assert response.status_code == 200 and response.json()["reports"] == 0
    assert local_sns.confirmed == [subscribe]
    forged = sns_message("x", kind="SubscriptionConfirmation", Token="t", SubscribeURL="https://evil.test/")
    assert (await public.post("/v1/inbound/ses", json=forged)).status_code == 401
    assert local_sns.confirmed == [subscribe]


async def test_ses_with_a_shared_secret_and_a_complaint(redis_url, smtp):
    settings = make_settings(redis_url=redis_url, smtp_url=smtp.url, ses_webhook_secret="ses-secret-5678")
    app = create_app(settings)
    async with LifespanManager(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://h.test",
                                     headers={"Authorization": f"Bearer {settings.api_keys[0][1]}"}) as client:
            note = await sent(client, settings)
            complaint = {"notificationType": "Complaint", "mail": {"commonHeaders": {"messageId": note["message_id"]}},
                         "complaint": {"feedbackId": "0100-c-1", "complaintFeedbackType": "abuse",
                                       "complainedRecipients": [{"emailAddress": "ada@example.com"}],
                                       "timestamp": "2026-12-06T11:00:00Z"}}
            envelope = {"Type": "Notification", "MessageId": "m", "TopicArn": TOPIC, "Message": json.dumps(complaint),
                        "Timestamp": "2026-12-06T11:00:00Z"}  # unsigned: the secret vouches for it
            wrong = await client.post("/v1/inbound/ses", json=envelope, auth=("herald", "guess"))
            assert wrong.status_code == 401
            assert (await client.post("/v1/inbound/ses", json=envelope)).status_code == 401
            await _nothing_changed(client, note)
            right = await client.post("/v1/inbound/ses", json=envelope, auth=("herald", "ses-secret-5678"))
            assert right.json()["recorded"] == 1
            got = await _status(client, note)
            assert got["status"] == "complained" and got["events"][0]["detail"]["feedback_type"] == "abuse"


async def test_a_provider_left_unconfigured_is_401(redis_url, smtp):
    bare = make_settings(redis_url=redis_url, smtp_url=smtp.url)
    app = create_app(bare)
    async with LifespanManager(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://h.test") as anon:
            for provider in ("ses", "postmark", "sendgrid", "mailgun"):
                answer = await anon.post(f"/v1/inbound/{provider}", content=b"{}")
                assert answer.status_code == 401 and "configured" in answer.json()["detail"], provider


async def test_an_unknown_provider_is_404(public):
    assert (await public.post("/v1/inbound/sparkpost", json={})).status_code == 404


# -- Postmark ----------------------------------------------------------------------------------------

def postmark_bounce(note: dict[str, Any], bounce_type: str = "HardBounce", record: str = "Bounce") -> dict[str, Any]:
    return {"RecordType": record, "ID": 4323372036854775807, "Type": bounce_type, "TypeCode": 1,
            "MessageID": "883953f4-6105-42a2-a16a-77a8eac79483", "Email": "ada@example.com",
            "Description": "The server was unable to deliver your message (ex: unknown user, mailbox not found).",
            "Details": "smtp;550 5.1.1 The email account that you tried to reach does not exist",
            "BouncedAt": "2026-12-06T10:02:00.9070259Z", "Metadata": {"herald_notification": note["id"]}}


async def test_a_postmark_hard_bounce_found_by_its_metadata(client, public, settings, smtp):
    note = await sent(client, settings)
    assert smtp.received[-1].message["X-PM-Metadata-herald_notification"] == note["id"]
    body = postmark_bounce(note)
    assert (await public.post("/v1/inbound/postmark", json=body, auth=("x", "wrong"))).status_code == 401
    assert (await public.post("/v1/inbound/postmark", json=body)).status_code == 401
    await _nothing_changed(client, note)
    response = await public.post("/v1/inbound/postmark", json=body, auth=("herald", "pm-secret-1234"))
    assert response.json()["recorded"] == 1
    got = await _status(client, note)
    assert got["status"] == "bounced" and "does not exist" in got["events"][0]["detail"]["diagnostic"]
    assert got["events"][0]["at"] == "2026-12-06T10:02:00.907Z"


async def test_a_postmark_transient_bounce_is_soft_and_suppresses_nothing(client, public, settings):
    note = await sent(client, settings)
    body = postmark_bounce(note, "Transient")
    await public.post("/v1/inbound/postmark", json=body, auth=("herald", "pm-secret-1234"))
    got = await _status(client, note)
    assert got["status"] == "sent" and got["events"][0]["type"] == "soft_bounce"
    assert (await client.get("/v1/suppressions")).json()["items"] == []
    ignored = postmark_bounce(note, "AutoResponder") | {"ID": 2}
    answer = await public.post("/v1/inbound/postmark", json=ignored, auth=("herald", "pm-secret-1234"))
    assert answer.json()["reports"] == 0


async def test_a_postmark_spam_complaint(client, public, settings):
    note = await sent(client, settings)
    body = postmark_bounce(note, "SpamComplaint", record="SpamComplaint")
    await public.post("/v1/inbound/postmark", json=body, auth=("herald", "pm-secret-1234"))
    assert (await _status(client, note))["status"] == "complained"


# -- SendGrid ----------------------------------------------------------------------------------------

def sendgrid_headers(body: bytes, timestamp: str = "1796551200") -> dict[str, str]:
    signature = _EC.sign(timestamp.encode() + body, ec.ECDSA(hashes.SHA256()))
    return {"X-Twilio-Email-Event-Webhook-Signature": base64.b64encode(signature).decode(),
            "X-Twilio-Email-Event-Webhook-Timestamp": timestamp, "Content-Type": "application/json"}


async def test_a_signed_sendgrid_batch(client, public, settings):
    note = await sent(client, settings)
    other = await sent(client, settings, WELCOME | {"to": "bob@example.com"})
    events = [
        {"email": "ada@example.com", "event": "bounce", "type": "bounce", "status": "5.1.1",
         "reason": "550 5.1.1 user unknown", "sg_event_id": "ev-1", "smtp-id": note["message_id"],
         "timestamp": 1796551200},
        {"email": "bob@example.com", "event": "deferred", "response": "451 try later", "sg_event_id": "ev-2",
         "smtp-id": other["message_id"], "timestamp": 1796551201},
        {"email": "bob@example.com", "event": "open", "sg_event_id": "ev-3"},
    ]
    body = json.dumps(events).encode()
    tampered = body.replace(b"5.1.1 user", b"5.1.1 USER")
    assert (await public.post("/v1/inbound/sendgrid", content=tampered, headers=sendgrid_headers(body))).status_code == 401
    assert (await public.post("/v1/inbound/sendgrid", content=body)).status_code == 401
    await _nothing_changed(client, note)
    response = await public.post("/v1/inbound/sendgrid", content=body, headers=sendgrid_headers(body))
    assert response.json() == {"reports": 2, "recorded": 2, "duplicate": 0, "unmatched": 0}
    assert (await _status(client, note))["status"] == "bounced"
    delayed = await _status(client, other)
    assert delayed["status"] == "sent" and delayed["events"][0]["type"] == "delayed"


# -- Mailgun -----------------------------------------------------------------------------------------

def mailgun_body(event: dict[str, Any], *, key: str = MAILGUN_KEY) -> dict[str, Any]:
    timestamp, token = "1796551200", "a8ce0edb2dd8301dee6c2405235584e45aa91d1e9f979f3de0"
    signature = hmac.new(key.encode(), (timestamp + token).encode(), hashlib.sha256).hexdigest()
    return {"signature": {"timestamp": timestamp, "token": token, "signature": signature}, "event-data": event}


async def test_a_mailgun_permanent_failure_and_a_complaint(client, public, settings):
    note = await sent(client, settings)
    other = await sent(client, settings, WELCOME | {"to": "bob@example.com"})
    failed = {"event": "failed", "severity": "permanent", "reason": "bounce", "id": "mg-1",
              "recipient": "ada@example.com", "timestamp": 1796551200.375,
              "message": {"headers": {"message-id": note["message_id"].strip("<>")}},
              "delivery-status": {"code": 550, "message": "5.1.1 The email account does not exist"}}
    forged = mailgun_body(failed, key="key-not-mailguns")
    assert (await public.post("/v1/inbound/mailgun", json=forged)).status_code == 401
    await _nothing_changed(client, note)
    assert (await public.post("/v1/inbound/mailgun", json=mailgun_body(failed))).json()["recorded"] == 1
    got = await _status(client, note)
    assert got["status"] == "bounced" and got["events"][0]["detail"]["status"] == "5.1.1"
    complained = {"event": "complained", "id": "mg-2", "recipient": "bob@example.com",
                  "message": {"headers": {"message-id": other["message_id"].strip("<>")}}}
    await public.post("/v1/inbound/mailgun", json=mailgun_body(complained))
    assert (await _status(client, other))["status"] == "complained"


# -- whatever arrives ----------------------------------------------------------------------------------

_JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=20),
                     lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner,
                                                                                   max_size=5), max_leaves=20)
_KEYS = ["notificationType", "eventType", "bounce", "complaint", "delivery", "mail", "bouncedRecipients",
         "RecordType", "Type", "Email", "Metadata", "event", "severity", "recipient", "message", "headers"]
_SHAPED = st.dictionaries(st.sampled_from(_KEYS), _JSON, max_size=6)


@hypothesis_settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(payload=st.one_of(_JSON, _SHAPED, st.lists(_SHAPED, max_size=3)))
async def test_any_verified_payload_is_answered_200_or_400_never_500(public, payload):
    body = json.dumps(payload).encode()
    answers = [
        await public.post("/v1/inbound/postmark", content=body, auth=("herald", "pm-secret-1234")),
        await public.post("/v1/inbound/sendgrid", content=body, headers=sendgrid_headers(body)),
        await public.post("/v1/inbound/mailgun", json={**mailgun_body({}), "event-data": payload}),
        await public.post("/v1/inbound/ses", content=body),
    ]
    for answer in answers:
        assert answer.status_code in (200, 400, 401), (answer.status_code, answer.text)
    assert answers[0].status_code != 401 and answers[1].status_code != 401 and answers[2].status_code != 401
