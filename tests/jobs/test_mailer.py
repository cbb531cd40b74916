"""The SMTP connection pool against a real aiosmtpd server."""

from __future__ import annotations

import asyncio
import contextlib
from email.message import EmailMessage
from typing import Any

import aiosmtplib
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



# -- the conversation on the wire is aiosmtplib's sendmail's, byte for byte ----------------------

DEFAULT_EHLO = b"250-recorder\r\n250-SIZE 10485760\r\n250 8BITMIME\r\n"


class Recorder:
    """A bare SMTP server that keeps every byte it is sent. `replies` maps a verb (or "BODY", the
    end of DATA) to the reply line it gets instead of the usual one."""

    def __init__(self, replies: dict[str, str]) -> None:
        self.replies = replies
        self.received: list[bytes] = []
        self.server: asyncio.Server | None = None
        self.sessions: list[asyncio.Task[None]] = []

    async def start(self) -> int:
        self.server = await asyncio.start_server(self._session, "127.0.0.1", 0)
        return self.server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        assert self.server is not None
        self.server.close()
        await self.server.wait_closed()
        # The client has closed its side: each session ends at its EOF, within this test's loop.
        await asyncio.wait_for(asyncio.gather(*self.sessions), 2)

    def _reply(self, verb: str, usual: bytes) -> bytes:
        return self.replies[verb].encode() + b"\r\n" if verb in self.replies else usual

    async def _session(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.sessions.append(asyncio.current_task())  # type: ignore[arg-type]
        writer.write(b"220 recorder ready\r\n")
        while line := await reader.readline():
            self.received.append(line)
            verb = line.split(b" ", 1)[0].strip().upper().decode()
            if verb == "EHLO":
                writer.write(self._reply(verb, DEFAULT_EHLO))
            elif verb == "DATA" and verb in self.replies:
                writer.write(self._reply(verb, b""))
            elif verb == "DATA":
                writer.write(b"354 go ahead\r\n")
                while (body_line := await reader.readline()) not in (b".\r\n", b""):
                    self.received.append(body_line)
                writer.write(self._reply("BODY", b"250 2.0.0 OK queued\r\n"))
            elif verb == "QUIT":
                writer.write(b"221 bye\r\n")
                break
            else:
                writer.write(self._reply(verb, b"250 OK\r\n"))
            await writer.drain()
        writer.close()


async def sendmail_transcript(replies: dict[str, str], body: bytes, sender: str) -> list[bytes]:
    """What aiosmtplib's own sendmail sends, the reference for Mailer.send."""
    recorder = Recorder(replies)
    client = aiosmtplib.SMTP(hostname="127.0.0.1", port=await recorder.start(), start_tls=False, timeout=2)
    try:
        await client.connect()
        with contextlib.suppress(aiosmtplib.SMTPException):
            await client.sendmail(sender, ["ada@example.com"], body)
    finally:
        client.close()
        await recorder.stop()
    return recorder.received


async def mailer_transcript(replies: dict[str, str], body: bytes, sender: str) -> tuple[list[bytes], str]:
    recorder = Recorder(replies)
    mailer = Mailer(SmtpConfig(hostname="127.0.0.1", port=await recorder.start(), timeout=2, deadline=5))
    try:
        outcome = await mailer.send(body, sender=sender, recipient="ada@example.com")
    finally:
        for connection in mailer._idle:
            connection.client.close()  # no QUIT: the reference transcript has none either
        await recorder.stop()
    return recorder.received, outcome.kind


CRLF_BODY = message(1).replace(b"\n", b"\r\n")  # as build_message writes it
ODD_BODY = b"Subject: odd\n\nbare LF\rbare CR\n.leading dot\r\n..two dots\nno final newline"


@pytest.mark.parametrize(
    ("replies", "body", "sender", "kind"),
    [
        ({}, CRLF_BODY, "a@acme.test", "sent"),
        ({}, CRLF_BODY.rstrip(b"\r\n"), "a@acme.test", "sent"),  # SIZE counts the CRLF DATA adds
        ({}, ODD_BODY, "a@acme.test", "sent"),  # SIZE counts bare CR and LF as CRLF
        ({}, b"Subject: cr\r\n\r\na bare\rCR\r\n", "a@acme.test", "sent"),
        ({}, CRLF_BODY, "Acme <no-reply@acme.test>", "sent"),  # only the address goes in MAIL FROM
        ({"EHLO": "250 recorder"}, CRLF_BODY, "a@acme.test", "sent"),  # no SIZE offered: none sent
        ({"EHLO": "502 not here"}, CRLF_BODY, "a@acme.test", "sent"),  # falls back to HELO
        ({"MAIL": "451 4.3.0 sender later"}, CRLF_BODY, "a@acme.test", "transient"),  # then RSET
        ({"RCPT": "550 5.1.1 no such user"}, CRLF_BODY, "a@acme.test", "bounce"),  # then RSET
        ({"RCPT": "421 4.7.0 closing"}, CRLF_BODY, "a@acme.test", "transient"),  # closed: no RSET
        ({"BODY": "554 5.7.1 spam"}, CRLF_BODY, "a@acme.test", "rejected"),  # then RSET
        ({"DATA": "451 not now"}, CRLF_BODY, "a@acme.test", "transient"),  # then RSET
    ],
)
async def test_the_server_receives_what_sendmail_would_send(
        replies: dict[str, str], body: bytes, sender: str, kind: str):
    expected = await sendmail_transcript(replies, body, sender)
    received, outcome = await mailer_transcript(replies, body, sender)
    assert received == expected
    assert outcome == kind


@pytest.mark.parametrize(("recipient", "error"), [("a da@example.com", "ValueError"),
                                                  ("adé@example.com", "UnicodeEncodeError")])
async def test_an_unsendable_recipient_is_refused_before_any_command(recipient: str, error: str):
    """sendmail would have sent EHLO and MAIL FROM before failing to encode a non-ASCII RCPT TO."""
    recorder = Recorder({})
    mailer = Mailer(SmtpConfig(hostname="127.0.0.1", port=await recorder.start(), timeout=2, deadline=5))
    try:
        outcome = await mailer.send(message(1), sender="a@acme.test", recipient=recipient)
        assert outcome.kind == "error" and error in outcome.detail
        assert mailer._idle == []  # as before: an unexpected error closes the connection
    finally:
        await mailer.close()
        await recorder.stop()
    assert recorder.received == []


async def _send_with(replies: dict[str, str]) -> tuple[Mailer, Recorder, Any]:
    recorder = Recorder(replies)
    mailer = Mailer(SmtpConfig(hostname="127.0.0.1", port=await recorder.start(), timeout=2, deadline=5))
    outcome = await mailer.send(CRLF_BODY, sender="a@acme.test", recipient="ada@example.com")
    return mailer, recorder, outcome


@pytest.mark.parametrize(("body_reply", "detail"), [("250 2.0.0 OK queued as 7F", "2.0.0 OK queued as 7F"),
                                                    ("250 12345 bytes accepted", "12345 bytes accepted")])
async def test_a_sent_attempt_keeps_the_servers_whole_reply(body_reply: str, detail: str):
    mailer, recorder, outcome = await _send_with({"BODY": body_reply})
    try:
        assert (outcome.kind, outcome.code, outcome.detail) == ("sent", 250, detail)
    finally:
        await mailer.close()
        await recorder.stop()


async def test_a_session_that_refuses_rset_is_not_reused():
    """Its envelope may still be open: the next MAIL would get "503 nested MAIL", a permanent refusal."""
    mailer, recorder, outcome = await _send_with({"RCPT": "450 4.2.1 mailbox busy", "RSET": "502 no RSET here"})
    try:
        assert outcome.kind == "transient"
        assert mailer._idle == []
    finally:
        await mailer.close()
        await recorder.stop()


async def test_a_session_whose_rset_worked_is_reused():
    mailer, recorder, outcome = await _send_with({"RCPT": "450 4.2.1 mailbox busy"})
    try:
        assert outcome.kind == "transient" and len(mailer._idle) == 1
    finally:
        await mailer.close()
        await recorder.stop()
