"""In the default worker: from the outbox to webhook delivery jobs, and the worker that runs them.

The dispatcher reads the outbox stream (service.outbox) with a consumer group and acknowledges
an event only once every subscribed endpoint has its delivery and job; an event read by a
worker that died is claimed by another after a while. A delivery's id is made from the event
and the endpoint, so handing an event out twice writes the same delivery and, ARQ refusing a
second job under one id, sends it once.

The `deliver_webhook` jobs run in a second ARQ worker inside the same process, on the webhook
queue with slots of its own (WEBHOOK_MAX_JOBS): a receiver that takes ten seconds to answer
holds webhook slots, never an email's, and `arq jobs.WorkerSettings` alone runs everything.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import logging
import signal
import time
from datetime import timedelta
from typing import Any

import httpx
from arq import worker as arq_worker
from redis.exceptions import RedisError, ResponseError

from jobs.webhooks import deliver_webhook
from service import jsonio, webhooks
from service.ids import new_id
from service.keys import OUTBOX_KEY
from service.models import NotificationOut
from service.queue import job_deserializer, job_serializer
from service.webhooks import DELIVER_WEBHOOK_JOB, WEBHOOK_QUEUE_NAME

log = logging.getLogger("herald.dispatch")
GROUP = "dispatch"
CLAIM_IDLE_MS = 30_000  # an event read this long ago and not acknowledged: its reader died
CLAIM_EVERY_SECONDS = 10
BATCH = 100
STOP_GRACE_SECONDS = 3  # after the email jobs' own grace, within the platform's 30 s
# The original class: `arq jobs.WorkerSettings` points arq.worker.Worker at Herald's batched
# subclass (jobs.worker), which serves email lanes; this worker serves webhooks only.
_ArqWorker = arq_worker.Worker


async def start(ctx: dict[str, Any], *, redis: dict[str, Any]) -> None:
    """`redis`: the worker's options for reaching Redis (jobs.worker.redis_options)."""
    settings = ctx["settings"]
    ctx["webhook_http"] = httpx.AsyncClient(timeout=settings.webhook_timeout_seconds, follow_redirects=False,
                                            headers={"user-agent": "Herald-Webhooks/1"})
    worker = _ArqWorker(
        functions=[arq_worker.func(deliver_webhook, name=DELIVER_WEBHOOK_JOB,
                                   timeout=settings.webhook_timeout_seconds + 5,
                                   max_tries=len(settings.webhook_retry_seconds) * 2 + 10)],
        queue_name=WEBHOOK_QUEUE_NAME, **redis, handle_signals=False,
        max_jobs=settings.webhook_max_jobs, keep_result=0, poll_delay=settings.worker_poll_seconds,
        job_serializer=job_serializer, job_deserializer=job_deserializer, health_check_interval=10,
        ctx={"settings": settings, "http": ctx["webhook_http"]},
    )
    worker.main_task = asyncio.create_task(worker.main())
    stop = asyncio.Event()
    ctx["webhook_worker"], ctx["dispatch_stop"] = worker, stop
    ctx["dispatcher"] = asyncio.create_task(_dispatch_forever(ctx, stop))


async def stop(ctx: dict[str, Any]) -> None:
    """Stop reading the outbox, let deliveries under way finish (briefly), close."""
    if "dispatcher" not in ctx:
        return
    ctx["dispatch_stop"].set()
    ctx["dispatcher"].cancel()  # an event read and not yet handed out is claimed again later
    await asyncio.gather(ctx["dispatcher"], return_exceptions=True)
    worker = ctx["webhook_worker"]
    worker.allow_pick_jobs = False
    deadline = time.monotonic() + STOP_GRACE_SECONDS
    while any(not t.done() for t in worker.tasks.values()) and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    worker.handle_sig(signal.SIGUSR1)  # cancels what is left: it is sent again, under the same webhook-id
    await asyncio.gather(worker.main_task, *worker.tasks.values(), return_exceptions=True)
    worker.tasks.clear()  # all done now; close() would re-raise a cancelled one's CancelledError
    await worker.close()
    await ctx["webhook_http"].aclose()


