"""A real HTTP receiver for webhook tests: on 127.0.0.1, in a thread, scriptable, and can go down.

Every request is kept (headers, body, whether `standardwebhooks` verifies it). Answers are taken
from `script` in order, then `default`; an answer may wait first. `down()` closes the listening
socket and every open connection (a client's kept-alive one included: connections are then
refused), `up()` listens again on the same port.
"""

from __future__ import annotations

import asyncio
import threading
import time
from dataclasses import dataclass, field

from standardwebhooks import Webhook

from service.embedded import free_port


@dataclass(frozen=True)
class Answer:
    status: int = 204
    headers: dict[str, str] = field(default_factory=dict)
    wait: float = 0.0
    body: str = ""


@dataclass(frozen=True)
class Received:
    headers: dict[str, str]
    body: bytes
    at: float
    verified: bool
    path: str = "/hook"


class Receiver:
    def __init__(self, *, secret: str | None = None) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/hook"
        self.secret = secret
        self.script: list[Answer] = []
        self.default = Answer()
        self.received: list[Received] = []
        self.answering = 0  # requests read and not yet answered (an Answer's wait)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._lock = threading.Lock()

    def __enter__(self) -> Receiver:
        self._thread.start()
        self.up()
        return self

    def __exit__(self, *_: object) -> None:
        self.down()
        self._call(self._cancel_all())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()

    def up(self) -> None:
        async def start() -> asyncio.Server:
            return await asyncio.start_server(self._serve, "127.0.0.1", self.port, reuse_address=True)
        self._server = self._call(start())

    def down(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return

        async def close() -> None:
            server.close()
            for writer in list(self._writers):
                writer.close()
            await server.wait_closed()
        self._call(close())

    def ids(self) -> list[str]:
        return [r.headers["webhook-id"] for r in self.received]

    async def wait_for(self, count: int, timeout: float = 20) -> list[Received]:
        """Waits (without blocking the test's event loop, where the worker runs) for `count` requests."""
        deadline = time.monotonic() + timeout
        while len(self.received) < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"{len(self.received)} webhook requests arrived, {count} expected")
            await asyncio.sleep(0.02)
        return list(self.received)

    def _call(self, coroutine: object) -> object:
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(10)  # type: ignore[arg-type]

    async def _cancel_all(self) -> None:
        tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def _answer(self, path: str, headers: dict[str, str], body: bytes) -> Answer:
        """The scripted answer, else the default; a subclass may answer by what was asked."""
        with self._lock:
            return self.script.pop(0) if self.script else self.default

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        try:
            while head := await reader.readuntil(b"\r\n\r\n"):
                lines = head.decode("latin-1").split("\r\n")
                path = lines[0].split(" ")[1] if lines[0].count(" ") >= 2 else "/"
                headers = {k.strip().lower(): v.strip() for k, _, v in (ln.partition(":") for ln in lines[1:] if ln)}
                body = await reader.readexactly(int(headers.get("content-length", "0")))
                answer = self._answer(path, headers, body)
                self.answering += 1
                self.received.append(Received(headers, body, time.monotonic(), self._verified(body, headers), path))
                try:
                    if answer.wait:
                        await asyncio.sleep(answer.wait)
                finally:
                    self.answering -= 1
                extra = "".join(f"{k}: {v}\r\n" for k, v in answer.headers.items())
                text = "" if answer.status in (204, 304) else (answer.body or "ok")
                writer.write(f"HTTP/1.1 {answer.status} X\r\ncontent-length: {len(text.encode())}\r\n{extra}\r\n"
                             .encode() + text.encode())
                await writer.drain()
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
            pass
        finally:
            self._writers.discard(writer)
            writer.close()

    def _verified(self, body: bytes, headers: dict[str, str]) -> bool:
        try:
            Webhook(self.secret or "").verify(body, headers)
        except Exception:  # noqa: BLE001 - any failure to verify is recorded as such
            return False
        return True
