"""SMTP faults on real sockets: a server that hangs, a server that is down for a while."""

from __future__ import annotations

import asyncio
import time

import pytest

from service.embedded import free_port
from tests.conftest import drain, make_settings
from tests.support.smtp import ScriptedSMTP

WELCOME = {"template": "user.welcome", "context": {"name": "Ada"}}


class HangingServer:
    """Accepts connections and never says a word (not even the SMTP banner)."""

    def __init__(self) -> None:
        self.port = free_port()
        self.connections = 0
        self.server: asyncio.AbstractServer | None = None

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            await reader.read()  # until the client gives up
        finally:
            writer.close()

    async def __aenter__(self) -> HangingServer:
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", self.port)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.server is not None
        self.server.close()
        await self.server.wait_closed()


async def test_a_hanging_server_times_out_and_is_retried_without_blocking_other_sends(client, redis_url, smtp):
    async with HangingServer() as hanging:
        stuck_settings = make_settings(redis_url=redis_url, smtp_url=f"smtp://127.0.0.1:{hanging.port}",
                                       smtp_timeout_seconds=0.5, max_tries=2)
        created = (await client.post("/v1/notifications", json=WELCOME | {"to": "ada@example.com"})).json()
        started = time.monotonic()
        await drain(stuck_settings)
        elapsed = time.monotonic() - started
    got = (await client.get(f"/v1/notifications/{created['id']}")).json()
    assert got["status"] == "failed" and [a["outcome"] for a in got["attempts"]] == ["transient_failure"] * 2
    assert "Timeout" in got["attempts"][0]["detail"] or "timed out" in got["attempts"][0]["detail"].lower()
    assert all(a["duration_ms"] < 3000 for a in got["attempts"])
    assert hanging.connections == 2 and elapsed < 10
    print(f"\nhanging SMTP server: 2 tries timed out in {elapsed:.1f} s, then failed (MAX_TRIES=2)")


async def test_one_hanging_send_does_not_hold_up_the_others(client, redis_url, smtp: ScriptedSMTP):
    slow_settings = make_settings(redis_url=redis_url, smtp_url=smtp.url, smtp_timeout_seconds=1.5, max_tries=1)

    async def slow_data(server, session, envelope, _original=smtp.handler.handle_DATA):  # noqa: ANN001
        if envelope.rcpt_tos == ["slow@example.com"]:
            await asyncio.sleep(30)  # stores nothing even if it ever wakes up
            return "451 4.3.0 too late"
        return await _original(server, session, envelope)

    smtp.handler.handle_DATA = slow_data
    try:
        slow = (await client.post("/v1/notifications", json=WELCOME | {"to": "slow@example.com"})).json()
        fast = [(await client.post("/v1/notifications", json=WELCOME | {"to": f"f{n}@example.com"})).json()
                for n in range(10)]
        await drain(slow_settings)
    finally:
        del smtp.handler.handle_DATA
    for n in fast:
        assert (await client.get(f"/v1/notifications/{n['id']}")).json()["status"] == "sent"
    assert (await client.get(f"/v1/notifications/{slow['id']}")).json()["status"] == "failed"


async def test_smtp_down_longer_than_the_first_retries_then_back(client, redis_url):
    port = free_port()
    settings = make_settings(redis_url=redis_url, smtp_url=f"smtp://127.0.0.1:{port}", max_tries=8,
                             retry_base_seconds=0.2, retry_max_seconds=0.5)
    ids = [(await client.post("/v1/notifications", json=WELCOME | {"to": f"u{n}@example.com"})).json()["id"]
           for n in range(20)]
    server = ScriptedSMTP(port=port)

    async def come_back_later() -> None:
        await asyncio.sleep(1.2)  # after two or three refused tries each
        server.start()

    back = asyncio.create_task(come_back_later())
    started = time.monotonic()
    try:
        await drain(settings)
    finally:
        await back
        server.stop()
    records = [(await client.get(f"/v1/notifications/{i}")).json() for i in ids]
    received = server.notification_ids()
    print(f"\nSMTP down 1.2 s: {len(ids)} accepted, {len(set(received))} sent, {len(set(ids) - set(received))} lost, "
          f"{len(received) - len(set(received))} duplicated, all sent {time.monotonic() - started - 1.2:.1f} s "
          "after the server came back")
    assert [r["status"] for r in records] == ["sent"] * 20
    assert all(r["attempts"][0]["outcome"] == "transient_failure" for r in records)
    assert sorted(server.notification_ids()) == sorted(ids)


@pytest.mark.parametrize("reply", ["421 4.3.2 Service shutting down", "450 4.2.1 Mailbox busy"])
async def test_every_transient_reply_is_ridden_out(client, settings, smtp, reply):
    smtp.script.data["ada@example.com"] += [reply, reply]
    created = (await client.post("/v1/notifications", json=WELCOME | {"to": "ada@example.com"})).json()
    await drain(settings)
    got = (await client.get(f"/v1/notifications/{created['id']}")).json()
    assert got["status"] == "sent" and len(got["attempts"]) == 3
