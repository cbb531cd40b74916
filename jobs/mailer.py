"""Sends messages over a small pool of reused SMTP connections.

A new connection costs a TCP handshake, the banner, EHLO, maybe STARTTLS and AUTH, and QUIT:
more than the message itself on a busy queue. Connections are reused only after a clean send,
closed after any error, and never kept idle long enough for a server to drop them under us.
"""

from __future__ import annotations

import asyncio
import time
from functools import lru_cache

import aiosmtplib
from aiosmtplib.email import quote_address
from aiosmtplib.protocol import normalize_message_line_endings
from aiosmtplib.response import SMTPResponse
from aiosmtplib.typing import SMTPStatus

from jobs.smtp import Outcome, SmtpConfig, classify

MAX_IDLE_SECONDS = 10.0
MAX_MESSAGES_PER_CONNECTION = 100


class _Connection:
    def __init__(self, client: aiosmtplib.SMTP) -> None:
        self.client = client
        self.sent = 0
        self.idle_since = time.monotonic()

    @property
    def reusable(self) -> bool:
        fresh = time.monotonic() - self.idle_since < MAX_IDLE_SECONDS
        return fresh and self.sent < MAX_MESSAGES_PER_CONNECTION and self.client.is_connected


class Mailer:
    def __init__(self, config: SmtpConfig, *, max_idle_connections: int = 20) -> None:
        self.config = config
        self.max_idle = max_idle_connections
        self._idle: list[_Connection] = []

    async def send(self, message: bytes, *, sender: str, recipient: str) -> Outcome:
        """One delivery attempt; every failure comes back as an Outcome, never as an exception."""
        connection = None
        try:
            # Each SMTP step has its own timeout; the whole attempt must end before the job's.
            async with asyncio.timeout(self.config.deadline):
                connection = await self._checkout()
                reply = await _transaction(connection.client, message, sender=sender, recipient=recipient)
        except Exception as exc:  # noqa: BLE001 - classified, then recorded on the attempt
            if connection is not None:
                self._after_failure(connection, exc)
            return classify(exc)
        connection.sent += 1
        self._checkin(connection)
        return Outcome("sent", reply.code, reply.message)  # the server's whole text, e.g. "2.0.0 OK: queued"

    async def check(self) -> str | None:
        """Connect (with TLS and login as configured), NOOP, QUIT: None if all went well, else why not."""
        connection = None
        try:
            async with asyncio.timeout(self.config.deadline):
                connection = await self._checkout()
                await connection.client.noop()
                await connection.client.quit()
        except Exception as exc:  # noqa: BLE001 - the caller reports it
            if connection is not None:
                _close(connection)
            return f"{type(exc).__name__}: {exc}".strip()
        return None

    async def close(self) -> None:
        idle, self._idle = self._idle, []
        for connection in idle:
            try:
                await asyncio.wait_for(connection.client.quit(), 2)
            except Exception:  # noqa: BLE001 - closing anyway
                _close(connection)

    async def _checkout(self) -> _Connection:
        while self._idle:
            connection = self._idle.pop()
            if connection.reusable:
                return connection
            _close(connection)
        client = aiosmtplib.SMTP(
            hostname=self.config.hostname,
            port=self.config.port,
            username=self.config.username,
            password=self.config.password,
            start_tls=self.config.start_tls,
            use_tls=self.config.use_tls,
            timeout=self.config.timeout,
            cert_bundle=self.config.cert_bundle,
            validate_certs=True,
        )
        try:
            await client.connect()
        except BaseException:
            client.close()  # a failed handshake (STARTTLS refused, bad certificate) leaves a socket open
            raise
        return _Connection(client)

    def _after_failure(self, connection: _Connection, exc: Exception) -> None:
        """A refused recipient (4xx/5xx at RCPT, other than 421) leaves the session usable:
        _transaction has sent RSET, so the connection goes back to the pool. Anything else is closed:
        a refusal after DATA (its RSET may itself have failed, and a reused session could then
        answer the next MAIL with "nested MAIL"), a timeout mid-command, a dropped socket, 421."""
        if isinstance(exc, aiosmtplib.SMTPRecipientsRefused) and exc.recipients:
            exc = exc.recipients[0]  # one recipient per message: its own refusal
        if isinstance(exc, aiosmtplib.SMTPRecipientRefused) and exc.code != 421:
            self._checkin(connection)
        else:
            _close(connection)

    def _checkin(self, connection: _Connection) -> None:
        connection.idle_since = time.monotonic()
        if len(self._idle) < self.max_idle and connection.reusable:
            self._idle.append(connection)
        else:
            _close(connection)


async def _transaction(client: aiosmtplib.SMTP, message: bytes, *, sender: str, recipient: str) -> SMTPResponse:
    """What `client.sendmail(sender, [recipient], message)` sends and raises, byte for byte
    (tests/jobs/test_mailer.py holds it to sendmail's transcript), without its per-call costs: it
    parses both addresses twice and normalises the message twice, once only to count it for
    SIZE. The sender is the same on every send, so it is quoted once per process. No lock: the
    pool lends a connection to one send at a time. One difference: a recipient that cannot go
    on the wire is refused before EHLO and MAIL FROM, where sendmail refused it after them."""
    mail_from = _quoted_sender(sender)
    rcpt_to = quote_address(recipient).encode("ascii")  # checked before anything is sent, as sendmail does
    await _greet(client)
    options = [f"size={_size(message)}".encode("ascii")] if client.supports_extension("size") else []
    try:
        reply = await client.execute_command(b"MAIL", b"FROM:" + mail_from, *options)
        if reply.code != SMTPStatus.completed:
            raise aiosmtplib.SMTPSenderRefused(reply.code, reply.message, sender)
        reply = await client.execute_command(b"RCPT", b"TO:" + rcpt_to)
        if reply.code not in (SMTPStatus.completed, SMTPStatus.will_forward):
            refused = aiosmtplib.SMTPRecipientRefused(reply.code, reply.message, recipient)
            raise aiosmtplib.SMTPRecipientsRefused([refused])  # sendmail's "every recipient refused"
        return await client.data(message)
    except (aiosmtplib.SMTPResponseException, aiosmtplib.SMTPRecipientsRefused):
        # Clear the envelope so that the pooled session can take the next message.
        try:
            await client.rset()
        except (aiosmtplib.SMTPException, OSError, TimeoutError):
            # The envelope may still be open: a reused session would answer the next MAIL with
            # "503 nested MAIL", read as a permanent refusal. Closed, it is never reused.
            client.close()
        raise


@lru_cache(maxsize=8)
def _quoted_sender(sender: str) -> bytes:
    return quote_address(sender).encode("ascii")


async def _greet(client: aiosmtplib.SMTP) -> None:
    """EHLO, or HELO if EHLO is refused, once per session: what aiosmtplib's commands do first."""
    if not client.is_ehlo_or_helo_needed:
        return
    try:
        await client.ehlo()
    except aiosmtplib.SMTPHeloError:
        if not client.is_connected:
            raise
        await client.helo()


def _size(message: bytes) -> int:
    """RFC 1870 SIZE as aiosmtplib counts it: the octets with every line ending made CRLF and a
    final CRLF added if missing. build_message writes only CRLF, so counting usually suffices."""
    crlf = message.count(b"\r\n")
    if message.count(b"\n") == crlf == message.count(b"\r"):  # no bare CR or LF
        return len(message) + (0 if message.endswith(b"\r\n") else 2)
    return len(normalize_message_line_endings(message))


def _close(connection: _Connection) -> None:
    # close() drops the transport without a QUIT round trip; used after errors and on overflow.
    connection.client.close()
