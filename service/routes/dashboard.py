"""/dashboard: Herald seen and steered from a browser, rendered on the server, no script.

Everything here reads and writes through the same domain code as the API (history, dead
letters, suppressions, audit); what a person does here is audited under their API key's name.
"""

from __future__ import annotations

import functools
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from service import audit, cursors, deadletters, events, history, recipients
from service.dashboard import views
from service.dashboard.web import HERE, FormDep, SessionDep, back, page
from service.deps import SettingsDep, StoreDep
from service.models import STATUSES, NotificationOut, normalize_email
from service.routes.notifications import with_deliveries
from service.keys import status_index
from service.templates import KEY_RE

router = APIRouter(prefix="/dashboard", include_in_schema=False)
PAGE_SIZE = 50


@functools.cache
def _stylesheet() -> bytes:
    return (HERE / "static" / "dashboard.css").read_bytes()


@router.get("/static/dashboard.css")
async def stylesheet() -> Response:
    return Response(_stylesheet(), media_type="text/css", headers={"Cache-Control": "max-age=3600"})


@router.get("", response_class=HTMLResponse)
async def home(request: Request, session: SessionDep, store: StoreDep) -> HTMLResponse:
    summary = await views.overview(store.redis)
    recent, _ = await history.search(store, history.Query(limit=15), None)
    return page(request, "overview.html", {"o": summary, "recent": _resources(recent)}, session=session)


@router.get("/notifications", response_class=HTMLResponse)
async def notifications(
    request: Request, session: SessionDep, store: StoreDep,
    to: Annotated[str, Query(max_length=254)] = "",
    status: Annotated[str, Query(max_length=20)] = "",
    template: Annotated[str, Query(max_length=128)] = "",
    cursor: Annotated[str, Query(max_length=400)] = "",
) -> HTMLResponse:
    """Search by recipient, status and template, newest first."""
    filters = {"to": to.strip(), "status": status, "template": template.strip()}
    problem = _filter_problem(filters)
    items: list[NotificationOut] = []
    next_cursor = None
    if problem is None:
        query = history.Query(to=filters["to"] or None, status=status or None, template=filters["template"] or None,
                              limit=PAGE_SIZE)
        try:
            records, next_cursor = await history.search(store, query, cursor or None)
            items = _resources(records)
        except cursors.BadCursor:
            problem = "That page link is not valid any more; start again from the first page."
    context = {"items": items, "filters": filters, "statuses": STATUSES, "next_cursor": next_cursor, "problem": problem}
    return page(request, "notifications.html", context, session=session, status_code=422 if problem else 200)


def _filter_problem(filters: dict[str, str]) -> str | None:
    if filters["to"]:
        try:
            filters["to"] = normalize_email(filters["to"])
        except ValueError as exc:
            return f"Recipient: {exc}"
    if filters["status"] and filters["status"] not in STATUSES:
        return f"Status must be one of {', '.join(STATUSES)}."
    if filters["template"] and not KEY_RE.match(filters["template"]):
        return "Template: not a template key (such as user.welcome)."
    return None


@router.get("/notifications/{notification_id}", response_class=HTMLResponse)
async def notification(request: Request, notification_id: str, session: SessionDep, store: StoreDep) -> HTMLResponse:
    record = await store.get(notification_id)
    if record is None:
        return page(request, "missing.html", {"what": f"notification {notification_id}"}, session=session,
                    status_code=404)
    shown = await with_deliveries(store, NotificationOut.from_record(record))
    return page(request, "notification.html", {"n": shown}, session=session)


@router.get("/scheduled", response_class=HTMLResponse)
async def scheduled(request: Request, session: SessionDep, store: StoreDep,
                    cursor: Annotated[str, Query(max_length=400)] = "") -> HTMLResponse:
    return await _status_page(request, session, store, "scheduled", cursor, "scheduled.html")


