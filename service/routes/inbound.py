"""POST /v1/inbound/{provider}: bounces, complaints and deliveries as SES, Postmark, SendGrid and
Mailgun report them. Not behind the API key (providers cannot send one): each request proves
itself by its provider's signature or shared secret, and one that does not is a 401 that
records nothing."""

from __future__ import annotations

import logging
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request

from service import providers
from service.deps import EventsDep, SettingsDep

router = APIRouter(prefix="/v1/inbound", tags=["delivery events"])
log = logging.getLogger("herald.inbound")


async def get_sns(request: Request) -> providers.SnsClient:
    return request.app.state.sns


SnsDep = Annotated[providers.SnsClient, Depends(get_sns)]


_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: {"description": "The body is not the provider's shape"},
    401: {"description": "The signature or shared secret does not verify; nothing is recorded"},
    404: {"description": "Not one of the providers Herald reads"},
}


@router.post("/{provider}", responses=_RESPONSES)
async def receive(provider: str, request: Request, settings: SettingsDep, events: EventsDep,
                  sns: SnsDep) -> dict[str, Any]:
    """Records the events a provider's webhook carries; answers how each was taken."""
    reader = providers.READERS.get(provider)
    if reader is None:
        raise HTTPException(404, f"unknown provider; one of {', '.join(providers.READERS)}")
    body = await request.body()
    try:
        reports = await reader(body, request.headers, settings, sns)
    except providers.Unverified as exc:
        log.warning("a %s webhook was refused: %s", provider, exc)
        raise HTTPException(401, str(exc)) from exc
    except providers.Malformed as exc:
        raise HTTPException(400, str(exc)) from exc
    outcomes = await events.record(reports)
    return {"reports": len(reports), **{name: outcomes.count(name) for name in ("recorded", "duplicate", "unmatched")}}
