"""/v1/channels: which channels this deployment can deliver on, and how each is set up."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from service.channels import CHANNELS, PARTS, http_secret
from service.deps import ActorDep, CatalogDep, SettingsDep
from service.errors import V1_RESPONSES

router = APIRouter(tags=["channels"], responses=V1_RESPONSES)


@router.get("/v1/channels")
async def list_channels(_: ActorDep, settings: SettingsDep, catalog: CatalogDep) -> dict[str, Any]:
    """Each channel, its template parts, the templates that have them, and its settings. The
    http channel's signing secret is shown here so a receiver can verify what Herald sends."""
    setup: dict[str, dict[str, Any]] = {
        "email": {"mail_from": settings.mail_from},
        "slack": {"bot_token": bool(settings.slack_bot_token), "api_url": settings.slack_api_url},
        "http": {"signing_secret": http_secret(settings), "signature": "Standard Webhooks"},
        "inbox": {"stream": "/v1/inbox/stream?token=...", "token": "/v1/recipients/{id}/inbox-token"},
    }
    return {"channels": [
        {"name": name, "parts": [f"{p}.j2" for p in PARTS[name]],
         "templates": sorted(t.key for t in catalog.templates.values() if name in t.channels)} | setup[name]
        for name in CHANNELS]}
