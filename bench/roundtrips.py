"""Redis round trips per accepted notification, counted in-process.

Every request redis-py sends goes through Connection.send_packed_command once, a pipeline
included, so counting its calls counts round trips. The app runs in this process (ASGI
transport), against its own redis-server; only the counting wrapper is added.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
from asgi_lifespan import LifespanManager
from redis.asyncio.connection import Connection

from bench.procs import API_SECRET
from service.embedded import RedisServer, free_port
from service.factory import create_app
from service.settings import Settings

WELCOME = {"template": "user.welcome", "to": "ada@example.com", "context": {"name": "Ada"}}


@contextmanager
def counting() -> Iterator[list[int]]:
    count = [0]
    original = Connection.send_packed_command

    async def counted(self, command, check_health=True):  # type: ignore[no-untyped-def]
        count[0] += 1
        return await original(self, command, check_health)

    Connection.send_packed_command = counted  # type: ignore[method-assign]
    try:
        yield count
    finally:
        Connection.send_packed_command = original  # type: ignore[method-assign]


async def run() -> None:
    print("== Redis round trips per accepted notification (in-process, counted at redis-py's socket send)")
    with tempfile.TemporaryDirectory(prefix="herald-bench-rtt-") as tmp:
        redis = RedisServer(workdir=Path(tmp)).start()
        try:
            settings = Settings(redis_url=redis.url, smtp_url=f"smtp://127.0.0.1:{free_port()}",
                                mail_from="Bench <bench@herald.test>", api_keys={"bench": API_SECRET},
                                secret_key="bench-secret-key-0123456789", _env_file=None)
            await _measure(create_app(settings))
        finally:
            redis.stop()


async def _measure(app) -> None:  # type: ignore[no-untyped-def]
    async with LifespanManager(app):
        transport = httpx.ASGITransport(app=app)
        headers = {"Authorization": f"Bearer {API_SECRET}"}
        async with httpx.AsyncClient(transport=transport, base_url="http://bench", headers=headers) as client:
            await client.post("/v1/notifications", json=WELCOME)  # loads the scripts, opens the pool
            with counting() as count:
                for _ in range(100):
                    assert (await client.post("/v1/notifications", json=WELCOME)).status_code == 202
            print(f"  single POST  {count[0] / 100:.2f} round trips per notification (100 POSTs)")
            batch = {"notifications": [WELCOME | {"to": f"u{n}@example.com"} for n in range(500)]}
            with counting() as count:
                answer = await client.post("/v1/notifications/batch", json=batch)
            accepted = json.dumps(answer.json()).count('"status_code": 202')
            print(f"  batch of 500 {count[0]} round trips for {accepted} accepted "
                  f"= {count[0] / max(accepted, 1):.3f} per notification")
