"""GET /v1/audit: who did what, newest first."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query


from service import audit
from service.models import Timestamp
from service.deps import ActorDep, StoreDep
from service.errors import V1_RESPONSES, unprocessable

router = APIRouter(prefix="/v1/audit", tags=["audit"], responses=V1_RESPONSES)


@router.get("")
async def list_audit(
    _: ActorDep,
    store: StoreDep,
    actor: Annotated[str | None, Query(max_length=256)] = None,
    since: Timestamp | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    cursor: Annotated[str | None, Query(pattern=r"^[0-9]{1,18}-[0-9]{1,18}$")] = None,
) -> dict[str, Any]:
    if since is not None:
        try:
            since.timestamp()
        except (OverflowError, ValueError):
            raise unprocessable(["query", "since"], "since is out of range") from None
    items, next_cursor = await audit.query(store.redis, actor=actor, since=since, cursor=cursor, limit=limit,
                                         archive=store.archive)
    return {"items": items, "next_cursor": next_cursor}
