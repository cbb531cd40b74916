"""/v1/templates: browse the catalog and preview a rendering without sending anything."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException

from service.channels import render_payload
from service.deps import ActorDep, CatalogDep
from service.errors import V1_RESPONSES, unprocessable
from service.models import PreviewIn, PreviewOut, missing_detail
from service.templates import ALWAYS_SENT, RENDER_ERRORS, MissingVariables, Template, TemplateNotFound

router = APIRouter(prefix="/v1/templates", tags=["templates"], responses=V1_RESPONSES)


def _find(catalog: CatalogDep, key: str) -> Template:
    try:
        return catalog.get(key)
    except TemplateNotFound:
        raise HTTPException(404, f"template {key!r} not found") from None


@router.get("")
async def list_templates(_: ActorDep, catalog: CatalogDep) -> dict[str, Any]:
    return {"items": [t.describe() for t in catalog.templates.values()], "next_cursor": None}


@router.get("/{key}")
async def get_template(key: str, _: ActorDep, catalog: CatalogDep) -> dict[str, Any]:
    return _find(catalog, key).describe()


@router.post("/{key}/preview", response_model=PreviewOut)
async def preview_template(key: str, body: PreviewIn, _: ActorDep, catalog: CatalogDep) -> PreviewOut:
    template = _find(catalog, key)
    rendered, others = None, {}
    try:
        if "email" in template.channels:
            rendered = catalog.render(key, body.locale, body.context, unsubscribe_url=_sample_unsubscribe(template))
        for channel in (c for c in template.channels if c != "email"):
            others[channel] = render_payload(catalog, key, body.locale, channel, body.context)
    except MissingVariables as exc:
        raise HTTPException(422, missing_detail(exc.names)) from None
    except RENDER_ERRORS as exc:
        raise unprocessable(["body", "context"], f"the template cannot render this context: {exc}") from None
    return PreviewOut(
        template=key,
        locale=template.resolve_locale(body.locale),
        subject=rendered.subject if rendered else None,
        text=rendered.text if rendered else None,
        html=rendered.html if rendered else None,
        channels=others,
    )


def _sample_unsubscribe(template: Template) -> str | None:
    return None if template.category in ALWAYS_SENT else "https://example.invalid/u/preview"
