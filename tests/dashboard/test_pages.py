"""The dashboard over HTTP (no browser): sessions, forms, pages and what they change."""

from __future__ import annotations

import re
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager

from service.dashboard.session import SESSION_COOKIE
from service.embedded import free_port
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
    assert (audit[0]["action"], audit[0]["target"]) == ("notification.retry", first)


async def test_requeue_ticked_and_every_dead_letter(browser, client, settings, smtp) -> None:
    ids = [await _failed(client, settings, smtp, f"u{n}@example.com") for n in range(3)]
    await login(browser)
    csrf = _csrf((await browser.get("/dashboard/dead-letters")).text)
    response = await browser.post("/dashboard/dead-letters/requeue", data={"csrf": csrf, "ids": ids[:2]})
    assert "requeued=2" in response.headers["location"]
    assert [await _status(client, n) for n in ids] == ["queued", "queued", "failed"]
    response = await browser.post("/dashboard/dead-letters/requeue", data={"csrf": csrf, "all": "1"})
    assert "requeued=1" in response.headers["location"] and "refused=0" in response.headers["location"]
    entry = (await client.get("/v1/audit")).json()["items"][0]
    assert entry["action"] == "notifications.requeue" and entry["detail"]["ids"] == [ids[2]]
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


async def test_overview_says_who_serves_the_bulk_lane(browser, app) -> None:
    from service.queue import BULK_WORKER_HEALTH_KEY, WORKER_HEALTH_KEY

    await login(browser)
    assert (await browser.get("/dashboard")).text.count("no recent heartbeat") == 2
    await app.state.queue.set(WORKER_HEALTH_KEY, b"j_complete=1", px=5000)
    page = " ".join((await browser.get("/dashboard")).text.split())
    assert "no recent heartbeat" not in page and "served by the default lane's worker" in page
    await app.state.queue.set(BULK_WORKER_HEALTH_KEY, b"j_complete=2", px=5000)
    assert "<code>j_complete=2</code>" in (await browser.get("/dashboard")).text


async def test_mail_pages_exist_only_with_a_mailbox(browser) -> None:
    await login(browser)
    assert (await browser.get("/dashboard/mail")).status_code == 404
    assert "/dashboard/mail" not in (await browser.get("/dashboard")).text


@pytest.fixture
async def dev_browser(settings: Settings, tmp_path: Path) -> AsyncIterator[tuple[httpx.AsyncClient, Path]]:
    folder = tmp_path / "mail"
    app = create_app(settings.model_copy(update={"mailbox_dir": folder}))
    async with LifespanManager(app), await _browser(app) as browser:
        await login(browser)
        yield browser, folder


def _catch(folder: Path, raw: bytes, n: int = 1) -> str:
    folder.mkdir(parents=True, exist_ok=True)
    name = f"20261121-120000-{n:05d}.eml"
    (folder / name).write_bytes(raw)
    return name


HTML_MAIL = (b"From: Acme <no-reply@acme.test>\r\nTo: ada@example.com\r\nSubject: Welcome, Ada\r\n"
             b"X-Herald-Notification: n-1\r\nMIME-Version: 1.0\r\n"
             b"Content-Type: multipart/alternative; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
             b"Hello Ada\r\n--b\r\nContent-Type: text/html; charset=utf-8\r\n\r\n"
             b"<p>Hello <b>Ada</b></p><script>parent.document.title='owned'</script>\r\n--b--\r\n")


async def test_mail_catcher_lists_and_shows_every_view(dev_browser) -> None:
    browser, folder = dev_browser
    name = _catch(folder, HTML_MAIL)
    listing = await browser.get("/dashboard/mail")
    assert listing.status_code == 200 and "Welcome, Ada" in listing.text and name in listing.text
    assert "Welcome, Ada" not in (await browser.get("/dashboard/mail", params={"q": "nobody"})).text
    html = await browser.get(f"/dashboard/mail/{name}")
    assert 'sandbox=""' in html.text and f"/dashboard/mail/{name}/html" in html.text
    assert "<script" not in html.text
    text = await browser.get(f"/dashboard/mail/{name}", params={"view": "text"})
    assert "Hello Ada" in text.text
    headers = await browser.get(f"/dashboard/mail/{name}", params={"view": "headers"})
    assert "X-Herald-Notification" in headers.text
    raw = await browser.get(f"/dashboard/mail/{name}", params={"view": "raw"})
    assert "&lt;script&gt;" in raw.text and "<script>" not in raw.text  # shown, never run
    part = await browser.get(f"/dashboard/mail/{name}/html")
    assert part.headers["content-security-policy"].startswith("sandbox;")
    assert "<b>Ada</b>" in part.text


async def test_mail_catcher_refuses_other_files_and_bad_views(dev_browser) -> None:
    browser, folder = dev_browser
    (folder.parent / "secret.eml").write_bytes(b"Subject: no\r\n\r\nno")
    for path in ("/dashboard/mail/..%2Fsecret.eml", "/dashboard/mail/secret.eml", "/dashboard/mail/x/html"):
        assert (await browser.get(path)).status_code == 404, path
    name = _catch(folder, HTML_MAIL)
    assert (await browser.get(f"/dashboard/mail/{name}", params={"view": "exec"})).status_code == 422