@router.get("/dead-letters", response_class=HTMLResponse)
async def dead_letters(request: Request, session: SessionDep, store: StoreDep,
                       cursor: Annotated[str, Query(max_length=400)] = "",
                       requeued: Annotated[int | None, Query(ge=0)] = None,
                       refused: Annotated[int | None, Query(ge=0)] = None) -> HTMLResponse:
    return await _status_page(request, session, store, "failed", cursor, "dead_letters.html",
                              requeued=requeued, refused=refused)


async def _status_page(request: Request, session: Any, store: StoreDep, status: str, cursor: str, name: str,
                       **extra: Any) -> HTMLResponse:
    try:
        records, next_cursor = await history.search(store, history.Query(status=status, limit=PAGE_SIZE), cursor or None)
    except cursors.BadCursor:
        records, next_cursor = [], None
        extra["problem"] = "That page link is not valid any more; start again from the first page."
    context = {"items": _resources(records), "next_cursor": next_cursor, **extra}
    return page(request, name, context, session=session, status_code=422 if "problem" in extra else 200)


@router.post("/dead-letters/requeue")
async def requeue(form: FormDep, session: SessionDep, store: StoreDep, settings: SettingsDep) -> RedirectResponse:
    """One dead letter (its row's button), the ticked ones, or every one (`all`)."""
    now = datetime.now(UTC)
    now_ms = int(now.timestamp() * 1000)
    one = form.get("one")  # a row's own button names its notification
    if form.get("all") == "1":
        waiting = await store.redis.zcard(status_index("failed"))
        ids = await deadletters.requeue_matching(store, deadletters.Filter(limit=10_000), now_ms=now_ms)
        wanted = max(waiting, len(ids))
    else:
        chosen = [str(one)] if one else [str(v) for v in form.getlist("ids")][:PAGE_SIZE]
        ids = await deadletters.requeue_ids(store, chosen, now_ms=now_ms)
        wanted = len(chosen)
    if ids:
        # Audited as the API audits the same act, so a search by id finds it whichever was used.
        single = bool(one) and form.get("all") != "1"
        await audit.record(store.redis, actor=session.actor, at=now, retention_seconds=settings.audit_retention_seconds,
                           action="notification.retry" if single else "notifications.requeue",
                           target=ids[0] if single else "dead letters",
                           detail={"via": "dashboard"} if single else {"via": "dashboard", "requeued": len(ids),
                                                                      "ids": ids[:100]})
    return back("/dashboard/dead-letters", requeued=len(ids), refused=wanted - len(ids))


@router.get("/suppressions", response_class=HTMLResponse)
async def suppressions(request: Request, session: SessionDep, store: StoreDep,
                       cursor: Annotated[str, Query(max_length=300)] = "",
                       removed: Annotated[str, Query(max_length=254)] = "") -> HTMLResponse:
    try:
        after = cursors.decode(cursor) if cursor else None
    except cursors.BadCursor:
        after = None
    items, last = await recipients.list_suppressions(store.redis, after=after, limit=PAGE_SIZE)
    context = {"items": items, "next_cursor": cursors.encode(last) if last else None, "removed": removed}
    return page(request, "suppressions.html", context, session=session)


@router.get("/reports", response_class=HTMLResponse)
async def unmatched_reports(request: Request, session: SessionDep, store: StoreDep) -> HTMLResponse:
    """The latest delivery reports that matched no notification (the API pages through them all)."""
    items, _ = await events.unmatched(store.redis, before=None, limit=PAGE_SIZE)
    return page(request, "reports.html", {"items": items}, session=session)


@router.post("/suppressions/remove")
async def unsuppress(form: FormDep, session: SessionDep, store: StoreDep, settings: SettingsDep) -> RedirectResponse:
    try:
        address = normalize_email(str(form.get("email") or ""))
    except ValueError:
        return back("/dashboard/suppressions")
    if await recipients.unsuppress(store.redis, address):
        await audit.record(store.redis, actor=session.actor, action="suppression.delete", target=address,
                           at=datetime.now(UTC), retention_seconds=settings.audit_retention_seconds,
                           detail={"via": "dashboard"})
    return back("/dashboard/suppressions", removed=address)


def _resources(records: list[dict[str, Any]]) -> list[NotificationOut]:
    return [NotificationOut.from_record(r) for r in records]