async def _dispatch_forever(ctx: dict[str, Any], stop_event: asyncio.Event) -> None:
    redis, consumer, claimed_at = ctx["redis"], new_id(), 0.0
    while not stop_event.is_set():
        try:
            if time.monotonic() - claimed_at > CLAIM_EVERY_SECONDS:
                await _ensure_group(redis)
                _, entries, *_ = await redis.xautoclaim(OUTBOX_KEY, GROUP, consumer, CLAIM_IDLE_MS, "0-0", count=BATCH)
                await _handle(ctx, entries)
                claimed_at = time.monotonic()
            for _, entries in await redis.xreadgroup(GROUP, consumer, {OUTBOX_KEY: ">"}, count=BATCH, block=1000):
                await _handle(ctx, entries)
        except ResponseError as exc:  # the stream or its group is gone (a flushed Redis): make them again
            log.warning("reading the outbox failed (%s)", exc)
            claimed_at = 0.0
            await asyncio.sleep(0.5)
        except (RedisError, OSError) as exc:
            log.warning("reading the outbox failed (%s); trying again", exc)
            await asyncio.sleep(1)


async def _ensure_group(redis: Any) -> None:
    try:
        await redis.xgroup_create(OUTBOX_KEY, GROUP, id="0", mkstream=True)
    except ResponseError as exc:
        if "BUSYGROUP" not in str(exc):
            raise


async def _handle(ctx: dict[str, Any], entries: list[tuple[bytes, dict[bytes, bytes]]]) -> None:
    for entry_id, fields in entries:
        await dispatch(ctx, entry_id.decode(), {k.decode(): v.decode() for k, v in fields.items()})
        async with ctx["redis"].pipeline(transaction=True) as pipe:
            pipe.xack(OUTBOX_KEY, GROUP, entry_id)
            pipe.xdel(OUTBOX_KEY, entry_id)
            await pipe.execute()


async def dispatch(ctx: dict[str, Any], entry_id: str, fields: dict[str, str]) -> list[str]:
    """One outbox event to a delivery and a job per subscribed endpoint; the delivery ids."""
    redis, settings = ctx["redis"], ctx["settings"]
    kind = fields.get("type", "")
    subscribed = [e for e in await webhooks.endpoints(redis) if e["status"] == "enabled" and kind in e["events"]]
    data = await _data(ctx, fields) if subscribed else None
    if data is None:
        return []
    body = jsonio.dumpb({"type": kind, "timestamp": fields["at"], "data": data})
    ids = []
    for endpoint in subscribed:
        new = webhooks.NewDelivery(id=delivery_id(entry_id, endpoint["id"]), endpoint_id=endpoint["id"], type=kind,
                                   body=body, created_at=fields["at"], created_ms=int(entry_id.split("-")[0]))
        if await webhooks.create_delivery(redis, new, ttl=settings.retention_seconds) in ("new", "pending"):
            await redis.enqueue_job(DELIVER_WEBHOOK_JOB, new.id, _job_id=new.id, _queue_name=WEBHOOK_QUEUE_NAME,
                                    _defer_by=settings.webhook_retry_seconds[0] or None, _expires=timedelta(days=3))
        ids.append(new.id)
    return ids


def delivery_id(entry_id: str, endpoint_id: str) -> str:
    digest = hashlib.sha256(f"{entry_id}|{endpoint_id}".encode()).digest()
    return "msg_" + base64.b32encode(digest).decode()[:26].lower()


async def _data(ctx: dict[str, Any], fields: dict[str, str]) -> dict[str, Any] | None:
    if fields.get("type") == "recipient.unsubscribed":
        return {"email": fields.get("email"), "category": fields.get("category")}
    record = await ctx["store"].get(fields.get("id", ""))
    if record is None:
        log.info("outbox event %s for %s: the notification is gone, nothing to send", fields.get("type"),
                 fields.get("id"))
        return None
    return {"notification": NotificationOut.from_record(record).model_dump(mode="json")}
