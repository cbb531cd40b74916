"""The SMTP connection pool against a real aiosmtpd server."""

from __future__ import annotations

import asyncio
from email.message import EmailMessage

import pytest

from jobs.mailer import Mailer
from jobs.smtp import SmtpConfig
from tests.support.smtp import ScriptedSMTP


def message(n: int) -> bytes:
    msg = EmailMessage()
    msg["From"] = "a@acme.test"
    msg["To"] = "ada@example.com"
    msg["Subject"] = f"m{n}"
    msg["X-Herald-Notification"] = f"n{n}"
    msg.set_content("hi")
    return msg.as_bytes()


async def test_connections_are_reused_after_clean_sends(smtp: ScriptedSMTP):
    mailer = Mailer(SmtpConfig(hostname="127.0.0.1", port=smtp.port, timeout=2, deadline=5))
    try:
        for n in range(5):
            outcome = await mailer.send(message(n), sender="a@acme.test", recipient="ada@example.com")
            assert outcome.kind == "sent" and outcome.code == 250
        assert len(mailer._idle) == 1 and mailer._idle[0].sent == 5
    finally:
        await mailer.close()
    assert smtp.notification_ids() == [f"n{n}" for n in range(5)]


async def test_after_a_refusal_the_connection_is_reset_and_reused(smtp: ScriptedSMTP):
    smtp.script.rcpt["ada@example.com"].append("451 4.3.0 later")
    mailer = Mailer(SmtpConfig(hostname="127.0.0.1", port=smtp.port, timeout=2, deadline=5))
    try:
        first = await mailer.send(message(1), sender="a@acme.test", recipient="ada@example.com")
        assert first.kind == "transient" and first.code == 451
        [kept] = mailer._idle  # RSET went through: the session is clean
        second = await mailer.send(message(2), sender="a@acme.test", recipient="ada@example.com")
        assert second.kind == "sent"
        assert mailer._idle == [kept] and kept.sent == 1
    finally:
        await mailer.close()
    assert smtp.notification_ids() == ["n2"]


@pytest.mark.parametrize("reply", ["421 4.7.0 closing connection", "554 5.3.4 message refused"])
async def test_a_closing_server_or_a_refused_message_drops_the_connection(
        smtp: ScriptedSMTP, reply: str):
    smtp.script.data["ada@example.com"].append(reply)
    mailer = Mailer(SmtpConfig(hostname="127.0.0.1", port=smtp.port, timeout=2, deadline=5))
    try:
        first = await mailer.send(message(1), sender="a@acme.test", recipient="ada@example.com")
        assert first.code == int(reply[:3])
        assert mailer._idle == []  # after DATA a refused session is not trusted again
        second = await mailer.send(message(2), sender="a@acme.test", recipient="ada@example.com")
        assert second.kind == "sent"
    finally:
        await mailer.close()
    assert smtp.notification_ids() == ["n2"]


async def test_slow_server_hits_the_deadline_as_a_transient_failure(smtp: ScriptedSMTP):
    smtp.script.delay = 1.0
    mailer = Mailer(SmtpConfig(hostname="127.0.0.1", port=smtp.port, timeout=5, deadline=0.3))
    try:
        outcome = await mailer.send(message(1), sender="a@acme.test", recipient="ada@example.com")
    finally:
        await mailer.close()
    assert outcome.kind == "transient" and outcome.code is None
    # Let the server's delayed handler run out so nothing of it reaches the next test.
    await asyncio.sleep(1.1)

