"""What every dashboard page shares: the session dependency, form checks and page rendering."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote, urlsplit

from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from starlette.datastructures import FormData

from service.dashboard.session import SESSION_COOKIE, Session, csrf_ok, csrf_token, logged_out_key, read_session
from service.deps import SettingsDep, StoreDep

HERE = Path(__file__).parent
PAGES = Jinja2Templates(directory=HERE / "templates")
# No script runs on any page; styles and images come from the dashboard itself; nothing may frame it.
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'self'; img-src 'self' data:; "
                               "form-action 'self'; frame-src 'self'; frame-ancestors 'none'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


class LoginRequired(Exception):
    """Raised by the session dependency; answered with a redirect to the login page."""


async def _login_redirect(request: Request, exc: Exception) -> Response:
    # After logging in the browser GETs `next`: a form's POST address would only answer 405.
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    if request.method != "GET":
        target = "/dashboard"
    return RedirectResponse(f"/dashboard/login?next={quote(target, safe='')}", status_code=303)


def install(app: FastAPI) -> None:
    app.add_exception_handler(LoginRequired, _login_redirect)


async def current_session(request: Request, settings: SettingsDep, store: StoreDep) -> Session:
    session = read_session(settings.secret_key, settings.api_keys, request.cookies.get(SESSION_COOKIE))
    if session is None or await store.redis.exists(logged_out_key(session.sid)):
        raise LoginRequired()
    request.state.actor = session.actor  # named on the request's log line, as an API call's key is
    return session


SessionDep = Annotated[Session, Depends(current_session)]


def same_origin(request: Request) -> bool:
    """A browser names the site a POST comes from: it must be this one, as the request's Host or
    PUBLIC_URL names it (a proxy may rewrite Host). No header at all: not a browser."""
    origin = request.headers.get("origin")
    if origin is None:
        return True
    try:
        netloc = urlsplit(origin).netloc
    except ValueError:
        return False
    ours = {request.headers.get("host"), urlsplit(request.app.state.settings.public_url).netloc}
    return bool(netloc) and netloc in ours


async def checked_form(request: Request, session: SessionDep, settings: SettingsDep) -> FormData:
    """A POSTed form from one of the dashboard's own pages, or 403."""
    form = await request.form()
    given = form.get("csrf")
    if not same_origin(request) or not csrf_ok(settings.secret_key, session.sid, given if isinstance(given, str) else None):
        raise HTTPException(403, "this form did not come from the dashboard; reload the page and try again")
    return form


FormDep = Annotated[FormData, Depends(checked_form)]


def page(request: Request, name: str, context: dict[str, Any], *, session: Session | None = None,
         status_code: int = 200) -> HTMLResponse:
    settings = request.app.state.settings
    base = {"session": session, "mailbox": settings.mailbox_dir is not None,
            "csrf": csrf_token(settings.secret_key, session.sid) if session else ""}
    response = PAGES.TemplateResponse(request, name, base | context, status_code=status_code)
    response.headers.update(SECURITY_HEADERS)
    return response


def back(path: str, **message: str | int) -> RedirectResponse:
    """After a POST, back to a page (303: the browser GETs it), with what happened."""
    query = "&".join(f"{k}={quote(str(v), safe='')}" for k, v in message.items())
    return RedirectResponse(f"{path}?{query}" if query else path, status_code=303)
