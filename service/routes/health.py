"""Liveness, readiness and Prometheus metrics."""

from __future__ import annotations

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse, PlainTextResponse
from redis.exceptions import RedisError

from service.deps import MetricsDep, QueueDep, StoreDep
from service.metrics import CONTENT_TYPE
from service.queue import BULK_WORKER_HEALTH_KEY, WORKER_HEALTH_KEY

router = APIRouter(tags=["health"])


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz", responses={503: {"description": "Redis unreachable or no fresh worker heartbeat"}})
async def readyz(queue: QueueDep) -> JSONResponse:
    try:
        async with queue.pipeline(transaction=False) as pipe:
            pipe.ping().exists(WORKER_HEALTH_KEY).exists(BULK_WORKER_HEALTH_KEY)
            _, worker_alive, bulk_alive = await pipe.execute()
    except (RedisError, OSError):
        return JSONResponse({"status": "unavailable", "redis": False, "worker": False}, status_code=503)
    # Only the default lane's worker decides readiness: it serves the bulk lane too.
    code = 200 if worker_alive else 503
    return JSONResponse({"status": "ok" if worker_alive else "no worker", "redis": True,
                         "worker": bool(worker_alive), "bulk_worker": bool(bulk_alive)}, status_code=code)


@router.get("/metrics", response_class=PlainTextResponse,
            responses={200: {"content": {"text/plain": {}}, "description": "Prometheus text format"}})
async def metrics_endpoint(store: StoreDep, web_metrics: MetricsDep) -> Response:
    return Response(await web_metrics.render(store), media_type=CONTENT_TYPE)
