"""The ARQ worker's settings: clients are built once at start-up and handed to jobs through ctx."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import replace
from email.utils import parseaddr
from datetime import UTC
from typing import Any

import arq.worker
import httpx
from arq import cron
from arq.connections import ArqRedis, RedisSettings
from redis.asyncio.retry import Retry as RedisRetry
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from arq.worker import func

from jobs import starter, webhook_dispatch
from jobs.deliver import deliver
from jobs.digest import daily_digests, flush_digests, weekly_digests
from jobs.mailer import Mailer
from jobs.smtp import SmtpConfig
from jobs.archive import archive_finished, drop_expired_history
from jobs.prune import prune_indexes
from jobs.sweeper import sweep
from jobs.throttle import SendThrottle
from service import heap, logs
from service.channels import http_secret as channel_secret
from service.accept import Context
from service.archive import mark_archiving, open_archive
from service.redis_conn import connection_pool, is_sentinel, parse_sentinel
from service.queue import BULK_QUEUE_NAME, DELIVER_JOB, FLUSH_DIGESTS_JOB, QUEUE_NAME, job_deserializer, job_serializer
from service.settings import Settings, load_settings
from service.store import Store
from service.templates import load_catalog

log = logging.getLogger("herald.worker")

REDIS_RETRIES = 60
# The platform gives 30 s between SIGTERM and SIGKILL: finish in-flight sends within it.
SHUTDOWN_GRACE_SECONDS = 25


async def startup(ctx: dict[str, Any]) -> None:
    settings: Settings = ctx["settings"]
    ctx["catalog"] = load_catalog(settings.templates_dir)
    ctx["archive"] = await open_archive(settings, max_size=2, wait=False)
    ctx["archive_after_seconds"] = settings.archive_after_seconds
    if ctx["archive"] is not None:
        await mark_archiving(ctx["redis"])
    ctx["store"] = Store(ctx["redis"], retention_seconds=settings.retention_seconds, archive=ctx["archive"],
                         wait_replicas=settings.redis_wait_replicas, wait_timeout_ms=settings.redis_wait_timeout_ms)
    # An attempt ends well within the SIGTERM grace, so a deploy never cuts a send in half.
    deadline = min(settings.job_timeout_seconds - 1, SHUTDOWN_GRACE_SECONDS - 5)
    smtp = SmtpConfig.from_url(
        settings.smtp_url, timeout=settings.smtp_timeout_seconds, deadline=deadline,
        cert_bundle=str(settings.smtp_ca_file) if settings.smtp_ca_file else None,
    )
    # As many idle connections as concurrent sends: a smaller pool reconnects on every burst.
    ctx["mailer"] = Mailer(smtp, max_idle_connections=settings.worker_max_jobs)
    ctx["envelope_from"] = parseaddr(settings.mail_from)[1]
    # The slack and http channels' client: no redirects (a 3xx is the receiver's answer, not a hop).
    ctx["channel_http"] = httpx.AsyncClient(timeout=settings.channel_timeout_seconds, follow_redirects=False,
                                            headers={"user-agent": "Herald/1"})
    ctx["http_channel_secret"] = channel_secret(settings)
    ctx["throttle"] = None
    # Waiting for the send rate must leave room for the send itself, within the job's timeout and
    # within the SIGTERM grace: beyond that, the job goes back to the queue.
    ctx["throttle_wait_seconds"] = max(0.0, min(10.0, settings.job_timeout_seconds - 1 - deadline,
                                                SHUTDOWN_GRACE_SECONDS - 1 - deadline))
    if settings.send_rate_per_second:
        ctx["throttle"] = SendThrottle(ctx["redis"], rate=settings.send_rate_per_second)
    ctx["lease_seconds"] = settings.job_timeout_seconds + 60
    ctx["sweep_grace_seconds"] = settings.sweep_grace_seconds
    ctx["accept_context"] = Context.from_settings(settings, ctx["catalog"], actor="herald")
    # ARQ logs two lines per job; Herald's own `notification.*` line says more, in one.
    logging.getLogger("arq.worker").setLevel(logging.DEBUG if settings.log_level == "DEBUG" else logging.WARNING)
    log.info("herald worker ready: %d templates, SMTP %s:%d", len(ctx["catalog"].templates),
             smtp.hostname, smtp.port)
    if ctx["spare_queue"] is not None:  # the default lane's workers hand out and send webhooks
        await webhook_dispatch.start(ctx, redis=redis_options(settings))
    if ctx["settle_heap"]:
        heap.settle()


async def shutdown(ctx: dict[str, Any]) -> None:
    await webhook_dispatch.stop(ctx)
    if "mailer" in ctx:
        await ctx["mailer"].close()
    if "channel_http" in ctx:
        await ctx["channel_http"].aclose()
    if ctx.get("archive") is not None:
        await ctx["archive"].close()


_RETRIES: dict[str, Any] = {
    "retry_on_timeout": True,
    "retry_on_error": [RedisConnectionError, RedisTimeoutError, ConnectionError],
    "retry": RedisRetry(ExponentialBackoff(cap=2.0, base=0.05), retries=REDIS_RETRIES),
}


def _redis_settings(url: str) -> RedisSettings:
    """The worker rides out a Redis restart: every command is retried with backoff for about
    two minutes (ARQ's own loop would otherwise die on the first refused connection)."""
    if is_sentinel(url):  # for `arq --check`; the worker itself gets `redis_options`' pool
        target = parse_sentinel(url)
        return RedisSettings(host=list(target.sentinels), sentinel=True, sentinel_master=target.master,
                             database=target.db, username=target.username, password=target.password)
    return replace(RedisSettings.from_dsn(url), conn_timeout=2, conn_retries=60, conn_retry_delay=2, **_RETRIES)


def redis_options(settings: Settings) -> dict[str, Any]:
    """How an arq.Worker reaches Redis. Through Sentinel, with a pool of Herald's own: ARQ's
    would neither retry nor time out (it passes none of RedisSettings' options to Sentinel)."""
    options: dict[str, Any] = {"redis_settings": _redis_settings(settings.redis_url)}
    if is_sentinel(settings.redis_url):
        pool = connection_pool(settings.redis_url, max_connections=max(64, settings.worker_max_jobs * 2 + 16),
                               timeout=10, socket_connect_timeout=2, socket_timeout=10, **_RETRIES)
        options["redis_pool"] = ArqRedis(pool, job_serializer=job_serializer, job_deserializer=job_deserializer)
    return options


def worker_settings(settings: Settings, *, bulk: bool = False, settle_heap: bool = False,
                    **overrides: Any) -> dict[str, Any]:
    """Keyword arguments for `arq.Worker`; tests build workers from this with their own settings.

    `bulk`: serve only the bulk lane's queue. Without it the worker serves the default lane and,
    with the slots that lane leaves free, the bulk lane too (jobs.starter), so that one worker
    delivers everything and bulk workers add capacity. The periodic jobs run on the default
    lane's workers only.
    `settle_heap`: the process runs only this worker, so start-up ends with `heap.settle()`.
    """
    # A job runs at most job_timeout; a SIGKILLed worker's jobs are picked up again after it + 10 s.
    options: dict[str, Any] = {
        "functions": [
            func(deliver, name=DELIVER_JOB, timeout=settings.job_timeout_seconds),
            func(flush_digests, name=FLUSH_DIGESTS_JOB, timeout=settings.job_timeout_seconds, max_tries=3),
        ],
        "queue_name": BULK_QUEUE_NAME if bulk else QUEUE_NAME,
        "cron_jobs": [] if bulk else _cron_jobs(settings),
        "timezone": UTC,
        "ctx": {"settings": settings, "settle_heap": settle_heap, "spare_queue": None if bulk else BULK_QUEUE_NAME},
        "on_startup": startup,
        "on_shutdown": shutdown,
        "job_serializer": job_serializer,
        "job_deserializer": job_deserializer,
        "max_jobs": settings.worker_max_jobs,
        # Running jobs stay in the queue until they finish, so a read of only max_jobs ids would
        # mostly see those: read past them to the jobs that can start when a slot frees.
        "queue_read_limit": settings.worker_max_jobs * 4,
        "job_timeout": settings.job_timeout_seconds,
        "keep_result": 0,
        # Herald counts tries on its own records; ARQ's limit is only a backstop, set high because
        # a send-rate limit defers jobs of a deep queue many times without trying them.
        "max_tries": settings.max_tries * 2 + 1000,
        "job_completion_wait": SHUTDOWN_GRACE_SECONDS,
        "health_check_interval": 10,
        "poll_delay": settings.worker_poll_seconds,
    }
    return options | redis_options(settings) | overrides


def _cron_jobs(settings: Settings) -> list[Any]:
    return _archive_jobs(settings) + [
        cron(sweep, second={0, 30}, run_at_startup=True, unique=True, timeout=settings.job_timeout_seconds),
        # Every job's timeout counts: ARQ locks a killed worker's jobs for the longest one + 10 s.
        cron(prune_indexes, minute=set(range(0, 60, 10)), second=15, unique=True,
             timeout=settings.job_timeout_seconds),
        cron(daily_digests, hour=settings.digest_hour, minute=0, second=0, unique=True,
             timeout=settings.job_timeout_seconds),
        cron(weekly_digests, weekday=settings.digest_weekday, hour=settings.digest_hour, minute=0, second=0,
             unique=True, timeout=settings.job_timeout_seconds),
    ]


def _archive_jobs(settings: Settings) -> list[Any]:
    """The move to PostgreSQL every ten seconds, and its retention daily; with DATABASE_URL only."""
    if not settings.database_url:
        return []
    return [
        cron(archive_finished, second=set(range(0, 60, 10)), unique=True, timeout=settings.job_timeout_seconds),
        cron(drop_expired_history, hour=3, minute=30, second=0, run_at_startup=True, unique=True,
             timeout=settings.job_timeout_seconds),
    ]


def from_environment(*, bulk: bool = False) -> dict[str, Any]:
    settings = load_settings()
    logs.configure(settings.log_level, settings.log_format)
    _use_uvloop()
    _use_batched_starts()
    return worker_settings(settings, bulk=bulk, settle_heap=True)


def _use_batched_starts() -> None:
    """`arq jobs.WorkerSettings` (the contract's Procfile line) always builds `arq.worker.Worker`,
    and a settings object cannot name another class: point that name at Herald's subclass
    before ARQ's command line builds the worker from these settings."""
    arq.worker.Worker = starter.Worker  # type: ignore[misc]


def _use_uvloop() -> None:
    """ARQ makes its event loop from the current policy after reading WorkerSettings; uvloop's
    cuts the worker's CPU per job (installed with uvicorn[standard], optional elsewhere)."""
    try:
        import uvloop
    except ImportError:
        return
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
