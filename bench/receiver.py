"""The benchmark's webhook receiver: a minimal HTTP/1.1 server on loopback, in a thread of its own,
that verifies each delivery with the `standardwebhooks` package and answers 204."""

from __future__ import annotations

import asyncio
import json
import threading
from contextlib import ExitStack

from standardwebhooks import Webhook

from bench.http import HttpConnection
from service.embedded import free_port


class Receiver:
    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/hook"
        self.secret: str | None = None
        self.verified = 0
        self.rejected = 0
        self.duplicates = 0
        self._seen: set[str] = set()
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()

    def start(self) -> Receiver:
        threading.Thread(target=self._run, daemon=True).start()
        if not self._ready.wait(10):
            raise RuntimeError("the webhook receiver did not start")
        return self

    def stop(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.run_until_complete(asyncio.start_server(self._serve, "127.0.0.1", self.port))
        self._ready.set()
        self._loop.run_forever()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while head := await reader.readuntil(b"\r\n\r\n"):
                lines = head.decode("latin-1").split("\r\n")
                headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:] if line)}
                body = await reader.readexactly(int(headers.get("content-length", "0")))
                self._check(body, headers)
                writer.write(b"HTTP/1.1 204 No Content\r\ncontent-length: 0\r\n\r\n")
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    def _check(self, body: bytes, headers: dict[str, str]) -> None:
        try:
            Webhook(self.secret or "").verify(body, headers)
        except Exception:  # noqa: BLE001 - any failure to verify is counted, not raised
            self.rejected += 1
            return
        if headers["webhook-id"] in self._seen:
            self.duplicates += 1
            return
        self._seen.add(headers["webhook-id"])
        self.verified += 1


def start(stack: ExitStack) -> Receiver:
    receiver = Receiver().start()
    stack.callback(receiver.stop)
    return receiver


async def register(port: int, auth: dict[str, str], url: str, events: list[str]) -> str:
    """Registers an endpoint through the API; its secret."""
    conn = HttpConnection(port, auth)
    try:
        status, body = await conn.request("POST", "/v1/webhooks", json.dumps({"url": url, "events": events}).encode())
    finally:
        conn.close()
    if status != 201:
        raise RuntimeError(f"registering the webhook answered {status}: {body[:200]!r}")
    return json.loads(body)["secret"]
