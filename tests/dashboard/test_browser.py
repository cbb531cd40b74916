"""The dashboard in a real headless Chromium (Debian's `chromium`, driven by Playwright).

Herald runs as its Procfile says (web and worker processes, a real Redis, a real SMTP server).
The browser logs in, finds a failed notification, requeues it and sees it delivered; the dev
mail catcher shows a caught message. The screenshots in the README are taken here.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from service.embedded import free_port
from service.mailcatcher import start_catcher
from tests.support.herald import API_KEY, AUTH, Herald, herald_env, wait_until
from tests.support.smtp import ScriptedSMTP

WELCOME = {"template": "user.welcome", "context": {"name": "Ada"}}


def _chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    # Not a skip: without a browser this test cannot pass, and must not be counted as if it did.
    assert found, "Debian's chromium is not installed (scripts/test installs it: apt-get install chromium)"
    return found


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        # --no-sandbox: the tests may run as root, where Chromium's own sandbox cannot start.
        launched = playwright.chromium.launch(executable_path=_chromium(), args=["--no-sandbox"])
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1280, "height": 860})
    opened = context.new_page()
    opened.set_default_timeout(15_000)
    yield opened
    context.close()


def _run(env: dict[str, str]) -> Herald:
    herald = Herald(env)
    herald.start("web")
    herald.start("worker")
    herald.wait_web()
    return herald


def _status(herald: Herald, nid: str) -> str:
    return httpx.get(f"{herald.base}/v1/notifications/{nid}", headers=AUTH, timeout=5).json()["status"]


def _send(herald: Herald, body: dict[str, object]) -> str:
    response = httpx.post(f"{herald.base}/v1/notifications", json=body, headers=AUTH, timeout=5)
    assert response.status_code == 202, response.text
    return response.json()["id"]


def _log_in(page: Page, herald: Herald) -> None:
    page.goto(f"{herald.base}/dashboard")
    expect(page).to_have_url(f"{herald.base}/dashboard/login?next=%2Fdashboard")
    page.get_by_label("API key").fill(API_KEY)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="Overview")).to_be_visible()


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The README's screenshots are refreshed with SCREENSHOTS_DIR=docs/screenshots; otherwise they
    go to a temporary folder, so that running the tests leaves the checkout as it was."""
    chosen = os.environ.get("SCREENSHOTS_DIR")
    folder = Path(chosen) if chosen else tmp_path_factory.mktemp("screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _shot(page: Page, path: Path) -> None:
    page.screenshot(path=str(path), full_page=True)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_find_requeue_and_see_a_dead_letter_delivered(page: Page, shots: Path, redis_url: str,
                                                      smtp: ScriptedSMTP) -> None:
    smtp.script.always_data["ada@example.com"] = "554 5.7.1 rejected by policy"
    herald = _run(herald_env(redis_url, smtp.url))
    try:
        for name in ("Grace", "Linus", "Barbara"):
            _send(herald, WELCOME | {"to": f"{name.lower()}@example.com", "context": {"name": name}})
        _send(herald, {"template": "reminder", "to": "ken@example.com", "delay": 3600,
                       "context": {"name": "Ken", "title": "Renew your plan"}})
        dead = _send(herald, WELCOME | {"to": "ada@example.com"})
        wait_until(lambda: _status(herald, dead) == "failed", 20, "the notification to fail")

        _log_in(page, herald)
        expect(page.locator(".workers li.alive").first).to_contain_text("default lane")
        _shot(page, shots / "overview.png")

        page.get_by_role("link", name="Notifications", exact=True).click()
        page.get_by_label("Recipient").fill("ada@example.com")
        page.get_by_role("button", name="Search").click()
        rows = page.locator("table.list tbody tr")
        expect(rows).to_have_count(1)
        expect(rows.first).to_contain_text("failed")
        rows.first.get_by_role("link").click()
        expect(page.locator("#status")).to_have_text("failed")
        expect(page.locator("table#attempts")).to_contain_text("rejected by policy")
        _shot(page, shots / "notification.png")

        del smtp.script.always_data["ada@example.com"]  # the mail server takes it now
        page.get_by_role("link", name="Dead letters").click()
        _shot(page, shots / "dead-letters.png")
        page.locator(f'button[name="one"][value="{dead}"]').click()  # that row's own Requeue button
        expect(page.get_by_role("status")).to_contain_text("Requeued 1")

        page.goto(f"{herald.base}/dashboard/notifications/{dead}")
        wait_until(lambda: _status(herald, dead) == "sent", 20, "the requeued notification to be sent")
        page.reload()
        expect(page.locator("#status")).to_have_text("sent")
        assert [m.rcpt_tos for m in smtp.received if "ada@example.com" in m.rcpt_tos] == [["ada@example.com"]]

        page.get_by_role("button", name="Log out").click()
        expect(page.get_by_role("heading", name="Log in to Herald")).to_be_visible()
        page.goto(f"{herald.base}/dashboard/dead-letters")
        expect(page.get_by_role("heading", name="Log in to Herald")).to_be_visible()
    finally:
        herald.stop_all()


def test_the_mail_catcher_shows_what_was_sent(page: Page, shots: Path, redis_url: str, tmp_path: Path) -> None:
    folder = tmp_path / "mail"
    port = free_port()
    catcher = start_catcher(folder, port=port, echo=False)
    herald = _run(herald_env(redis_url, f"smtp://127.0.0.1:{port}") | {"MAILBOX_DIR": str(folder)})
    try:
        nid = _send(herald, WELCOME | {"to": {"email": "ada@example.com", "name": "Ada Lovelace"}})
        wait_until(lambda: _status(herald, nid) == "sent", 20, "the welcome to be sent")
        _log_in(page, herald)
        page.get_by_role("link", name="Mail").click()
        page.locator("table.list tbody tr").first.get_by_role("link").last.click()
        expect(page.locator("dl.facts")).to_contain_text(nid)
        frame = page.frame_locator("iframe.mail")
        expect(frame.locator("body")).to_contain_text("Ada")
        _shot(page, shots / "mail.png")
        page.get_by_role("link", name="Text", exact=True).click()
        expect(page.locator("pre.mail")).to_contain_text("Ada")
        page.get_by_role("link", name="Headers", exact=True).click()
        expect(page.locator("table.headers")).to_contain_text("X-Herald-Notification")
    finally:
        herald.stop_all()
        catcher.stop()


def test_the_inbox_page_shows_new_items_live_and_marks_them_read(page: Page, shots: Path, redis_url: str,
                                                                 tmp_path: Path) -> None:
    folder = tmp_path / "mail"
    port = free_port()
    catcher = start_catcher(folder, port=port, echo=False)
    herald = _run(herald_env(redis_url, f"smtp://127.0.0.1:{port}") | {"MAILBOX_DIR": str(folder)})
    try:
        _log_in(page, herald)
        page.get_by_role("link", name="Inbox").click()
        page.get_by_label("Recipient").fill("user_b")
        page.get_by_role("button", name="Open").click()
        expect(page.locator("#state")).to_have_text("live")
        expect(page.locator("#unread")).to_have_text("0")
        # Sent after the page opened: it can only arrive through the stream.
        _send(herald, {"template": "comment.mention", "recipient": "user_b",
                       "context": {"name": "Bea", "author": "Grace", "excerpt": "see section 3"}})
        item = page.locator("#items li").first
        expect(item).to_contain_text("Grace mentioned you", timeout=10_000)
        expect(item).to_have_class("unread")
        expect(page.locator("#unread")).to_have_text("1")
        _shot(page, shots / "inbox.png")
        item.click()
        expect(item).to_have_class("read")
        expect(page.locator("#unread")).to_have_text("0")
    finally:
        herald.stop_all()
        catcher.stop()
