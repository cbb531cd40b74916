"""/v1/recipients/{email}/preferences and /v1/suppressions: what each recipient may receive."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query
from pydantic import BaseModel, ConfigDict

from service import audit, cursors, recipients
from service.deps import ActorDep, SettingsDep, StoreDep
from service.errors import V1_RESPONSES, unprocessable, valid_email
from service.templates import ALWAYS_SENT, CATEGORIES

router = APIRouter(tags=["recipients"], responses=V1_RESPONSES)


class PreferencesIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    categories: dict[str, bool]


async def _describe(store: StoreDep, email: str) -> dict[str, Any]:
    return {
        "email": email,
        "categories": await recipients.preferences(store.redis, email),
        "always_sent": sorted(ALWAYS_SENT),
        "suppressed": await recipients.suppression(store.redis, email),
    }


@router.get("/v1/recipients/{email}/preferences")
async def get_preferences(email: str, _: ActorDep, store: StoreDep) -> dict[str, Any]:
    return await _describe(store, valid_email(email, ["path", "email"]))


@router.put("/v1/recipients/{email}/preferences")
async def put_preferences(
    email: str, body: PreferencesIn, actor: ActorDep, store: StoreDep, settings: SettingsDep
) -> dict[str, Any]:
    address = valid_email(email, ["path", "email"])
    unknown = sorted(set(body.categories) - CATEGORIES)
    if unknown:
        raise unprocessable(["body", "categories"], f"unknown categories: {', '.join(unknown)} "
                            f"(known: {', '.join(sorted(CATEGORIES))})")
    forced = sorted(c for c, on in body.categories.items() if c in ALWAYS_SENT and not on)
    if forced:
        raise unprocessable(["body", "categories"], f"{', '.join(forced)} emails are always sent and cannot be turned off")
    await recipients.set_preferences(store.redis, address, body.categories)
    await audit.record(store.redis, actor=actor, action="preferences.update", target=address,
                       at=datetime.now(UTC), retention_seconds=settings.audit_retention_seconds,
                       detail={"categories": body.categories})
    return await _describe(store, address)


@router.get("/v1/suppressions")
async def list_suppressions(
    _: ActorDep,
    store: StoreDep,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    cursor: Annotated[str | None, Query(max_length=300)] = None,
) -> dict[str, Any]:
    try:
        after = cursors.decode(cursor) if cursor else None
    except cursors.BadCursor:
        raise unprocessable(["query", "cursor"], "invalid cursor") from None
    items, last = await recipients.list_suppressions(store.redis, after=after, limit=limit)
    return {"items": items, "next_cursor": cursors.encode(last) if last else None}


@router.delete("/v1/suppressions/{email}")
async def delete_suppression(email: str, actor: ActorDep, store: StoreDep, settings: SettingsDep) -> dict[str, Any]:
    address = valid_email(email, ["path", "email"])
    if not await recipients.unsuppress(store.redis, address):
        raise HTTPException(404, f"{address} is not suppressed")
    await audit.record(store.redis, actor=actor, action="suppression.delete", target=address,
                       at=datetime.now(UTC), retention_seconds=settings.audit_retention_seconds)
    return {"email": address, "removed": True}
