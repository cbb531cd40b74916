"""/u/{token}: one-click unsubscribe (RFC 8058) and the page a person sees from the link.

GET only shows a confirmation page: link scanners and prefetchers follow links, and must not
unsubscribe anyone. POST unsubscribes at once and answers 200 (never a redirect), whatever
form encoding the mail client used.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from html import escape

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from service import audit, outbox, recipients, tokens
from service.deps import SettingsDep, StoreDep
from service.models import iso

router = APIRouter(tags=["unsubscribe"], include_in_schema=False)
log = logging.getLogger("herald.unsubscribe")

_STYLE = "font-family: -apple-system, Segoe UI, Helvetica, Arial, sans-serif; max-width: 520px; margin: 48px auto;"


def _page(title: str, body: str, status: int = 200) -> HTMLResponse:
    html = (f'<!DOCTYPE html><html><head><meta charset="utf-8"><meta name="robots" content="noindex">'
            f'<title>{escape(title)}</title></head><body style="{_STYLE}"><h1>{escape(title)}</h1>{body}'
            "</body></html>")
    return HTMLResponse(html, status_code=status, headers={"Cache-Control": "no-store"})


def _invalid() -> HTMLResponse:
    return _page("This link is not valid", "<p>Copy the whole link from the email and try again.</p>", 400)


@router.get("/u/{token}")
async def confirm_page(token: str, settings: SettingsDep) -> HTMLResponse:
    try:
        email, category = tokens.read(settings.secret_key, token)
    except tokens.InvalidToken:
        return _invalid()
    button = 'style="font-size: 16px; padding: 8px 16px; margin: 4px 0;"'
    return _page(
        "Unsubscribe?",
        f"<p>Stop sending <strong>{escape(category)}</strong> emails to <strong>{escape(email)}</strong>?</p>"
        f'<form method="post"><button type="submit" {button}>Unsubscribe from {escape(category)} emails</button>'
        "</form>"
        f'<form method="post"><input type="hidden" name="scope" value="all">'
        f'<button type="submit" {button}>Unsubscribe from all emails</button></form>',
    )


@router.post("/u/{token}")
async def unsubscribe(token: str, request: Request, settings: SettingsDep, store: StoreDep) -> HTMLResponse:
    try:
        email, category = tokens.read(settings.secret_key, token)
    except tokens.InvalidToken:
        return _invalid()
    everything = await _wants_everything(request)
    now = datetime.now(UTC)
    if everything:
        await recipients.suppress(store.redis, email, reason="unsubscribed from all emails", at=iso(now))
    else:
        await recipients.set_preferences(store.redis, email, {category: False})
    await outbox.publish(store.redis, "recipient.unsubscribed", at=now, email=email,
                         category="all" if everything else category)
    await audit.record(
        store.redis, actor=email, action="unsubscribe", target=email, at=now,
        retention_seconds=settings.audit_retention_seconds,
        detail={"scope": "all" if everything else category},
    )
    what = "any more emails" if everything else f"{escape(category)} emails"
    return _page("You are unsubscribed", f"<p>{escape(email)} will not get {what} from us.</p>")


async def _wants_everything(request: Request) -> bool:
    """The page's second button sends scope=all; a one-click POST sends List-Unsubscribe=One-Click."""
    try:
        form = await request.form(max_files=0, max_fields=10)
    except Exception:  # noqa: BLE001 - an unreadable body is still a one-click unsubscribe
        log.info("unsubscribe POST with an unreadable body; treated as one-click")
        return False
    return form.get("scope") == "all"
