"""/dashboard/mail: the development mail catcher's messages (only when MAILBOX_DIR is set)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from service.dashboard import mailbox
from service.dashboard.web import FormDep, SessionDep, back, page
from service.deps import SettingsDep

router = APIRouter(prefix="/dashboard/mail", include_in_schema=False)
# A caught message's HTML is someone else's markup: it runs in a sandbox with no script, no
# network and no access to the dashboard, and only the dashboard may frame it.
_MESSAGE_CSP = "sandbox; default-src 'none'; img-src data:; style-src 'unsafe-inline'; frame-ancestors 'self'"


def _folder(settings: SettingsDep) -> Path:
    if settings.mailbox_dir is None:
        raise HTTPException(404, "the mail catcher is only part of the development command (MAILBOX_DIR)")
    return settings.mailbox_dir


@router.get("", response_class=HTMLResponse)
async def inbox(request: Request, session: SessionDep, settings: SettingsDep,
                q: Annotated[str, Query(max_length=200)] = "", cleared: Annotated[int | None, Query(ge=0)] = None,
                ) -> HTMLResponse:
    messages = mailbox.listing(_folder(settings), search=q)
    return page(request, "mail_list.html", {"messages": messages, "q": q, "cleared": cleared}, session=session)


@router.get("/{name}", response_class=HTMLResponse)
async def message(request: Request, name: str, session: SessionDep, settings: SettingsDep,
                  view: Literal["html", "text", "headers", "raw"] = "html") -> HTMLResponse:
    found = mailbox.read(_folder(settings), name)
    if found is None:
        return page(request, "missing.html", {"what": f"message {name}"}, session=session, status_code=404)
    if view == "html" and found.html is None:
        view = "text"
    return page(request, "mail_message.html", {"m": found, "view": view}, session=session)


@router.get("/{name}/html")
async def message_html(name: str, _: SessionDep, settings: SettingsDep) -> Response:
    found = mailbox.read(_folder(settings), name)
    if found is None or found.html is None:
        raise HTTPException(404, "no such message, or it has no HTML part")
    return Response(found.html, media_type="text/html; charset=utf-8",
                    headers={"Content-Security-Policy": _MESSAGE_CSP, "X-Content-Type-Options": "nosniff",
                             "Cache-Control": "no-store"})


@router.post("/clear")
async def clear(_: FormDep, settings: SettingsDep) -> RedirectResponse:
    return back("/dashboard/mail", cleared=mailbox.clear(_folder(settings)))