async def test_mail_catcher_clear_needs_the_form_token(dev_browser) -> None:
    browser, folder = dev_browser
    _catch(folder, HTML_MAIL)
    assert (await browser.post("/dashboard/mail/clear")).status_code == 403
    page = await browser.get("/dashboard/mail")
    response = await browser.post("/dashboard/mail/clear", data={"csrf": _csrf(page.text)})
    assert response.status_code == 303 and "cleared=1" in response.headers["location"]
    assert not list(folder.iterdir())


@pytest.mark.parametrize("content_type", ["application/x-www-form-urlencoded", "multipart/form-data",
                                          "multipart/form-data; boundary=x", "text/plain"])
async def test_malformed_forms_are_4xx_and_change_nothing(browser, client, settings, smtp, content_type) -> None:
    nid = await _failed(client, settings, smtp, "a@example.com")
    await login(browser)
    for body in (b"\xff\xfe\x00csrf=%ZZ&one=" + nid.encode(), b"--x\r\nContent-Disposition: form-data\r\n\r\n--x--",
                 b"&&&===", b"csrf=" + b"a" * 5000):
        for path in ("/dashboard/dead-letters/requeue", "/dashboard/suppressions/remove", "/dashboard/logout",
                     "/dashboard/login", "/dashboard/mail/clear"):
            response = await browser.post(path, content=body, headers={"Content-Type": content_type})
            assert 400 <= response.status_code < 500, (path, body[:20], response.status_code)
    assert await _status(client, nid) == "failed"


@pytest.mark.parametrize("query", [
    "to=%00", "to=" + "a" * 300, "status=%E2%80%AE", "template=" + "x" * 200, "cursor=%FF%FE", "cursor=MTIzCm5vcGU",
    "cursor=bm90LWEtbnVtYmVyCng", "requeued=-1", "refused=x", "to=%FF", "removed=%C0%AF",
])
async def test_odd_queries_are_answered_never_500(browser, query) -> None:
    await login(browser)
    for path in ("/dashboard/notifications", "/dashboard/dead-letters", "/dashboard/scheduled", "/dashboard/suppressions"):
        response = await browser.get(f"{path}?{query}")
        assert response.status_code < 500, (path, query)


async def test_cookies_are_secure_when_public_url_is_https(settings: Settings) -> None:
    # The request itself is plain HTTP, as behind a TLS-terminating router: PUBLIC_URL decides.
    app = create_app(settings.model_copy(update={"public_url": "https://herald.example.com"}))
    async with LifespanManager(app), await _browser(app) as browser:
        response = await browser.get("/dashboard/login")
    assert "Secure" in response.headers["set-cookie"]


async def test_an_expired_session_is_a_login_again(browser: httpx.AsyncClient, settings: Settings) -> None:
    from service.dashboard.session import open_session

    stale = open_session(settings.secret_key, ("test", API_KEY), now=time.time() - 13 * 3600)
    browser.cookies.set(SESSION_COOKIE, stale, domain="herald.test", path="/dashboard")
    assert (await browser.get("/dashboard")).status_code == 303


async def test_login_refuses_a_wrong_token_and_another_site(browser: httpx.AsyncClient) -> None:
    form = await browser.get("/dashboard/login")
    token = _csrf(form.text)
    wrong = await browser.post("/dashboard/login", data={"api_key": API_KEY, "csrf": token[:-1] + "x"})
    assert wrong.status_code == 403
    for origin in ("https://evil.test", "http://[", "null"):
        other = await browser.post("/dashboard/login", data={"api_key": API_KEY, "csrf": token},
                                   headers={"Origin": origin})
        assert other.status_code == 403, origin
    assert SESSION_COOKIE not in browser.cookies
    # Each refusal hands out a fresh form (and login cookie): the earlier token is spent.
    fresh = _csrf((await browser.get("/dashboard/login")).text)
    ok = await browser.post("/dashboard/login", data={"api_key": API_KEY, "csrf": fresh},
                            headers={"Origin": "http://herald.test"})
    assert ok.status_code == 303 and SESSION_COOKIE in browser.cookies


async def test_logging_out_ends_every_copy_of_the_session(browser: httpx.AsyncClient) -> None:
    await login(browser)
    copy = browser.cookies[SESSION_COOKIE]
    page = await browser.get("/dashboard")
    assert (await browser.post("/dashboard/logout", data={"csrf": _csrf(page.text)})).status_code == 303
    browser.cookies.set(SESSION_COOKIE, copy, domain="herald.test", path="/dashboard")
    assert (await browser.get("/dashboard")).status_code == 303


async def test_a_post_without_a_session_goes_to_login_then_home(browser: httpx.AsyncClient) -> None:
    for path in ("/dashboard/dead-letters/requeue", "/dashboard/suppressions/remove", "/dashboard/logout",
                 "/dashboard/mail/clear"):
        response = await browser.post(path, data={"one": "x"})
        assert response.status_code == 303, path
        assert response.headers["location"] == "/dashboard/login?next=%2Fdashboard"


