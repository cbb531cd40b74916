"""Notification records in Redis: the source of truth the queue is driven from.

A record is a hash `herald:n:{id}` with its attempts in the list `herald:n:{id}:attempts`.
Every notification that still owes a delivery is in the sorted set `herald:pending`, scored by
the time it is due, so the worker's sweeper can find any that lost their job. Status changes go
through one Lua script so that a cancel and a send can never both win.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from collections.abc import Iterable, Mapping
from typing import Any

from redis.asyncio import Redis

PREFIX = "herald:"
PENDING_KEY = PREFIX + "pending"
SUPPRESSED_KEY = PREFIX + "suppressed"

TERMINAL = frozenset({"sent", "failed", "cancelled", "suppressed", "digested"})
ACTIVE = frozenset({"scheduled", "queued", "sending", "retrying"})

# ARGV: ttl, due ms ("" for none), recipient email ("" to skip the suppression check), fields.
# A suppressed recipient's record is written as `suppressed`, with no pending entry.
_CREATE = """
if redis.call('EXISTS', KEYS[1]) == 1 then
  return {0, redis.call('HGET', KEYS[1], 'fingerprint') or '', ''}
end
redis.call('HSET', KEYS[1], unpack(ARGV, 4))
redis.call('EXPIRE', KEYS[1], ARGV[1])
local suppression = false
if ARGV[3] ~= '' then suppression = redis.call('HGET', KEYS[3], ARGV[3]) end
if suppression then
  redis.call('HSET', KEYS[1], 'status', 'suppressed', 'error', 'recipient is suppressed')
elseif ARGV[2] ~= '' then
  redis.call('ZADD', KEYS[2], ARGV[2], redis.call('HGET', KEYS[1], 'id'))
end
return {1, '', suppression or ''}
"""

# ARGV: allowed statuses (",a,b," or "*"), pending score ("" keep, "-" remove, else set),
# ttl seconds ("" keep), attempt JSON ("" none), then field/value pairs.
_TRANSITION = """
local status = redis.call('HGET', KEYS[1], 'status')
if not status then return {0, ''} end
if ARGV[1] ~= '*' and not string.find(ARGV[1], ',' .. status .. ',', 1, true) then
  return {0, status}
end
local id = redis.call('HGET', KEYS[1], 'id')
if #ARGV > 4 then redis.call('HSET', KEYS[1], unpack(ARGV, 5)) end
if ARGV[2] == '-' then redis.call('ZREM', KEYS[2], id)
elseif ARGV[2] ~= '' then redis.call('ZADD', KEYS[2], ARGV[2], id) end
if ARGV[3] ~= '' then redis.call('EXPIRE', KEYS[1], ARGV[3]) end
if ARGV[4] ~= '' then
  redis.call('RPUSH', KEYS[3], ARGV[4])
  redis.call('HINCRBY', KEYS[1], 'attempt_count', 1)
end
local ttl = redis.call('PTTL', KEYS[1])
if ttl > 0 then redis.call('PEXPIRE', KEYS[3], ttl) else redis.call('PERSIST', KEYS[3]) end
return {1, status}
"""


@dataclass(frozen=True)
class Created:
    created: bool
    existing_fingerprint: str | None
    suppression: dict[str, Any] | None


def record_key(notification_id: str) -> str:
    return f"{PREFIX}n:{notification_id}"


def attempts_key(notification_id: str) -> str:
    return f"{PREFIX}n:{notification_id}:attempts"


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
    return json.dumps(value, separators=(",", ":"), sort_keys=True)


class Store:
    """Typed access to Herald's own keys; one instance per process, built at start-up."""

    def __init__(self, redis: Redis, *, retention_seconds: int) -> None:
        self.redis = redis
        self.retention = retention_seconds
        self._create = redis.register_script(_CREATE)
        self._transition = redis.register_script(_TRANSITION)

    async def create(
        self, record: Mapping[str, Any], *, ttl: int, due_ms: int | None, recipient: str | None = None
    ) -> Created:
        """Write a new record unless its id is taken, in one round trip.

        With `recipient`, a suppressed address gets a `suppressed` record and no pending entry.
        """
        fields = {"id": record["id"], **record}
        argv = [ttl, "" if due_ms is None else due_ms, (recipient or "").lower(), *_flatten(fields)]
        keys = [record_key(record["id"]), PENDING_KEY, SUPPRESSED_KEY]
        created, fingerprint, suppression = await self._create(keys=keys, args=argv)
        return Created(
            created=bool(created),
            existing_fingerprint=None if created else _text(fingerprint),
            suppression=json.loads(suppression) if suppression else None,
        )

    async def transition(
        self,
        notification_id: str,
        *,
        allowed: Iterable[str] | None,
        fields: Mapping[str, Any] | None = None,
        pending: int | None | str = "",
        attempt: Mapping[str, Any] | None = None,
        ttl: int | None = None,
    ) -> tuple[bool, str | None]:
        """Apply `fields` only if the status is one of `allowed` (any when None).

        `pending`: a due time in ms re-scores the pending entry, None removes it, "" leaves it.
        Returns (applied, status before the change, or None if the record is gone).
        """
        allowed_arg = "*" if allowed is None else "," + ",".join(allowed) + ","
        pending_arg = "-" if pending is None else str(pending)
        argv = [
            allowed_arg,
            pending_arg,
            "" if ttl is None else ttl,
            "" if attempt is None else _encode(dict(attempt)),
            *_flatten(fields or {}),
        ]
        keys = [record_key(notification_id), PENDING_KEY, attempts_key(notification_id)]
        applied, status = await self._transition(keys=keys, args=argv)
        return bool(applied), _text(status) or None

    async def get(self, notification_id: str) -> dict[str, Any] | None:
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.hgetall(record_key(notification_id))
            pipe.lrange(attempts_key(notification_id), 0, -1)
            raw, attempts = await pipe.execute()
        if not raw:
            return None
        record = {_text(k): _text(v) for k, v in raw.items()}
        record["attempts"] = [json.loads(a) for a in attempts]
        return record

    async def due_pending(self, *, before_ms: int, limit: int = 500) -> list[str]:
        ids = await self.redis.zrangebyscore(PENDING_KEY, "-inf", before_ms, start=0, num=limit)
        return [_text(i) for i in ids]

    async def suppression(self, email: str) -> dict[str, Any] | None:
        raw = await self.redis.hget(SUPPRESSED_KEY, email.lower())
        return json.loads(raw) if raw else None

    async def suppress(self, email: str, *, reason: str, at: str) -> None:
        await self.redis.hset(SUPPRESSED_KEY, email.lower(), _encode({"reason": reason, "at": at}))


def _text(value: bytes | str | None) -> str:
    if value is None:
        return ""
    return value.decode() if isinstance(value, bytes) else value
