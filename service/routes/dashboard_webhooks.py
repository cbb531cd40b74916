"""/dashboard/webhooks: the product's endpoints, what each was sent, every attempt, and a replay
button for what failed. Reads and writes through service.webhooks, as the API does."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from service import audit, webhooks
from service.dashboard.web import FormDep, SessionDep, back, page
from service.deps import QueueDep, SettingsDep, StoreDep

router = APIRouter(prefix="/dashboard/webhooks", include_in_schema=False)
RECENT = 20  # deliveries shown per endpoint; the API pages through all of them


@router.get("", response_class=HTMLResponse)
async def endpoints(request: Request, session: SessionDep, store: StoreDep,
                    replayed: Annotated[str, Query(max_length=100)] = "") -> HTMLResponse:
    listed = []
    for endpoint in await webhooks.endpoints(store.redis):
        recent, _ = await webhooks.page(store.redis, endpoint["id"], before_ms=None, limit=RECENT)
        listed.append({"endpoint": webhooks.public(endpoint), "deliveries": recent})
    return page(request, "webhooks.html", {"listed": listed, "replayed": replayed}, session=session)


@router.post("/replay")
async def replay(form: FormDep, session: SessionDep, store: StoreDep, queue: QueueDep,
                 settings: SettingsDep) -> RedirectResponse:
    delivery_id = str(form.get("delivery") or "")[:100]
    found = await webhooks.delivery(store.redis, delivery_id) if delivery_id else None
    endpoint = await webhooks.endpoint(store.redis, found["endpoint"]) if found else None
    if found is None or endpoint is None or endpoint["status"] != "enabled" or found["status"] == "pending":
        return back("/dashboard/webhooks")
    await webhooks.replay(queue, found)
    await audit.record(store.redis, actor=session.actor, action="webhook.replay", target=delivery_id,
                       at=datetime.now(UTC), retention_seconds=settings.audit_retention_seconds,
                       detail={"endpoint": endpoint["id"], "via": "dashboard"})
    return back("/dashboard/webhooks", replayed=delivery_id)
