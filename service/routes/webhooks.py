"""/v1/webhooks: the product's endpoints, what each is sent, and replays of what failed."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Query, Response
from pydantic import BaseModel, ConfigDict, Field

from service import audit, cursors, ssrf, webhooks
from service.deps import ActorDep, QueueDep, SettingsDep, StoreDep
from service.errors import V1_RESPONSES, unprocessable
from service.models import iso
from service.outbox import EVENT_TYPES

router = APIRouter(prefix="/v1/webhooks", tags=["webhooks"], responses=V1_RESPONSES)
EventType = Literal[EVENT_TYPES]  # type: ignore[valid-type]


class EndpointIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: Annotated[str, Field(min_length=8, max_length=2000)]
    events: Annotated[list[EventType], Field(min_length=1, max_length=len(EVENT_TYPES))]
    description: Annotated[str, Field(max_length=200)] | None = None


async def _endpoint(store: StoreDep, endpoint_id: str) -> dict[str, Any]:
    found = await webhooks.endpoint(store.redis, endpoint_id) if len(endpoint_id) <= 100 else None
    if found is None:
        raise HTTPException(404, "unknown webhook endpoint")
    return found


@router.post("", status_code=201)
async def create_endpoint(body: EndpointIn, actor: ActorDep, store: StoreDep, settings: SettingsDep) -> dict[str, Any]:
    """Registers an endpoint; the answer holds its signing secret, shown this once."""
    if reason := await ssrf.refusal(body.url, allow_private=settings.webhook_allow_private):
        raise unprocessable(["body", "url"], reason)
    now = datetime.now(UTC)
    events = sorted(set(body.events), key=EVENT_TYPES.index)
    created = await webhooks.create_endpoint(store.redis, url=body.url, events=events, description=body.description,
                                             at=iso(now))
    await _audit(store, settings, actor, "webhook.create", created["id"], now, {"url": body.url, "events": events})
    return created


@router.get("")
async def list_endpoints(_: ActorDep, store: StoreDep) -> dict[str, Any]:
    return {"items": [webhooks.public(e) for e in await webhooks.endpoints(store.redis)], "next_cursor": None}


@router.get("/{endpoint_id}")
async def get_endpoint(endpoint_id: str, _: ActorDep, store: StoreDep) -> dict[str, Any]:
    return webhooks.public(await _endpoint(store, endpoint_id))


@router.delete("/{endpoint_id}", status_code=204)
async def delete_endpoint(endpoint_id: str, actor: ActorDep, store: StoreDep, settings: SettingsDep) -> Response:
    await _endpoint(store, endpoint_id)
    await webhooks.delete_endpoint(store.redis, endpoint_id)
    await _audit(store, settings, actor, "webhook.delete", endpoint_id, datetime.now(UTC), {})
    return Response(status_code=204)


@router.post("/{endpoint_id}/enable")
async def enable_endpoint(endpoint_id: str, actor: ActorDep, store: StoreDep, settings: SettingsDep) -> dict[str, Any]:
    """Sends to an endpoint again after a 410 disabled it (what failed meanwhile can be replayed)."""
    await _endpoint(store, endpoint_id)
    await webhooks.set_status(store.redis, endpoint_id, "enabled")
    await _audit(store, settings, actor, "webhook.enable", endpoint_id, datetime.now(UTC), {})
    return webhooks.public(await _endpoint(store, endpoint_id))


@router.get("/{endpoint_id}/deliveries")
async def list_deliveries(
    endpoint_id: str, _: ActorDep, store: StoreDep,
    status: Literal[webhooks.DELIVERY_STATUSES] | None = None,  # type: ignore[valid-type]
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(max_length=100)] = None,
) -> dict[str, Any]:
    """What was sent to an endpoint, newest first, each with every attempt."""
    await _endpoint(store, endpoint_id)
    before = _cursor(cursor)
    items, last = await webhooks.page(store.redis, endpoint_id, before_ms=before, limit=limit, status=status)
    return {"items": items, "next_cursor": cursors.encode(str(last)) if last is not None else None}


@router.get("/{endpoint_id}/deliveries/{delivery_id}")
async def get_delivery(endpoint_id: str, delivery_id: str, _: ActorDep, store: StoreDep) -> dict[str, Any]:
    return await _delivery(store, endpoint_id, delivery_id)


@router.post("/{endpoint_id}/deliveries/{delivery_id}/replay", status_code=202)
async def replay_delivery(endpoint_id: str, delivery_id: str, actor: ActorDep, store: StoreDep, queue: QueueDep,
                          settings: SettingsDep) -> dict[str, Any]:
    """Sends a finished delivery again: the same body under the same webhook-id (receivers deduplicate)."""
    endpoint = await _endpoint(store, endpoint_id)
    found = await _delivery(store, endpoint_id, delivery_id)
    if found["status"] == "pending":
        raise HTTPException(409, "the delivery is still being attempted")
    if endpoint["status"] != "enabled":
        raise HTTPException(409, "the endpoint is disabled: enable it first")
    await webhooks.replay(queue, found)
    await _audit(store, settings, actor, "webhook.replay", delivery_id, datetime.now(UTC), {"endpoint": endpoint_id})
    return await _delivery(store, endpoint_id, delivery_id)


async def _delivery(store: StoreDep, endpoint_id: str, delivery_id: str) -> dict[str, Any]:
    found = await webhooks.delivery(store.redis, delivery_id) if len(delivery_id) <= 100 else None
    if found is None or found["endpoint"] != endpoint_id:
        raise HTTPException(404, "unknown delivery")
    return found


def _cursor(cursor: str | None) -> int | None:
    if not cursor:
        return None
    try:
        position = cursors.decode(cursor)
    except cursors.BadCursor:
        position = ""
    if not position.isdigit() or len(position) > 16:
        raise unprocessable(["query", "cursor"], "invalid cursor")
    return int(position)


async def _audit(store: StoreDep, settings: SettingsDep, actor: str, action: str, target: str, at: datetime,
                 detail: dict[str, Any]) -> None:
    await audit.record(store.redis, actor=actor, action=action, target=target, at=at,
                       retention_seconds=settings.audit_retention_seconds, detail=detail)
