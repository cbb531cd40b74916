"""The benchmark's SMTP server, in a process of its own.

In the benchmark's own process the server would share one GIL with the load generator and the
polling, and at a few hundred messages a second it, not the system under test, would set the
pace (measured: a password reset's SMTP conversation took 1.7 s instead of 200 ms). Here it has
a CPU to itself. It answers after `delay` seconds, refuses a seeded share with 451 (the same
draw for every target: `random.Random(7)` again after each reset) and reports each reply on
stdout; `SmtpSink` reads that back and offers what the in-process `ScriptedSMTP` did.

`python -m bench.smtp_sink PORT` runs the server; commands arrive on stdin.
"""

from __future__ import annotations

import asyncio
import random
import re
import subprocess
import sys
import threading
import time
from collections import Counter
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import Any

from bench.procs import BIN
from service.embedded import free_port
from service.settings import REPO_ROOT

_ID = re.compile(rb"^(?:X-Herald-Notification|X-Bench-Id):[ \t]*(\S+)", re.IGNORECASE | re.MULTILINE)


# -- the server process -----------------------------------------------------------------------


class _Handler:
    def __init__(self) -> None:
        self.delay = 0.0
        self.ratio = 0.0
        self.rng = random.Random(7)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 - aiosmtpd's name
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.ratio and self.rng.random() < self.ratio:
            _emit("R 451")
            return "451 4.3.0 Temporary local problem, try again"
        raw = envelope.original_content or b""
        found = _ID.search(raw[: raw.find(b"\r\n\r\n")])
        _emit(f"A {time.monotonic():.6f} {found.group(1).decode() if found else '-'}")
        return "250 2.0.0 OK queued"


def _emit(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def _serve(port: int) -> None:
    from aiosmtpd.controller import Controller

    handler = _Handler()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    _emit("READY")
    for command in sys.stdin:  # "delay 0.2", "ratio 0.1", "reset"; EOF stops the server
        name, _, value = command.strip().partition(" ")
        if name == "delay":
            handler.delay = float(value)
        elif name == "ratio":
            handler.ratio = float(value)
        elif name == "reset":
            handler.delay, handler.ratio, handler.rng = 0.0, 0.0, random.Random(7)
        _emit("OK")
    controller.stop()


# -- the benchmark's side -------------------------------------------------------------------


class _Headers:
    """Just enough of an email.message.Message for the benchmark: the id header, or None."""

    def __init__(self, notification_id: str) -> None:
        self.notification_id = notification_id

    def __getitem__(self, name: str) -> str | None:
        if name.lower() in ("x-herald-notification", "x-bench-id") and self.notification_id != "-":
            return self.notification_id
        return None


@dataclass
class Arrival:
    message: _Headers
    at: float  # time.monotonic() when the server accepted it; the clock is shared by all processes


@dataclass
class Replies:
    codes: Counter[str] = field(default_factory=Counter)
    last_ok: float | None = None


class _Script:
    """Setting `delay` or `transient_ratio` tells the server process."""

    def __init__(self, sink: SmtpSink) -> None:
        object.__setattr__(self, "_sink", sink)

    def __setattr__(self, name: str, value: float) -> None:
        command = {"delay": "delay", "transient_ratio": "ratio"}[name]
        self._sink.command(f"{command} {value}")


def start(stack: ExitStack, *, delay: float = 0.0, transient_ratio: float = 0.0) -> SmtpSink:
    """A sink that answers after `delay` s and refuses `transient_ratio` with 451, stopped with `stack`."""
    sink = SmtpSink().start()
    stack.callback(sink.stop)
    if delay:
        sink.script.delay = delay
    if transient_ratio:
        sink.script.transient_ratio = transient_ratio
    return sink


class SmtpSink:
    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"smtp://127.0.0.1:{self.port}"
        self.received: list[Arrival] = []
        self.replies = Replies()
        self.script = _Script(self)
        self._acks = threading.Semaphore(0)
        self._process: subprocess.Popen[str] | None = None

    def start(self) -> SmtpSink:
        self._process = subprocess.Popen([str(BIN / "python"), "-m", "bench.smtp_sink", str(self.port)],
                                         cwd=REPO_ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert self._process.stdout is not None
        if self._process.stdout.readline().strip() != "READY":
            raise RuntimeError("the SMTP sink did not start")
        threading.Thread(target=self._read, daemon=True).start()
        return self

    def command(self, line: str) -> None:
        assert self._process is not None and self._process.stdin is not None
        self._process.stdin.write(line + "\n")
        self._process.stdin.flush()
        if not self._acks.acquire(timeout=10):
            raise RuntimeError(f"the SMTP sink did not answer {line!r}")

    def reset(self) -> None:
        self.command("reset")
        self.received = []
        self.replies.codes.clear()
        self.replies.last_ok = None

    def notification_ids(self) -> list[str]:
        return [str(a.message["X-Herald-Notification"]) for a in self.received]

    def stop(self) -> None:
        if self._process is None or self._process.poll() is not None:
            return
        assert self._process.stdin is not None
        self._process.stdin.close()  # EOF: the server stops
        try:
            self._process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()

    def _read(self) -> None:
        assert self._process is not None and self._process.stdout is not None
        for line in self._process.stdout:
            kind, _, rest = line.strip().partition(" ")
            if kind == "A":
                at, _, notification_id = rest.partition(" ")
                self.received.append(Arrival(_Headers(notification_id), float(at)))
                self.replies.codes["250"] += 1
                self.replies.last_ok = float(at)
            elif kind == "R":
                self.replies.codes[rest] += 1
            elif kind == "OK":
                self._acks.release()


if __name__ == "__main__":
    _serve(int(sys.argv[1]))
