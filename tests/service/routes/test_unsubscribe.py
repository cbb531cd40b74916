"""One-click unsubscribe end to end: the link in a real email, GET, POST, forgery, races."""

from __future__ import annotations

import json

import httpx
import pytest

from service import tokens
from tests.conftest import drain
from tests.support.smtp import ScriptedSMTP

NEWSLETTER = {"template": "newsletter", "to": "ada@example.com", "context": {"headline": "News", "body": "Hi"}}


async def sent_newsletter_link(client, settings, smtp: ScriptedSMTP) -> str:
    created = (await client.post("/v1/notifications", json=NEWSLETTER)).json()
    await drain(settings)
    [mail] = smtp.received
    assert mail.message["X-Herald-Notification"] == created["id"]
    header = mail.message["List-Unsubscribe"]
    assert header.startswith(f"<{settings.public_url}/u/") and header.endswith(">")
    assert mail.message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert mail.message["List-Id"] == "<newsletter.acme.test>"  # RFC 2919: the template at the sender's domain
    url = header[1:-1]
    assert url in mail.message.get_body(("plain",)).get_content()
    assert url in mail.message.get_body(("html",)).get_content()
    return url.removeprefix(settings.public_url)


async def audit_entries(app) -> list[dict]:
    return [json.loads(f[b"entry"]) for _, f in await app.state.queue.xrange("herald:audit")]


async def test_transactional_mail_has_no_unsubscribe(client, settings, smtp):
    await client.post("/v1/notifications",
                      json={"template": "user.welcome", "to": "ada@example.com", "context": {"name": "Ada"}})
    await drain(settings)
    [mail] = smtp.received
    assert mail.message["List-Unsubscribe"] is None and mail.message["List-Id"] is None
    assert "/u/" not in mail.message.get_body(("plain",)).get_content()


async def test_get_only_confirms_and_one_click_post_unsubscribes(client, app, settings, smtp):
    path = await sent_newsletter_link(client, settings, smtp)
    anonymous = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://herald.test")
    async with anonymous:
        page = await anonymous.get(path)
        assert page.status_code == 200 and "<form method=\"post\"" in page.text
        prefs = (await client.get("/v1/recipients/ada@example.com/preferences")).json()
        assert prefs["categories"]["marketing"] is True
        done = await anonymous.post(path, data={"List-Unsubscribe": "One-Click"})
    assert done.status_code == 200 and "unsubscribed" in done.text
    prefs = (await client.get("/v1/recipients/ada@example.com/preferences")).json()
    assert prefs["categories"]["marketing"] is False and prefs["suppressed"] is None
    [entry] = [e for e in await audit_entries(app) if e["action"] == "unsubscribe"]
    assert entry["actor"] == "ada@example.com" and entry["detail"] == {"scope": "marketing"}

    later = (await client.post("/v1/notifications", json=NEWSLETTER)).json()
    assert later["status"] == "suppressed" and "opted out of marketing" in later["error"]
    welcome = await client.post("/v1/notifications",
                                json={"template": "user.welcome", "to": "ada@example.com", "context": {"name": "A"}})
    assert welcome.json()["status"] == "queued"


@pytest.mark.parametrize("encoding", ["urlencoded", "multipart", "empty"])
async def test_post_answers_200_never_a_redirect_for_any_encoding(app, settings, encoding):
    path = "/u/" + tokens.make(settings.secret_key, email="bob@example.com", category="marketing")
    kwargs = {
        "urlencoded": {"data": {"List-Unsubscribe": "One-Click"}},
        "multipart": {"files": {"List-Unsubscribe": (None, "One-Click")}},
        "empty": {},
    }[encoding]
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://herald.test") as anon:
        response = await anon.post(path, **kwargs)
    assert response.status_code == 200
    assert await app.state.queue.hget("herald:prefs:bob@example.com", "marketing") == b"0"


async def test_unsubscribe_from_all_suppresses(client, app, settings):
    path = "/u/" + tokens.make(settings.secret_key, email="Carol@Example.com", category="digest")
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://herald.test") as anon:
        assert (await anon.post(path, data={"scope": "all"})).status_code == 200
    listed = (await client.get("/v1/suppressions")).json()["items"]
    assert [(i["email"], i["reason"]) for i in listed] == [("carol@example.com", "unsubscribed from all emails")]
    welcome = await client.post("/v1/notifications",
                                json={"template": "user.welcome", "to": "carol@example.com", "context": {"name": "C"}})
    assert welcome.json()["status"] == "suppressed"


@pytest.mark.parametrize("tamper", ["flip", "swap_email", "garbage", "empty_sig", "other_key"])
async def test_forged_or_altered_tokens_change_nothing(app, settings, tamper):
    good = tokens.make(settings.secret_key, email="dan@example.com", category="marketing")
    body, _, sig = good.partition(".")
    other = tokens.make(settings.secret_key, email="eve@example.com", category="marketing")
    bad = {
        "flip": body + "." + ("A" if sig[0] != "A" else "B") + sig[1:],
        "swap_email": other.partition(".")[0] + "." + sig,
        "garbage": "%%%not-a-token",
        "empty_sig": body + ".",
        "other_key": tokens.make("another-secret-key-123", email="dan@example.com", category="marketing"),
    }[tamper]
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://herald.test") as anon:
        assert (await anon.get(f"/u/{bad}")).status_code == 400
        assert (await anon.post(f"/u/{bad}")).status_code == 400
    assert await app.state.queue.dbsize() == 0


async def test_unsubscribe_while_a_reminder_waits_is_honoured_at_send_time(client, app, settings, smtp):
    scheduled = (await client.post("/v1/notifications", json=NEWSLETTER | {"delay": 0.3})).json()
    assert scheduled["status"] == "scheduled"
    path = "/u/" + tokens.make(settings.secret_key, email="ada@example.com", category="marketing")
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://herald.test") as anon:
        assert (await anon.post(path)).status_code == 200
    await drain(settings)
    got = (await client.get(f"/v1/notifications/{scheduled['id']}")).json()
    assert got["status"] == "suppressed" and "opted out of marketing" in got["error"]
    assert got["attempts"] == [] and smtp.received == []


async def test_preference_change_while_waiting_is_honoured(client, settings, smtp):
    scheduled = (await client.post("/v1/notifications", json=NEWSLETTER | {"delay": 0.3})).json()
    put = await client.put("/v1/recipients/ada@example.com/preferences", json={"categories": {"marketing": False}})
    assert put.status_code == 200
    await drain(settings)
    assert (await client.get(f"/v1/notifications/{scheduled['id']}")).json()["status"] == "suppressed"
    assert smtp.received == []


async def test_the_pages_escape_what_they_echo(app, settings):
    nasty = '"><script>alert(1)</script>@evil.test'
    path = "/u/" + tokens.make(settings.secret_key, email=nasty, category="<b>marketing</b>")
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://herald.test") as anon:
        for response in (await anon.get(path), await anon.post(path)):
            assert response.status_code == 200
            assert "<script>" not in response.text and "<b>marketing" not in response.text
            assert "&lt;script&gt;" in response.text
