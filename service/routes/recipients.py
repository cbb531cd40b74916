"""/v1/recipients/{email or id}/preferences and /v1/suppressions: what each recipient may receive."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query
from pydantic import BaseModel, ConfigDict, Field, model_validator

from service import audit, cursors, profiles, recipients
from service.channels import Channel
from service.deps import ActorDep, SettingsDep, StoreDep
from service.errors import V1_RESPONSES, unprocessable, valid_email
from service.templates import ALWAYS_SENT, CATEGORIES

router = APIRouter(tags=["recipients"], responses=V1_RESPONSES)
_RECIPIENT_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")


class PreferencesIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    categories: dict[str, bool] = Field(default_factory=dict)
    channels: dict[str, dict[Channel, bool]] = Field(default_factory=dict)  # category -> channel -> on

    @model_validator(mode="after")
    def _something(self) -> PreferencesIn:
        if not self.model_fields_set & {"categories", "channels"}:
            raise ValueError("give categories, channels or both")
        return self


async def _key(store: StoreDep, email: str) -> tuple[str, str | None]:
    """Preferences are keyed by address; a profile's id stands for its address (or, without
    one, for itself)."""
    if "@" in email:
        return valid_email(email, ["path", "email"]), None
    profile = await profiles.get(store.redis, email) if _RECIPIENT_ID.fullmatch(email) else None
    if profile is None:
        raise unprocessable(["path", "email"], "not an email address, nor the id of a recipient profile "
                                               "(PUT /v1/recipients/{id})")
    return profiles.key_of(email, profile), email


async def _describe(store: StoreDep, key: str, recipient: str | None) -> dict[str, Any]:
    categories, channels = await recipients.all_preferences(store.redis, key)
    email = key if "@" in key else None
    return {
        "email": email,
        "recipient": recipient,
        "categories": categories,
        "channels": channels,
        "always_sent": sorted(ALWAYS_SENT),
        "suppressed": await recipients.suppression(store.redis, email) if email else None,
    }


@router.get("/v1/recipients/{email}/preferences")
async def get_preferences(email: str, _: ActorDep, store: StoreDep) -> dict[str, Any]:
    return await _describe(store, *await _key(store, email))


def _check(body: PreferencesIn) -> None:
    for loc, named in (("categories", set(body.categories)), ("channels", set(body.channels))):
        if unknown := sorted(named - CATEGORIES):
            raise unprocessable(["body", loc], f"unknown categories: {', '.join(unknown)} "
                                f"(known: {', '.join(sorted(CATEGORIES))})")
    forced = sorted({c for c, on in body.categories.items() if c in ALWAYS_SENT and not on} |
                    {c for c, by in body.channels.items() if c in ALWAYS_SENT and not all(by.values())})
    if forced:
        raise unprocessable(["body", "categories" if set(forced) & set(body.categories) else "channels"],
                            f"{', '.join(forced)} notifications are always sent and cannot be turned off")


@router.put("/v1/recipients/{email}/preferences")
async def put_preferences(
    email: str, body: PreferencesIn, actor: ActorDep, store: StoreDep, settings: SettingsDep
) -> dict[str, Any]:
    key, recipient = await _key(store, email)
    _check(body)
    await recipients.set_preferences(store.redis, key, body.categories, body.channels)
    await audit.record(store.redis, actor=actor, action="preferences.update", target=key,
                       at=datetime.now(UTC), retention_seconds=settings.audit_retention_seconds,
                       detail=body.model_dump(exclude_defaults=True))
    return await _describe(store, key, recipient)


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
