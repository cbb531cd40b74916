"""The inbound SMTP server (jobs.inbound) on loopback, with a real redis-server: a DSN to the
VERP address of a sent notification makes it bounced; other mail is refused or kept as unparsed."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import aiosmtplib
import httpx
import pytest

from jobs.inbound import serve
from service.embedded import free_port
from service.settings import Settings
from tests.conftest import drain, make_settings
from tests.support.smtp import ScriptedSMTP

BOUNCE = "bounces@bounce.acme.test"
WELCOME = {"template": "user.welcome", "to": "ada@example.com", "context": {"name": "Ada"}}


def dsn(original: bytes, *, recipient: str = "ada@example.com", action: str = "failed", status: str = "5.1.1",
        report_id: str = "<dsn-1@mx.example.com>") -> bytes:
    """A Postfix-shaped RFC 3464 report returning the original message's headers."""
    headers = original.split(b"\r\n\r\n", 1)[0].decode()
    return (
        f"From: MAILER-DAEMON@mx.example.com (Mail Delivery System)\r\n"
        f"To: {BOUNCE}\r\nSubject: Undelivered Mail Returned to Sender\r\nMessage-ID: {report_id}\r\n"
        "MIME-Version: 1.0\r\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="B"\r\n\r\n'
        "--B\r\nContent-Type: text/plain\r\n\r\nThis is the mail system at host mx.example.com.\r\n\r\n"
        "--B\r\nContent-Type: message/delivery-status\r\n\r\n"
        "Reporting-MTA: dns; mx.example.com\r\n\r\n"
        f"Final-Recipient: rfc822; {recipient}\r\nAction: {action}\r\nStatus: {status}\r\n"
        f"Diagnostic-Code: smtp; 550 {status} <{recipient}>: Recipient address rejected: User unknown\r\n\r\n"
        f"--B\r\nContent-Type: text/rfc822-headers\r\n\r\n{headers}\r\n\r\n--B--\r\n"
    ).encode()


async def send_null(message: bytes, recipient: str, port: int) -> None:
    """Send as an MTA sends a report: with the null reverse path (MAIL FROM:<>), so it is never bounced."""
    client = aiosmtplib.SMTP(hostname="127.0.0.1", port=port)
    async with client:
        await client.sendmail("", [recipient], message)


@asynccontextmanager
async def inbound(settings: Settings) -> AsyncIterator[int]:
    port = free_port()
    stop = asyncio.Event()
    task = asyncio.create_task(serve(settings, host="127.0.0.1", port=port, stop=stop))
    for _ in range(100):
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.close()
            break
        except OSError:
            await asyncio.sleep(0.05)
    try:
        yield port
    finally:
        stop.set()
        await task


@pytest.fixture
def settings(redis_url: str, smtp: ScriptedSMTP) -> Settings:
    # overrides conftest's, so the app and client it builds use these
    return make_settings(redis_url=redis_url, smtp_url=smtp.url, bounce_address=BOUNCE)


@pytest.fixture
def api(client: httpx.AsyncClient) -> httpx.AsyncClient:
    return client


async def _sent(api: httpx.AsyncClient, settings: Settings, smtp: ScriptedSMTP) -> tuple[dict[str, Any], Any]:
    created = (await api.post("/v1/notifications", json=WELCOME)).json()
    await drain(settings)
    [mail] = smtp.received
    return created, mail


async def test_a_dsn_to_the_verp_address_makes_the_notification_bounced(api, settings, smtp):
    created, mail = await _sent(api, settings, smtp)
    assert mail.mail_from.startswith("bounces+") and mail.mail_from.endswith("@bounce.acme.test")
    report = dsn(mail.raw)
    async with inbound(settings) as port:
        await send_null(report, mail.mail_from, port)
        await send_null(report, mail.mail_from, port)
    got = (await api.get(f"/v1/notifications/{created['id']}")).json()
    assert got["status"] == "bounced"
    [event] = got["events"]  # the same report twice is one event
    assert event["type"] == "bounced" and event["source"] == "dsn" and event["detail"]["status"] == "5.1.1"
    [entry] = (await api.get("/v1/suppressions")).json()["items"]
    assert entry["email"] == "ada@example.com" and entry["reason"].startswith("bounce")


async def test_a_report_without_its_token_is_found_from_the_returned_headers(api, settings, smtp):
    created, mail = await _sent(api, settings, smtp)
    async with inbound(settings) as port:
        await send_null(dsn(mail.raw, action="delayed", status="4.4.7"), BOUNCE, port)
    got = (await api.get(f"/v1/notifications/{created['id']}")).json()
    assert got["status"] == "sent" and [e["type"] for e in got["events"]] == ["delayed"]


async def test_mail_for_anyone_else_is_refused_at_rcpt(settings):
    async with inbound(settings) as port:
        with pytest.raises(aiosmtplib.SMTPRecipientsRefused):
            await aiosmtplib.send(b"Subject: hi\r\n\r\nhello\r\n", sender="x@example.com",
                                  recipients=["ceo@acme.test"], hostname="127.0.0.1", port=port)


async def test_mail_it_cannot_read_is_kept_as_unparsed_not_dropped(api, settings):
    async with inbound(settings) as port:
        await aiosmtplib.send(b"Subject: hello\r\n\r\njust saying hi\r\n", sender="x@example.com",
                              recipients=["postmaster@bounce.acme.test"], hostname="127.0.0.1", port=port)
    [item] = (await api.get("/v1/reports/unmatched")).json()["items"]
    assert item["type"] == "unparsed" and item["source"] == "mail"


async def test_a_report_is_answered_451_when_it_cannot_be_recorded(smtp):
    down = make_settings(redis_url=f"redis://127.0.0.1:{free_port()}/0", smtp_url=smtp.url, bounce_address=BOUNCE)
    async with inbound(down) as port:
        with pytest.raises(aiosmtplib.SMTPDataError) as refused:
            await send_null(dsn(b"Message-ID: <x@acme.test>\r\n\r\n"), BOUNCE, port)
    assert refused.value.code == 451
