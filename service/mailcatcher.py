"""A local mail catcher for development: every message becomes an .eml file and one line."""

from __future__ import annotations

import email
import email.policy
import itertools
import time
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import Envelope


class EmlHandler:
    def __init__(self, directory: Path, *, echo: bool = True) -> None:
        self.directory = directory
        self.echo = echo
        self.count = itertools.count(1)
        directory.mkdir(parents=True, exist_ok=True)

    async def handle_DATA(self, server: Any, session: Any, envelope: Envelope) -> str:
        raw = envelope.original_content or b""
        parsed = email.message_from_bytes(raw, policy=email.policy.default)
        n = next(self.count)
        path = self.directory / f"{time.strftime('%Y%m%d-%H%M%S')}-{n:05d}.eml"
        path.write_bytes(raw)
        if self.echo:
            print(f"mail: {envelope.mail_from} -> {', '.join(envelope.rcpt_tos)} | {parsed['Subject']} | {path}",
                  flush=True)
        return "250 2.0.0 OK: stored"


def start_catcher(directory: Path, *, port: int, echo: bool = True) -> Controller:
    controller = Controller(EmlHandler(directory, echo=echo), hostname="127.0.0.1", port=port)
    controller.start()
    return controller
