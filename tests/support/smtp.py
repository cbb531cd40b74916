"""A real SMTP server (aiosmtpd) that tests can script: per-recipient replies, slowness, failure rates."""

from __future__ import annotations

import asyncio
import email
import email.policy
import random
import ssl
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    message: EmailMessage
    raw: bytes
    tls: bool = False  # whether the session was encrypted when the message came
    at: float = field(default_factory=time.monotonic)  # when it was accepted


@dataclass
class Script:
    """What the server answers. Replies queued for an address are used once each, in order."""

    rcpt: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    data: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    always_rcpt: dict[str, str] = field(default_factory=dict)
    always_data: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    transient_ratio: float = 0.0
    rng: random.Random = field(default_factory=lambda: random.Random(7))


def _encrypted(server: Any, session: Any) -> bool:
    # STARTTLS sets session.ssl; implicit TLS shows only on the transport.
    return session.ssl is not None or server.transport.get_extra_info("ssl_object") is not None


class ScriptedHandler:
    def __init__(self) -> None:
        self.script = Script()
        self.received: list[Received] = []
        self.lock = threading.Lock()

    def _reply(self, queued: dict[str, list[str]], always: dict[str, str], address: str) -> str | None:
        with self.lock:
            if queued.get(address):
                return queued[address].pop(0)
        return always.get(address) or always.get("*")

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, options: list[str]) -> str:
        reply = self._reply(self.script.rcpt, self.script.always_rcpt, address)
        if reply:
            return reply
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.script.delay:
            await asyncio.sleep(self.script.delay)
        address = envelope.rcpt_tos[0]
        reply = self._reply(self.script.data, self.script.always_data, address)
        if reply:
            return reply
        if self.script.transient_ratio and self.script.rng.random() < self.script.transient_ratio:
            return "451 4.3.0 Temporary local problem, try again"
        raw = envelope.original_content or b""
        parsed = email.message_from_bytes(raw, policy=email.policy.default)
        with self.lock:
            self.received.append(
                Received(envelope.mail_from, list(envelope.rcpt_tos), parsed, raw, tls=_encrypted(server, session)))
        return "250 2.0.0 OK queued"


class _Login:
    def __init__(self, user: str, password: str) -> None:
        self.user, self.password = user.encode(), password.encode()
        self.accepted = 0

    def __call__(self, server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
        ok = isinstance(data, LoginPassword) and (data.login, data.password) == (self.user, self.password)
        self.accepted += ok
        return AuthResult(success=ok)


class ScriptedSMTP:
    """`starttls`: offer STARTTLS with this context; `implicit_tls`: speak TLS from the start."""

    def __init__(
        self,
        *,
        port: int,
        starttls: ssl.SSLContext | None = None,
        implicit_tls: ssl.SSLContext | None = None,
        login: tuple[str, str] | None = None,
    ) -> None:
        self.handler = ScriptedHandler()
        auth: dict[str, Any] = {}
        self.login = _Login(*login) if login else None
        if self.login:  # AUTH offered without TLS: this server is on loopback only
            auth = {"auth_require_tls": False, "authenticator": self.login}
        self.controller = Controller(
            self.handler, hostname="127.0.0.1", port=port, tls_context=starttls, ssl_context=implicit_tls, **auth
        )
        self.port = port

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"

    @property
    def script(self) -> Script:
        return self.handler.script

    @property
    def received(self) -> list[Received]:
        with self.handler.lock:
            return list(self.handler.received)

    def reset(self) -> None:
        with self.handler.lock:
            self.handler.script = Script()
            self.handler.received = []

    def start(self) -> ScriptedSMTP:
        self.controller.start()
        return self

    def stop(self) -> None:
        self.controller.stop()

    def notification_ids(self) -> list[str]:
        return [r.message["X-Herald-Notification"] for r in self.received]
