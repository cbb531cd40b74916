"""The deliver job against a real redis-server and a real SMTP server."""

from __future__ import annotations

import httpx

from tests.conftest import drain
from tests.support.smtp import ScriptedSMTP

WELCOME = {"template": "user.welcome", "to": "ada@example.com", "context": {"name": "Ada"}}


async def post(client: httpx.AsyncClient, body: dict | None = None, **extra) -> dict:
    response = await client.post("/v1/notifications", json=(body or WELCOME) | extra)
    assert response.status_code == 202, response.text
    return response.json()


async def test_accepted_notification_is_sent_with_its_headers(client, settings, smtp: ScriptedSMTP):
    created = await post(client)
    await drain(settings)
    got = (await client.get(f"/v1/notifications/{created['id']}")).json()
    assert got["status"] == "sent"
    assert got["sent_at"]
    [attempt] = got["attempts"]
    assert attempt["outcome"] == "sent" and attempt["smtp_code"] == 250 and attempt["duration_ms"] >= 0
    [mail] = smtp.received
    msg = mail.message
    assert mail.rcpt_tos == ["ada@example.com"]
    assert msg["Message-ID"] == got["message_id"]
    assert msg["X-Herald-Notification"] == created["id"]
    assert msg["Subject"] == "Welcome to Acme, Ada!"
    assert msg["From"] == "Acme <no-reply@acme.test>" and msg["To"] == "ada@example.com" and msg["Date"]
    assert msg.get_content_type() == "multipart/alternative"
    assert "Hi Ada" in msg.get_body(("plain",)).get_content()
    assert "<h1>Welcome, Ada!</h1>" in msg.get_body(("html",)).get_content()
