"""The dashboard over HTTP (no browser): sessions, forms, pages and what they change."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager

from service.dashboard.session import SESSION_COOKIE
from service.factory import create_app
from service.settings import Settings
from tests.conftest import API_KEY, AUTH, drain, make_settings
from tests.support.smtp import ScriptedSMTP

BASE = "http://herald.test"


async def _browser(app: Any) -> httpx.AsyncClient:
    """A client without the API's header: what a browser sends, cookies included."""
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE)


def _csrf(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, "the page has no CSRF field"
    return found.group(1)


async def login(browser: httpx.AsyncClient, key: str = API_KEY, next_page: str = "/dashboard") -> httpx.Response:
    form = await browser.get("/dashboard/login", params={"next": next_page})
    return await browser.post("/dashboard/login", data={"api_key": key, "csrf": _csrf(form.text), "next": next_page})


@pytest.fixture
async def browser(app: Any) -> AsyncIterator[httpx.AsyncClient]:
    async with await _browser(app) as client:
        yield client


async def test_every_page_needs_a_login(browser: httpx.AsyncClient) -> None:
    for path in ("/dashboard", "/dashboard/notifications?to=a%40b.test", "/dashboard/dead-letters",
                 "/dashboard/suppressions", "/dashboard/scheduled", "/dashboard/notifications/x"):
        response = await browser.get(path)
        assert response.status_code == 303, path
        assert response.headers["location"].startswith("/dashboard/login?next=%2Fdashboard")


async def test_the_api_key_is_not_a_dashboard_login(app: Any) -> None:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE, headers=AUTH) as client:
        assert (await client.get("/dashboard")).status_code == 303


async def test_login_sets_an_httponly_strict_session_and_lands_on_next(browser: httpx.AsyncClient) -> None:
    response = await login(browser, next_page="/dashboard/dead-letters")
    assert response.status_code == 303
    assert response.headers["location"] == "/dashboard/dead-letters"
    cookie = next(v for k, v in response.headers.multi_items() if k == "set-cookie" and v.startswith(SESSION_COOKIE))
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/dashboard" in cookie
    assert API_KEY not in cookie
    page = await browser.get("/dashboard")
    assert page.status_code == 200
    assert "Overview" in page.text and "test" in page.text  # the key's name, never its secret
    assert API_KEY not in page.text


async def test_a_wrong_key_is_refused_with_a_message(browser: httpx.AsyncClient) -> None:
    response = await login(browser, key="not-a-key-at-all")
    assert response.status_code == 401
    assert "not valid" in response.text
    assert SESSION_COOKIE not in response.headers.get("set-cookie", "")
    assert (await browser.get("/dashboard")).status_code == 303


async def test_login_never_redirects_off_the_dashboard(browser: httpx.AsyncClient) -> None:
    for target in ("https://evil.test/", "//evil.test/dashboard", "/v1/notifications", "/dashboard\\@evil.test"):
        response = await login(browser, next_page=target)
        assert response.headers["location"] == "/dashboard", target


async def test_login_without_its_form_token_is_refused(browser: httpx.AsyncClient) -> None:
    response = await browser.post("/dashboard/login", data={"api_key": API_KEY, "csrf": "forged"})
    assert response.status_code == 403
    assert SESSION_COOKIE not in response.headers.get("set-cookie", "")


async def test_a_forged_or_stale_session_is_a_login_again(app: Any, settings: Settings) -> None:
    async with await _browser(app) as browser:
        await login(browser)
        real = browser.cookies[SESSION_COOKIE]
        payload, _, mac = real.partition(".")
        browser.cookies.set(SESSION_COOKIE, payload + "." + mac[:-2] + ("AA" if mac[-2:] != "AA" else "BB"),
                            domain="herald.test", path="/dashboard")
        assert (await browser.get("/dashboard")).status_code == 303
    # The key the session was opened with is removed: the session ends with it.
    rotated = create_app(settings.model_copy(update={"api_keys": [("test", "a-brand-new-secret-99")]}))
    async with LifespanManager(rotated), await _browser(rotated) as browser:
        browser.cookies.set(SESSION_COOKIE, real, domain="herald.test", path="/dashboard")
        assert (await browser.get("/dashboard")).status_code == 303


async def test_pages_forbid_scripts_and_framing(browser: httpx.AsyncClient) -> None:
    await login(browser)
    for path in ("/dashboard", "/dashboard/notifications", "/dashboard/dead-letters", "/dashboard/suppressions",
                 "/dashboard/scheduled", "/dashboard/login"):
        response = await browser.get(path)
        assert response.status_code == 200, path
        csp = response.headers["content-security-policy"]
        assert "default-src 'none'" in csp and "frame-ancestors 'none'" in csp and "script-src" not in csp
        assert "<script" not in response.text
        assert response.headers["cache-control"] == "no-store"


WELCOME = {"template": "user.welcome", "context": {"name": "Ada"}}


async def _failed(client: httpx.AsyncClient, settings: Settings, smtp: ScriptedSMTP, to: str) -> str:
    smtp.script.always_data[to] = "554 5.7.1 rejected by policy"
    created = (await client.post("/v1/notifications", json=WELCOME | {"to": to})).json()
    await drain(settings)
    assert (await client.get(f"/v1/notifications/{created['id']}")).json()["status"] == "failed"
    return created["id"]


async def _status(client: httpx.AsyncClient, nid: str) -> str:
    return (await client.get(f"/v1/notifications/{nid}")).json()["status"]


