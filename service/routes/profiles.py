"""/v1/recipients/{id}: recipient profiles, each channel's address under the product's own id."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path

from service import audit, profiles
from service.deps import ActorDep, SettingsDep, StoreDep
from service.errors import V1_RESPONSES
from service.profiles import ProfileIn

router = APIRouter(tags=["recipients"], responses=V1_RESPONSES)
RecipientPath = Annotated[str, Path(pattern=r"^[A-Za-z0-9._:-]{1,128}$",
                                    description="The product's own id for the recipient")]


@router.put("/v1/recipients/{recipient_id}")
async def put_profile(recipient_id: RecipientPath, body: ProfileIn, actor: ActorDep, store: StoreDep,
                      settings: SettingsDep) -> dict[str, Any]:
    """Create or replace a profile; a notification may then name `"recipient": id`."""
    stored = await profiles.put(store.redis, recipient_id, body)
    await audit.record(store.redis, actor=actor, action="recipient.update", target=recipient_id,
                       at=datetime.now(UTC), retention_seconds=settings.audit_retention_seconds,
                       detail={"fields": sorted(stored)})
    return {"id": recipient_id} | stored


@router.get("/v1/recipients/{recipient_id}")
async def get_profile(recipient_id: RecipientPath, _: ActorDep, store: StoreDep) -> dict[str, Any]:
    found = await profiles.get(store.redis, recipient_id)
    if found is None:
        raise HTTPException(404, f"no recipient {recipient_id!r}")
    return {"id": recipient_id} | found


@router.delete("/v1/recipients/{recipient_id}")
async def delete_profile(recipient_id: RecipientPath, actor: ActorDep, store: StoreDep,
                         settings: SettingsDep) -> dict[str, Any]:
    if not await profiles.delete(store.redis, recipient_id):
        raise HTTPException(404, f"no recipient {recipient_id!r}")
    await audit.record(store.redis, actor=actor, action="recipient.delete", target=recipient_id,
                       at=datetime.now(UTC), retention_seconds=settings.audit_retention_seconds)
    return {"id": recipient_id, "deleted": True}
