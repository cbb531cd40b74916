"""Notification records in Redis: the source of truth the queue is driven from.

A record is a hash `herald:n:{id}` with its attempts in the list `herald:a:{id}`.
Every notification that still owes a delivery is in the sorted set `herald:pending`, scored by
the time it is due, so the worker's sweeper can find any that lost their job. History indexes
are sorted sets scored by creation time. Every change goes through a Lua script in `lua/`, so
that a cancel and a send, or a send and an unsubscribe, can never both win.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from redis.asyncio import Redis

from service import jsonio
from service.coalesce import Coalescer
from service.keys import (
    AUDIT_KEY, INDEX_ALL, PENDING_KEY, STATS_KEY, SUPPRESSED_KEY, attempts_key, digest_buffer, digest_due, events_key,
    message_id_key, prefs_key, recipient_index, record_key, template_index,
)
from service.templates import ALWAYS_SENT
from service.verp import message_id_hex
from service.claims import Claim, claimed as _claimed

if TYPE_CHECKING:  # asyncpg is imported only where DATABASE_URL is set
    from service.archive.pg import Archive

TERMINAL = frozenset({"sent", "failed", "cancelled", "suppressed", "digested", "bounced", "complained"})
ACTIVE = frozenset({"scheduled", "queued", "sending", "retrying"})
_LUA = Path(__file__).parent / "lua"


@dataclass(frozen=True)
class NewJob:
    """An ARQ job written in the same script as its record (see service.queue.deliver_job)."""

    notification_id: str
    key: str
    result_key: str
    queue: str
    payload: bytes
    score_ms: int
    expires_ms: int


@dataclass(frozen=True)
class Created:
    created: bool
    existing_fingerprint: str | None = None
    refusal: str | None = None  # "suppressed" or "opted_out": written as `suppressed`, not queued


@dataclass(frozen=True)
class NewRecord:
    record: Mapping[str, Any]
    ttl: int
    due_ms: int | None
    job: NewJob | None = None
    category_checked: str | None = None  # the category whose opt-out applies, None if always sent
    digest: str | None = None  # "daily" / "weekly": fold into the recipient's digest, no job
    audit: str | None = None
    audit_min_id: str = "0"
    siblings: tuple[NewRecord, ...] = ()  # the other channels' deliveries, written before this one


def _flatten(fields: Mapping[str, Any]) -> list[str]:
    flat: list[str] = []
    for name, value in fields.items():
        flat += [name, _encode(value)]
    return flat


def _encode(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if type(value) is int:  # what JSON would write, without a serializer's call; bools stay JSON
        return str(value)
    return jsonio.dumps(value, sort_keys=True)


def _text(value: bytes | str | None) -> str:
    if value is None:
        return ""
    return value.decode() if isinstance(value, bytes) else value


def _load_script(redis: Redis, name: str, **options: Any) -> Coalescer:
    # Every script call goes through a Coalescer: concurrent callers share round trips (the web's
    # accepted notifications, the worker's claims and outcomes, a sweep's requeues).
    common = (_LUA / "common.lua").read_text()
    return Coalescer(redis.register_script(common + "\n" + (_LUA / f"{name}.lua").read_text()), **options)


class Store:
    """Typed access to Herald's own keys; one instance per process, built at start-up."""

    def __init__(self, redis: Redis, *, retention_seconds: int, archive: Archive | None = None,
                 wait_replicas: int = 0, wait_timeout_ms: int = 1000) -> None:
        """`wait_replicas`: a create succeeds only once that many replicas have it, and `confirm`
        waits for them (coalesce.NotReplicated when they do not answer within `wait_timeout_ms`)."""
        self.redis = redis
        self.retention = retention_seconds
        self.archive = archive  # finished records moved to PostgreSQL (service.archive), if any
        self._create = _load_script(redis, "create", wait_replicas=wait_replicas, wait_timeout_ms=wait_timeout_ms)
        self._fence = _load_script(redis, "fence", wait_replicas=wait_replicas, wait_timeout_ms=wait_timeout_ms)
        self.wait_replicas = wait_replicas
        self._transition = _load_script(redis, "transition")
        self._claim = _load_script(redis, "claim")
        self._requeue = _load_script(redis, "requeue")
        self._reschedule = _load_script(redis, "reschedule")
        self._digest_taken = _load_script(redis, "digest_taken")
        self._enqueue = _load_script(redis, "enqueue")
        self.archived = _load_script(redis, "archived")
        self.restore = _load_script(redis, "restore")

    async def create(self, new: NewRecord) -> Created:
        """Write a new record (and its job) unless its id is taken: one round trip, shared with
        the other creates of the same turn of the loop."""
        return _created(await self._create(*self._create_call(new)))

    async def create_many(self, items: Sequence[NewRecord]) -> list[Created]:
        """Many creates in one round trip (with those of other requests in the same turn)."""
        return [_created(reply) for reply in await _each(self._create, map(self._create_call, items))]

    def _create_call(self, new: NewRecord) -> tuple[list[str], list[Any]]:
        record = new.record
        # The recipient's key (service.accept): the address, or for a profile without one its id.
        who = record["to_email"]
        job = new.job
        keys = [
            record_key(record["id"]), PENDING_KEY, SUPPRESSED_KEY, prefs_key(who) if who else "",
            job.key if job else "", job.result_key if job else "", job.queue if job else "",
            AUDIT_KEY, INDEX_ALL, recipient_index(who) if who else "", template_index(record["template"]),
            digest_buffer(new.digest, who) if new.digest else "",
            digest_due(new.digest) if new.digest else "",
            message_id_key(mid) if (mid := message_id_hex(record.get("message_id"))) else "",
            record_key(record["notification"]) if record.get("notification", record["id"]) != record["id"] else "",
        ]
        argv = [
            new.ttl, "" if new.due_ms is None else new.due_ms, who,
            new.category_checked or "", job.payload if job else "", job.score_ms if job else 0,
            job.expires_ms if job else 0, new.audit or "", new.audit_min_id, record["created_ms"],
            new.ttl, jsonio.dumps(_flatten({"id": record["id"], **record})),
            # At least as long as the record: it lives `ttl`, then `retention` once finished.
            new.ttl + self.retention, record.get("channel", "email"),
        ]
        return keys, argv

    async def transition(
        self,
        notification_id: str,
        *,
        allowed: Iterable[str] | None,
        fields: Mapping[str, Any] | None = None,
        pending: int | None | str = "",
        attempt: Mapping[str, Any] | None = None,
        ttl: int | None = None,
        counts: Mapping[str, float] | None = None,
    ) -> tuple[bool, str | None]:
        """Apply `fields` only if the status is one of `allowed` (any when None).

        `pending`: a due time in ms re-scores the pending entry, None removes it, "" leaves it.
        `counts`: figures to add to the delivery stats that /metrics reads (service.metrics).
        Returns (applied, status before the change, or None if the record is gone).
        """
        argv = [
            "*" if allowed is None else "," + ",".join(allowed) + ",",
            "-" if pending is None else str(pending),
            "" if ttl is None else ttl,
            "" if attempt is None else _encode(dict(attempt)),
            jsonio.dumps(counts) if counts else "",
            *_flatten(fields or {}),
        ]
        keys = [record_key(notification_id), PENDING_KEY, attempts_key(notification_id), STATS_KEY]
        applied, status = await self._transition(keys, argv)
        return bool(applied), _text(status) or None

    async def confirm(self) -> None:
        """Return once the replicas have every write made so far (REDIS_WAIT_REPLICAS; at once when 0)."""
        if self.wait_replicas:
            await self._fence([], [])

    async def claim(
        self, notification_id: str, *, now_ms: int, early_ms: int, lease_ms: int, mode: str = "take"
    ) -> Claim:
        """Check and take a due notification for sending in one round trip (see lua/claim.lua).

        `early_ms`: how far ahead of now its due time may be (another host's clock) and still count.
        `mode`: "look" writes nothing; "take" leaves a record already `sending` unclaimed, for
        the caller to record the interrupted attempt first; "retake" takes it anyway.
        """
        keys = [record_key(notification_id), PENDING_KEY, SUPPRESSED_KEY]
        always_sent = "," + ",".join(sorted(ALWAYS_SENT)) + ","
        argv = [now_ms, early_ms, lease_ms, self.retention, always_sent, mode]
        return _claimed(await self._claim(keys, argv))

    async def requeue(self, notification_id: str, *, job: NewJob, now_ms: int) -> tuple[str, str | None]:
        """A `failed` notification back to `queued`, with a fresh job under the same id.

        ("requeued", previous status), ("refused", "suppressed"/"opted_out") or ("skipped", status).
        """
        keys, argv = self._requeue_call(notification_id, job, now_ms)
        return _requeued(await self._requeue(keys, argv))

    async def enqueue_many(self, jobs: Sequence[NewJob]) -> list[bool]:
        """Queue each job unless its notification already has one: one round trip for all."""
        calls = (([job.key, job.result_key, job.queue],
                  [job.notification_id, job.payload, job.expires_ms, job.score_ms]) for job in jobs)
        return [bool(written) for written in await _each(self._enqueue, calls)]

    async def requeue_many(self, jobs: Sequence[NewJob], *, now_ms: int) -> list[tuple[str, str | None]]:
        """Many requeues in one round trip; each job names its notification."""
        calls = (self._requeue_call(job.notification_id, job, now_ms) for job in jobs)
        return [_requeued(reply) for reply in await _each(self._requeue, calls)]

    def _requeue_call(self, notification_id: str, job: NewJob, now_ms: int) -> tuple[list[str], list[Any]]:
        keys = [record_key(notification_id), PENDING_KEY, job.key, job.result_key, job.queue, SUPPRESSED_KEY]
        argv = [now_ms, job.payload, job.expires_ms, self.retention, "," + ",".join(sorted(ALWAYS_SENT)) + ","]
        return keys, argv

    async def reschedule(
        self, notification_id: str, *, due_ms: int, send_at: str, ttl: int, job: NewJob, in_progress_key: str
    ) -> tuple[bool, str | None]:
        keys = [record_key(notification_id), PENDING_KEY, job.key, job.queue, in_progress_key]
        argv = [due_ms, send_at, ttl, job.payload, job.expires_ms]
        applied, status = await self._reschedule(keys, argv)
        return bool(applied), _text(status) or None

    async def digest_taken(self, period: str, email: str, digest_id: str, item_ids: Sequence[str]) -> int:
        """Remove a digest's items from the buffer; returns how many items are left for later."""
        keys = [digest_buffer(period, email), digest_due(period)]
        return int(await self._digest_taken(keys, [email.lower(), digest_id, *item_ids]))

    async def get(self, notification_id: str) -> dict[str, Any] | None:
        """From Redis or, once it has moved there, from PostgreSQL."""
        [record] = await self.get_many([notification_id], archived=True)
        return record

    async def get_many(self, ids: Sequence[str], *, attempts: bool = True,
                       archived: bool = False) -> list[dict[str, Any] | None]:
        """`attempts`: with each record's attempts and delivery events (a page of history has none).
        `archived`: look in PostgreSQL for those Redis no longer has."""
        async with self.redis.pipeline(transaction=False) as pipe:
            for notification_id in ids:
                pipe.hgetall(record_key(notification_id))
                if attempts:
                    pipe.lrange(attempts_key(notification_id), 0, -1)
                    pipe.lrange(events_key(notification_id), 0, -1)
            replies = await pipe.execute()
        if not attempts:
            found = [_decode(raw, [], []) for raw in replies]
        else:
            found = [_decode(*replies[i:i + 3]) for i in range(0, len(replies), 3)]
        if archived and self.archive is not None and None in found:
            moved = await self.archive.get_many([i for i, r in zip(ids, found, strict=True) if r is None])
            found = [moved.get(i) if r is None else r for i, r in zip(ids, found, strict=True)]
        return found

    async def live(self, ids: Sequence[str]) -> list[bool]:
        """Whether Redis holds each of these records: one round trip."""
        async with self.redis.pipeline(transaction=False) as pipe:
            for notification_id in ids:
                pipe.exists(record_key(notification_id))
            return [bool(n) for n in await pipe.execute()]

    async def due_pending(self, *, before_ms: int, limit: int = 500) -> list[str]:
        ids = await self.redis.zrangebyscore(PENDING_KEY, "-inf", before_ms, start=0, num=limit)
        return [_text(i) for i in ids]


async def _each(script: Coalescer, calls: Iterable[tuple[Sequence[Any], Sequence[Any]]]) -> list[Any]:
    """Many calls of one script in one round trip (with any others made in the same turn)."""
    return await asyncio.gather(*(script.submit(keys, args) for keys, args in calls))


def _requeued(reply: list[Any]) -> tuple[str, str | None]:
    code, detail = reply
    return {1: "requeued", 2: "refused"}.get(int(code), "skipped"), _text(detail) or None


def _created(reply: list[Any]) -> Created:
    created, fingerprint, why = reply
    return Created(bool(created), None if created else _text(fingerprint), _text(why) or None)


def _decode(raw: dict[bytes, bytes], attempts: list[bytes], events: list[bytes]) -> dict[str, Any] | None:
    if not raw:
        return None
    record: dict[str, Any] = {_text(k): _text(v) for k, v in raw.items()}
    record["attempts"] = [jsonio.loads(a) for a in attempts]
    record["events"] = [jsonio.loads(e) for e in events]
    return record
