"""GET /v1/audit: who did what, newest first."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query
from pydantic import AwareDatetime

from service import audit
from service.deps import ActorDep, StoreDep

router = APIRouter(prefix="/v1/audit", tags=["audit"])


@router.get("")
async def list_audit(
    _: ActorDep,
    store: StoreDep,
    actor: Annotated[str | None, Query(max_length=256)] = None,
    since: AwareDatetime | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    cursor: Annotated[str | None, Query(pattern=r"^[0-9]{1,18}-[0-9]{1,18}$")] = None,
) -> dict[str, Any]:
    if since is not None:
        try:
            since.timestamp()
        except (OverflowError, ValueError):
            raise HTTPException(422, "since is out of range") from None
    items, next_cursor = await audit.query(store.redis, actor=actor, since=since, cursor=cursor, limit=limit)
    return {"items": items, "next_cursor": next_cursor}
