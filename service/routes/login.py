"""/dashboard/login and /dashboard/logout: an API key in, a session cookie out."""

from __future__ import annotations

import posixpath
import time
from typing import Annotated

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from service.auth import find_key
from service.dashboard.session import (
    LOGIN_COOKIE,
    SESSION_COOKIE,
    SESSION_SECONDS,
    csrf_ok,
    csrf_token,
    logged_out_key,
    new_login_nonce,
    open_session,
)
from service.dashboard.web import FormDep, SessionDep, page, same_origin
from service.deps import SettingsDep, StoreDep

router = APIRouter(prefix="/dashboard", include_in_schema=False)


def _next(target: str) -> str:
    """Only a dashboard page of this site: never an open redirect to somewhere else."""
    path = target.partition("?")[0]
    inside = path == "/dashboard" or path.startswith("/dashboard/")
    if "\\" in target or not inside or posixpath.normpath(path) != path.rstrip("/"):
        return "/dashboard"
    return target


def _cookie(response: Response, request: Request, name: str, value: str, max_age: int) -> None:
    # Behind a TLS-terminating router the request looks like plain HTTP; PUBLIC_URL tells the truth.
    https = request.url.scheme == "https" or request.app.state.settings.public_url.startswith("https:")
    response.set_cookie(name, value, max_age=max_age, path="/dashboard", httponly=True, samesite="strict",
                        secure=https)


def _login_page(request: Request, settings: SettingsDep, target: str, *, problem: str | None = None,
                status_code: int = 200) -> HTMLResponse:
    nonce = new_login_nonce()
    context = {"next": _next(target), "problem": problem, "login_csrf": csrf_token(settings.secret_key, nonce)}
    response = page(request, "login.html", context, status_code=status_code)
    _cookie(response, request, LOGIN_COOKIE, nonce, 600)
    return response


@router.get("/login", response_class=HTMLResponse)
async def login_form(request: Request, settings: SettingsDep,
                     next: Annotated[str, Query(max_length=500)] = "/dashboard") -> HTMLResponse:
    return _login_page(request, settings, next)


@router.post("/login", response_model=None)
async def login(
    request: Request, settings: SettingsDep,
    api_key: Annotated[str, Form(max_length=500)] = "",
    csrf: Annotated[str, Form(max_length=200)] = "",
    next: Annotated[str, Form(max_length=500)] = "/dashboard",
) -> Response:
    if not same_origin(request) or not csrf_ok(settings.secret_key, request.cookies.get(LOGIN_COOKIE), csrf):
        return _login_page(request, settings, next, problem="The form expired; please log in again.", status_code=403)
    found = find_key([(name, secret.encode()) for name, secret in settings.api_keys], api_key.strip().encode())
    if found is None:
        return _login_page(request, settings, next, problem="That API key is not valid.", status_code=401)
    response = RedirectResponse(_next(next), status_code=303)
    _cookie(response, request, SESSION_COOKIE, open_session(settings.secret_key, (found[0], found[1].decode())), SESSION_SECONDS)
    response.delete_cookie(LOGIN_COOKIE, path="/dashboard")
    return response


@router.post("/logout")
async def logout(_: FormDep, session: SessionDep, store: StoreDep) -> RedirectResponse:
    # A copy of the cookie (another browser, a proxy log) must stop working too.
    remaining = max(1, session.expires - int(time.time()))
    await store.redis.set(logged_out_key(session.sid), "1", ex=remaining)
    response = RedirectResponse("/dashboard/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/dashboard")
    return response