async def test_pages_say_so_when_redis_is_down(settings: Settings) -> None:
    app = create_app(settings.model_copy(update={"redis_url": f"redis://127.0.0.1:{free_port()}/0"}))
    async with LifespanManager(app), await _browser(app) as browser:
        await login(browser)  # logging in needs no Redis; every page after it does
        response = await browser.get("/dashboard")
    assert response.status_code == 503 and response.headers["retry-after"]
    assert response.headers["content-type"].startswith("text/html") and "Redis is unavailable" in response.text


async def test_the_chart_counts_what_became_of_each_notification(browser, client, redis_url, smtp) -> None:
    # One notification retried once then sent, one that gave up after its only try.
    settings = make_settings(redis_url=redis_url, smtp_url=smtp.url, max_tries=2)
    smtp.script.data["ada@example.com"].append("451 4.3.0 later")
    smtp.script.always_data["bob@example.com"] = "451 4.3.0 later"
    for to in ("ada@example.com", "bob@example.com"):
        await client.post("/v1/notifications", json=WELCOME | {"to": to})
    await drain(settings)
    await login(browser)
    page = await browser.get("/dashboard")
    # ada: retrying, then sent; bob: retrying, then failed (dead letter) after his second 451.
    assert "accepted 2, sent 1,\n      retried 2, failed 1" in page.text


async def test_a_dashboard_retry_is_audited_like_the_apis(browser, client, settings, smtp) -> None:
    nid = await _failed(client, settings, smtp, "a@example.com")
    await login(browser)
    csrf = _csrf((await browser.get("/dashboard/dead-letters")).text)
    await browser.post("/dashboard/dead-letters/requeue", data={"csrf": csrf})  # nothing ticked: no entry
    await browser.post("/dashboard/dead-letters/requeue", data={"csrf": csrf, "ids": ["nope"]})
    actions = [e["action"] for e in (await client.get("/v1/audit")).json()["items"]]
    assert "notifications.requeue" not in actions and "notification.retry" not in actions
    await browser.post("/dashboard/dead-letters/requeue", data={"csrf": csrf, "one": nid})
    entry = (await client.get("/v1/audit")).json()["items"][0]
    assert (entry["action"], entry["target"], entry["actor"]) == ("notification.retry", nid, "test")


async def test_login_next_stays_inside_the_dashboard(browser: httpx.AsyncClient) -> None:
    for target in ("/dashboard/../v1/audit", "/dashboardx", "/dashboard/./x"):
        assert (await login(browser, next_page=target)).headers["location"] == "/dashboard", target
    kept = await login(browser, next_page="/dashboard/notifications?to=a%40b.test")
    assert kept.headers["location"] == "/dashboard/notifications?to=a%40b.test"


async def test_odd_mail_is_shown_not_a_500(dev_browser) -> None:
    browser, folder = dev_browser
    broken = _catch(folder, b"From: x <\r\nTo: ada@example.com\r\nSubject: odd\r\n"
                            b"X-Herald-Notification: ../../x\r\n"
                            b"Content-Type: text/plain; charset=x-bogus\r\n\r\nhello\r\n", n=1)
    listing = await browser.get("/dashboard/mail")
    assert listing.status_code == 200 and "odd" in listing.text
    for view in ("html", "text", "headers", "raw"):
        shown = await browser.get(f"/dashboard/mail/{broken}", params={"view": view})
        assert shown.status_code == 200, view
    # A header that is not a notification id is not turned into a link.
    assert 'href="/dashboard/notifications/' not in (await browser.get(f"/dashboard/mail/{broken}")).text
    assert "hello" in (await browser.get(f"/dashboard/mail/{broken}", params={"view": "text"})).text


async def test_the_chart_counts_a_recipient_suppressed_while_waiting(browser, client, settings) -> None:
    from service import recipients

    await client.post("/v1/notifications", json=WELCOME | {"to": "late@example.com"})
    app = browser._transport.app  # type: ignore[attr-defined]
    await recipients.suppress(app.state.store.redis, "late@example.com", reason="hard bounce", at="2026-01-01T00:00:00Z")
    await drain(settings)
    await login(browser)
    assert "sent 0,\n      retried 0, failed 0, suppressed 1" in (await browser.get("/dashboard")).text


async def test_older_pages_follow_the_filters(browser, client) -> None:
    for n in range(53):
        await client.post("/v1/notifications", json=WELCOME | {"to": "ada@example.com", "idempotency_key": f"k{n}"})
    await client.post("/v1/notifications", json=WELCOME | {"to": "bob@example.com"})
    await login(browser)
    first = await browser.get("/dashboard/notifications", params={"to": "ada@example.com"})
    assert first.text.count("ada@example.com</td>") == 50
    older = re.search(r'<a href="\?([^"]+)">Older', first.text)
    assert older, "no link to older notifications"
    second = await browser.get("/dashboard/notifications?" + older.group(1).replace("&amp;", "&"))
    assert second.text.count("ada@example.com</td>") == 3 and "bob@example.com" not in second.text
    assert "Older" not in second.text