async def test_requeue_one_dead_letter_from_its_row(browser, client, settings, smtp) -> None:
    first = await _failed(client, settings, smtp, "a@example.com")
    second = await _failed(client, settings, smtp, "b@example.com")
    await login(browser)
    page = await browser.get("/dashboard/dead-letters")
    assert first in page.text and second in page.text
    smtp.script.always_data.clear()
    response = await browser.post("/dashboard/dead-letters/requeue", data={"csrf": _csrf(page.text), "one": first})
    assert response.status_code == 303 and "requeued=1" in response.headers["location"]
    assert (await _status(client, first), await _status(client, second)) == ("queued", "failed")
    await drain(settings)
    assert await _status(client, first) == "sent"
    shown = await browser.get(response.headers["location"])
    assert "Requeued 1" in shown.text and first not in shown.text and second in shown.text
    audit = (await client.get("/v1/audit", params={"actor": "test"})).json()["items"]
    assert audit[0]["action"] == "notifications.requeue" and audit[0]["detail"]["ids"] == [first]


async def test_requeue_ticked_and_every_dead_letter(browser, client, settings, smtp) -> None:
    ids = [await _failed(client, settings, smtp, f"u{n}@example.com") for n in range(3)]
    await login(browser)
    csrf = _csrf((await browser.get("/dashboard/dead-letters")).text)
    response = await browser.post("/dashboard/dead-letters/requeue", data={"csrf": csrf, "ids": ids[:2]})
    assert "requeued=2" in response.headers["location"]
    assert [await _status(client, n) for n in ids] == ["queued", "queued", "failed"]
    response = await browser.post("/dashboard/dead-letters/requeue", data={"csrf": csrf, "all": "1"})
    assert "requeued=1" in response.headers["location"]
    assert await _status(client, ids[2]) == "queued"


async def test_forms_refuse_cross_site_and_tokenless_posts(browser, client, settings, smtp) -> None:
    nid = await _failed(client, settings, smtp, "a@example.com")
    await login(browser)
    csrf = _csrf((await browser.get("/dashboard/dead-letters")).text)
    url = "/dashboard/dead-letters/requeue"
    assert (await browser.post(url, data={"one": nid})).status_code == 403
    assert (await browser.post(url, data={"one": nid, "csrf": csrf + "x"})).status_code == 403
    other = await browser.post(url, data={"one": nid, "csrf": csrf}, headers={"Origin": "https://evil.test"})
    assert other.status_code == 403
    assert await _status(client, nid) == "failed"
    # A token from another session does not work in this one.
    async with await _browser(browser._transport.app) as second:  # type: ignore[attr-defined]
        await login(second)
        assert (await second.post(url, data={"one": nid, "csrf": csrf})).status_code == 403
    assert await _status(client, nid) == "failed"


async def test_search_by_recipient_and_bad_filters(browser, client, settings, smtp) -> None:
    for to in ("ada@example.com", "bob@example.com"):
        await client.post("/v1/notifications", json=WELCOME | {"to": to})
    await login(browser)
    found = await browser.get("/dashboard/notifications", params={"to": " ADA@example.com "})
    assert found.status_code == 200
    assert "ada@example.com" in found.text and "bob@example.com" not in found.text
    for params in ({"to": "not an address"}, {"status": "lost"}, {"template": "../etc"}, {"cursor": "%%%"}):
        response = await browser.get("/dashboard/notifications", params=params)
        assert response.status_code == 422, params
        assert 'class="problem"' in response.text
    assert (await browser.get("/dashboard/notifications/nope")).status_code == 404


async def test_a_notification_page_shows_its_attempts(browser, client, settings, smtp) -> None:
    nid = await _failed(client, settings, smtp, "a@example.com")
    await login(browser)
    page = await browser.get(f"/dashboard/notifications/{nid}")
    assert page.status_code == 200
    assert "554" in page.text and "rejected by policy" in page.text and 'value="' + nid + '"' in page.text


async def test_suppressions_can_be_removed(browser, client) -> None:
    await client.put("/v1/recipients/gone@example.com/preferences", json={"categories": {}})
    smtp_reply = await client.get("/v1/suppressions")
    assert smtp_reply.json()["items"] == []
    from service import recipients

    app = browser._transport.app  # type: ignore[attr-defined]
    await recipients.suppress(app.state.store.redis, "gone@example.com", reason="hard bounce: 550", at="2026-01-01T00:00:00Z")
    await login(browser)
    page = await browser.get("/dashboard/suppressions")
    assert "gone@example.com" in page.text and "hard bounce" in page.text
    response = await browser.post("/dashboard/suppressions/remove", data={"csrf": _csrf(page.text), "email": "gone@example.com"})
    assert response.status_code == 303
    assert (await client.get("/v1/suppressions")).json()["items"] == []
    assert "no longer suppressed" in (await browser.get(response.headers["location"])).text


async def test_overview_counts_the_last_hour(browser, client, settings, smtp) -> None:
    for n in range(3):
        await client.post("/v1/notifications", json=WELCOME | {"to": f"u{n}@example.com"})
    await drain(settings)
    await login(browser)
    page = await browser.get("/dashboard")
    assert "accepted 3, sent 3" in page.text
    # The sent line leaves the baseline (y=120) somewhere: the chart draws what was counted.
    sent_line = re.search(r'<polyline class="line sent" points="([^"]*)"', page.text)
    assert sent_line and any(not p.endswith(",120.0") for p in sent_line.group(1).split())


async def test_mail_pages_exist_only_with_a_mailbox(browser) -> None:
    await login(browser)
    assert (await browser.get("/dashboard/mail")).status_code == 404
    assert "/dashboard/mail" not in (await browser.get("/dashboard")).text
