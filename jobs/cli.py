"""`herald`: the operator's command line.

    herald dev                                   the README's run command
    herald send TEMPLATE TO [--context JSON] [--delay S] [--idempotency-key K]
    herald status ID
    herald requeue --status failed [--since 1h] [--template T] [--smtp-code 451] [--limit N]
    herald archive [--after 60s]                 move finished notifications to PostgreSQL now
    herald check                                 configuration, Redis, SMTP, workers; exit 0 when healthy

It reads the same environment as the web and the worker and talks to Redis directly, so it needs
no API key and works while the web is down. It lives with the worker because `check` opens an
SMTP connection with the worker's own client (and `service/` never imports `jobs/`).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import sys
import time
from collections.abc import Sequence
from typing import Any

from pydantic import ValidationError
from redis.exceptions import RedisError

from jobs.archive import archive_finished
from service.accept import Conflict, Context, Rejected, accept
from service.archive import open_archive
from service.deadletters import Filter, requeue_matching
from service.models import NotificationIn, NotificationOut
from service.queue import BULK_WORKER_HEALTH_KEY, WORKER_HEALTH_KEY, open_queue
from service.settings import Settings, load_settings
from service.store import Store
from service.templates import load_catalog

_DURATION = re.compile(r"^(\d+)([smhd])$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "dev":
        from service.dev import main as dev

        return dev()
    settings = load_settings()  # a bad setting ends here, with one line naming it
    try:
        return asyncio.run(_COMMANDS[args.command](settings, args))
    except (RedisError, OSError) as exc:  # OSError: ConnectionError, PostgreSQL's included
        print(f"herald: the store is unavailable: {exc}", file=sys.stderr)
        return 1


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="herald", description="Herald's command line")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("dev", help="run Herald locally with an embedded Redis and a mail catcher")
    send = commands.add_parser("send", help="queue a notification")
    send.add_argument("template")
    send.add_argument("to")
    send.add_argument("--context", default="{}", help="JSON object of template variables")
    send.add_argument("--delay", type=float)
    send.add_argument("--idempotency-key")
    status = commands.add_parser("status", help="a notification, with its attempts")
    status.add_argument("id")
    requeue = commands.add_parser("requeue", help="put dead letters back in the queue")
    requeue.add_argument("--status", choices=["failed"], required=True)
    requeue.add_argument("--since", type=_seconds, help="failed within this long ago: 30m, 1h, 2d")
    requeue.add_argument("--template")
    requeue.add_argument("--smtp-code", type=int)
    requeue.add_argument("--limit", type=int, default=1000)
    archive = commands.add_parser("archive", help="move finished notifications to PostgreSQL now (DATABASE_URL)")
    archive.add_argument("--after", type=_seconds, help="finished at least this long ago (ARCHIVE_AFTER_SECONDS)")
    commands.add_parser("check", help="configuration, Redis, SMTP and workers; exit 1 if anything is wrong")
    return parser


def _seconds(text: str) -> int:
    found = _DURATION.match(text)
    if found is None:
        raise argparse.ArgumentTypeError("a duration such as 90s, 30m, 1h or 2d")
    return int(found.group(1)) * _UNITS[found.group(2)]


async def _with_store(settings: Settings) -> tuple[Any, Store]:
    queue = open_queue(settings, max_connections=4)
    archive = await open_archive(settings, max_size=2)
    return queue, Store(queue, retention_seconds=settings.retention_seconds, archive=archive,
                            wait_replicas=settings.redis_wait_replicas, wait_timeout_ms=settings.redis_wait_timeout_ms)


async def _close(queue: Any, store: Store) -> None:
    await queue.aclose(close_connection_pool=True)
    if store.archive is not None:
        await store.archive.close()


async def _send(settings: Settings, args: argparse.Namespace) -> int:
    try:
        body: dict[str, Any] = {"template": args.template, "to": args.to, "context": json.loads(args.context)}
        if args.delay is not None:
            body["delay"] = args.delay
        if args.idempotency_key:
            body["idempotency_key"] = args.idempotency_key
        request = NotificationIn.model_validate(body)
    except (json.JSONDecodeError, ValidationError) as exc:
        print(f"herald: {_first_error(exc)}", file=sys.stderr)
        return 2
    queue, store = await _with_store(settings)
    try:
        ctx = Context.from_settings(settings, load_catalog(settings.templates_dir), actor="cli")
        result = await accept(request, store, ctx)
        record = await store.get(result.notification_id)
    except (Rejected, Conflict) as exc:
        print(f"herald: {exc}", file=sys.stderr)
        return 2
    finally:
        await _close(queue, store)
    print(json.dumps(_public(record), indent=2))
    return 0


async def _status(settings: Settings, args: argparse.Namespace) -> int:
    queue, store = await _with_store(settings)
    try:
        record = await store.get(args.id)
    finally:
        await _close(queue, store)
    if record is None:
        print(f"herald: no notification {args.id!r}", file=sys.stderr)
        return 1
    print(json.dumps(_public(record), indent=2))
    return 0


async def _requeue(settings: Settings, args: argparse.Namespace) -> int:
    now_ms = int(time.time() * 1000)
    wanted = Filter(smtp_code=args.smtp_code, template=args.template, limit=args.limit,
                    failed_since_ms=None if args.since is None else now_ms - args.since * 1000)
    queue, store = await _with_store(settings)
    try:
        ids = await requeue_matching(store, wanted, now_ms=now_ms)
    finally:
        await _close(queue, store)
    print(f"requeued {len(ids)}" + (f": {', '.join(ids[:20])}{' …' if len(ids) > 20 else ''}" if ids else ""))
    return 0


async def _check(settings: Settings, args: argparse.Namespace) -> int:
    from jobs.smtp import SmtpConfig
    from jobs.mailer import Mailer

    print("config   ok")
    healthy = await _check_postgres(settings)
    queue = open_queue(settings, max_connections=4)
    try:
        await queue.ping()
        workers = await queue.exists(WORKER_HEALTH_KEY)
        bulk = await queue.exists(BULK_WORKER_HEALTH_KEY)
        print(f"redis    ok ({settings.redis_url.rpartition('@')[2]})")
        spare = "ok" if bulk else "none (the worker serves the bulk lane)"
        print(f"worker   {'ok' if workers else 'NO HEARTBEAT'}; bulk worker {spare}")
        healthy = healthy and bool(workers)
    except Exception as exc:  # noqa: BLE001 - reported, and the exit code says so
        print(f"redis    FAILED: {type(exc).__name__}: {exc}")
        healthy = False
    finally:
        await queue.aclose(close_connection_pool=True)
    config = SmtpConfig.from_url(settings.smtp_url, timeout=settings.smtp_timeout_seconds,
                                 cert_bundle=str(settings.smtp_ca_file) if settings.smtp_ca_file else None)
    error = await Mailer(config).check()
    print(f"smtp     {'ok' if error is None else 'FAILED: ' + error} ({config.hostname}:{config.port})")
    return 0 if healthy and error is None else 1


async def _check_postgres(settings: Settings) -> bool:
    if not settings.database_url:
        return True
    try:
        archive = await open_archive(settings, max_size=1)
    except OSError as exc:  # ArchiveUnavailable included
        print(f"postgres FAILED: {exc}")
        return False
    assert archive is not None
    await archive.close()
    print("postgres ok (migrations applied)")
    return True


def _public(record: dict[str, Any] | None) -> dict[str, Any]:
    return NotificationOut.from_record(record).model_dump(mode="json") if record else {}


def _first_error(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        first = exc.errors()[0]
        return f"{'.'.join(str(p) for p in first['loc'])}: {first['msg']}"
    return str(exc)


async def _archive(settings: Settings, args: argparse.Namespace) -> int:
    if not settings.database_url:
        print("DATABASE_URL is not set: history stays in Redis", file=sys.stderr)
        return 2
    queue, store = await _with_store(settings)
    after = settings.archive_after_seconds if args.after is None else args.after
    try:
        moved = await archive_finished({"store": store, "archive": store.archive, "archive_after_seconds": after})
    finally:
        await _close(queue, store)
    print(f"moved {moved}")
    return 0


_COMMANDS = {"send": _send, "status": _status, "requeue": _requeue, "check": _check, "archive": _archive}

if __name__ == "__main__":
    sys.exit(main())
