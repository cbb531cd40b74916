"""A minimal keep-alive HTTP/1.1 client and a load driver.

Raw asyncio rather than httpx: the load generator shares the machine with the server, and a lean
client leaves more CPU to what is being measured.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

REQUEST_TIMEOUT = 10.0
Request = tuple[str, str, bytes]  # method, path, JSON body
NO_ANSWER = (OSError, TimeoutError, EOFError, ValueError, asyncio.LimitOverrunError)


class HttpConnection:
    """One connection to 127.0.0.1:port, reopened after any failure."""

    def __init__(self, port: int, headers: dict[str, str]) -> None:
        self.port = port
        self.fixed_headers = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def request(self, method: str, path: str, body: bytes = b"") -> tuple[int, bytes]:
        try:
            if self.writer is None:
                self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
            head = (f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{self.port}\r\n{self.fixed_headers}"
                    f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n")
            self.writer.write(head.encode() + body)
            return await self._response()
        except BaseException:
            # A half-read answer would poison the next request on this connection.
            self.close()
            raise

    async def _response(self) -> tuple[int, bytes]:
        assert self.reader is not None
        lines = (await self.reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        headers = {}
        for line in filter(None, lines[1:]):
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip().lower()
        if "chunked" in headers.get("transfer-encoding", ""):
            raise ValueError("chunked answers are not supported by this client")
        body = await self.reader.readexactly(int(headers.get("content-length", "0")))
        if headers.get("connection") == "close":
            self.close()
        return status, body

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None


@dataclass
class Sample:
    index: int
    status: int | None  # None: no answer (connection error or timeout)
    seconds: float
    body: bytes = b""
    error: str = ""


async def timed(conn: HttpConnection, index: int, request: Request) -> Sample:
    method, path, body = request
    started = time.perf_counter()
    try:
        async with asyncio.timeout(REQUEST_TIMEOUT):
            status, answer = await conn.request(method, path, body)
    except NO_ANSWER as exc:
        return Sample(index, None, time.perf_counter() - started, error=f"{type(exc).__name__}: {exc}")
    return Sample(index, status, time.perf_counter() - started, answer)


async def drive(
    conns: list[HttpConnection], request_for: Callable[[int], Request], count: int, *, time_cap: float
) -> tuple[list[Sample], float]:
    """Send requests 0..count-1 over `conns`, one in flight per connection, until done or time_cap.

    Returns the samples and the elapsed wall time in seconds.
    """
    indices = iter(range(count))  # shared: each index is taken by exactly one client
    deadline = time.monotonic() + time_cap
    samples: list[Sample] = []

    async def client(conn: HttpConnection) -> None:
        for index in indices:
            if time.monotonic() > deadline:
                return
            samples.append(await timed(conn, index, request_for(index)))

    started = time.perf_counter()
    await asyncio.gather(*(client(conn) for conn in conns))
    return samples, time.perf_counter() - started


async def wait_ok(port: int, path: str, *, timeout: float, alive: Callable[[], None]) -> None:
    """Poll GET path until it answers 200; `alive` raises if the server process died meanwhile."""
    conn = HttpConnection(port, {})
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            alive()
            sample = await timed(conn, 0, ("GET", path, b""))
            if sample.status == 200:
                return
            await asyncio.sleep(0.1)
    finally:
        conn.close()
    raise RuntimeError(f"GET {path} did not answer 200 within {timeout:.0f} s")


def welcome(n: int) -> dict[str, Any]:
    """The benchmark's usual notification, to a different recipient each time."""
    return {"template": "user.welcome", "to": f"user{n}@example.com", "context": {"name": f"User {n}"}}


async def post_batches(port: int, headers: dict[str, str], count: int, *,
                       item: Callable[[int], dict[str, Any]] = welcome, size: int = 500) -> None:
    """`count` notifications through POST /v1/notifications/batch, `size` a batch, one connection."""
    conn = HttpConnection(port, headers)
    try:
        for start in range(0, count, size):
            body = json.dumps({"notifications": [item(n) for n in range(start, min(count, start + size))]})
            status, _ = await conn.request("POST", "/v1/notifications/batch", body.encode())
            if status != 200:
                raise RuntimeError(f"batch answered {status}")
    finally:
        conn.close()
