"""Builds the FastAPI app; clients are opened in the lifespan and handed out by dependencies."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from service import bodies, errors, heap, logs
from service.accept import Context
from service.events import Events
from service.auth import ApiKeyAuth
from service.limits import BodySizeLimit
from service.requestlog import RequestLog
from service.metrics import WebMetrics
from service.models import NotificationIn
from service.archive import mark_archiving, open_archive
from service.queue import open_queue
from service.dashboard import web as dashboard_web
from service.routes import (
    audit, batch, dashboard, digests, health, login, mailbox, notifications, recipients, templates, unsubscribe,
)
from service.providers import HttpSnsClient
from service.routes import channels as channel_routes, dashboard_webhooks, inbound, inbox, inbox_demo, profiles, reports
from service.routes import webhooks as webhook_routes
from service.inbox_stream import Hub
from service.settings import Settings, load_settings
from service.store import Store
from service.templates import Catalog, load_catalog

log = logging.getLogger("herald.web")


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    settings: Settings = app.state.settings
    queue = open_queue(settings)
    app.state.queue = queue
    archive = await open_archive(settings, wait=False)
    if archive is not None:
        await mark_archiving(queue)
    app.state.store = Store(queue, retention_seconds=settings.retention_seconds, archive=archive,
                            wait_replicas=settings.redis_wait_replicas, wait_timeout_ms=settings.redis_wait_timeout_ms)
    app.state.events = Events(app.state.store, settings)
    app.state.rate_buckets = {}
    app.state.inbox_hub = Hub(queue)
    if not settings.api_keys:
        log.warning("API_KEYS is empty: every /v1 call will be refused")
    if app.state.settle_heap:
        heap.settle()
    try:
        yield
    finally:
        await app.state.inbox_hub.close()
        if archive is not None:
            await archive.close()
        await queue.aclose(close_connection_pool=True)


def create_app(settings: Settings | None = None, *, catalog: Catalog | None = None,
               settle_heap: bool = False) -> FastAPI:
    """`settle_heap`: the process serves only this app, so start-up ends with `heap.settle()`
    (the Procfile's web does; tests, which build many apps in one process, do not)."""
    settings = settings or load_settings()
    logs.configure(settings.log_level, settings.log_format)
    # FastAPI's native OpenTelemetry looks up the global providers on every request (3% of the
    # web's CPU, measured with py-spy); Herald reports through /metrics and its log lines instead.
    app = FastAPI(title="Herald", version="0.1.0", lifespan=_lifespan,
                  telemetry={"tracing": False, "metrics": False, "logs": False})
    # No redirects, ever: a one-click unsubscribe POST must be answered, not bounced elsewhere.
    app.router.redirect_slashes = False
    app.state.settings = settings
    app.state.settle_heap = settle_heap
    app.state.catalog = catalog or load_catalog(settings.templates_dir)
    app.state.metrics = WebMetrics()
    app.state.sns = HttpSnsClient()  # tests hand in their own, as with every other client
    app.state.accept_context = Context.from_settings(settings, app.state.catalog, actor="")
    errors.install(app)
    dashboard_web.install(app)
    app.add_middleware(ApiKeyAuth, keys=settings.api_keys, rate_per_second=settings.rate_limit_per_second)
    # An oversized body is refused before anything else reads it.
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes)
    # Outermost: every answer, 401 and 413 included, gets its request id and its log line.
    app.add_middleware(RequestLog)
    logging.getLogger("uvicorn.access").disabled = True  # Herald's own line replaces it
    for module in (batch, notifications, digests, audit, templates, recipients, unsubscribe, health,
                   login, dashboard, mailbox):
        app.include_router(module.router)
    app.include_router(reports.router)
    for module in (profiles, inbox, channel_routes, inbox_demo):
        app.include_router(module.router)
    app.include_router(inbound.router)
    app.include_router(webhook_routes.router)
    app.include_router(dashboard_webhooks.router)
    bodies.document(app, NotificationIn)  # POST /v1/notifications reads it by hand
    return app
