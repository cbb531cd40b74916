"""/dashboard/inbox: a product page's bell, in the development command only (MAILBOX_DIR).

It shows what a product's own page does with the inbox: its server mints a recipient token,
and the browser lists, marks and streams the recipient's items with that token alone.
"""

from __future__ import annotations

import functools
import time
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, Response

from service import inbox_tokens
from service.dashboard.web import HERE, SessionDep, page
from service.deps import SettingsDep

router = APIRouter(prefix="/dashboard/inbox", include_in_schema=False)
TOKEN_SECONDS = 900
# This page (and only this one) runs a script: the dashboard's own, talking to Herald alone.
_CSP = ("default-src 'none'; script-src 'self'; connect-src 'self'; style-src 'self'; img-src 'self' data:; "
        "frame-ancestors 'none'; base-uri 'none'; form-action 'self'")


@router.get("", response_class=HTMLResponse)
async def inbox_page(request: Request, session: SessionDep, settings: SettingsDep,
                     recipient: Annotated[str, Query(pattern=r"^[A-Za-z0-9._:-]{1,128}$")] = "demo_user",
                     ) -> HTMLResponse:
    if settings.mailbox_dir is None:
        raise HTTPException(404, "the inbox demo is only part of the development command (MAILBOX_DIR)")
    token = inbox_tokens.make(settings.secret_key, recipient, expires_at=int(time.time()) + TOKEN_SECONDS)
    response = page(request, "inbox_demo.html", {"recipient": recipient, "token": token}, session=session)
    response.headers["Content-Security-Policy"] = _CSP
    return response


@functools.cache
def _script() -> bytes:
    return (HERE / "static" / "inbox.js").read_bytes()


@router.get("/inbox.js")
async def script() -> Response:
    return Response(_script(), media_type="text/javascript", headers={"Cache-Control": "max-age=3600"})
