"""Dependencies: everything a route needs arrives through these, built once in the lifespan.

They are `async def` on purpose: FastAPI runs plain `def` dependencies in a thread pool,
which cost more than the whole of accepting a notification.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Annotated

from arq.connections import ArqRedis
from fastapi import Depends, HTTPException, Request

from service.accept import Context
from service.events import Events
from service.metrics import WebMetrics
from service.settings import Settings
from service.store import Store
from service.templates import Catalog

async def get_settings(request: Request) -> Settings:
    return request.app.state.settings


async def get_queue(request: Request) -> ArqRedis:
    return request.app.state.queue


async def get_store(request: Request) -> Store:
    return request.app.state.store


async def get_catalog(request: Request) -> Catalog:
    return request.app.state.catalog


async def get_events(request: Request) -> Events:
    return request.app.state.events


async def get_metrics(request: Request) -> WebMetrics:
    return request.app.state.metrics


SettingsDep = Annotated[Settings, Depends(get_settings)]
QueueDep = Annotated[ArqRedis, Depends(get_queue)]
StoreDep = Annotated[Store, Depends(get_store)]
CatalogDep = Annotated[Catalog, Depends(get_catalog)]
MetricsDep = Annotated[WebMetrics, Depends(get_metrics)]
EventsDep = Annotated[Events, Depends(get_events)]


async def authenticate(request: Request) -> str:
    """The API key's name, recorded as the actor (the key itself is checked by ApiKeyAuth)."""
    actor = getattr(request.state, "actor", None)
    if actor is None:
        raise HTTPException(401, "missing or invalid API key", headers={"WWW-Authenticate": "Bearer"})
    return actor


ActorDep = Annotated[str, Depends(authenticate)]


async def accept_context(request: Request, actor: ActorDep) -> Context:
    # Built once per app (see factory); only the actor differs between requests.
    return replace(request.app.state.accept_context, actor=actor)


AcceptContextDep = Annotated[Context, Depends(accept_context)]
