"""Outgoing webhooks in Redis: the registered endpoints and each delivery with its attempts.

An endpoint is one field of the hash `herald:webhooks` (its JSON, secret included, since every
delivery is signed with it). A delivery is a hash `herald:whd:{id}` holding the exact body sent
(a retry and a replay send the same bytes under the same `webhook-id`), its attempts a list
`herald:wha:{id}`, and each endpoint's deliveries a sorted set by creation time. Deliveries are
kept RETENTION_SECONDS.
"""

from __future__ import annotations

import base64
import os
from dataclasses import dataclass
from typing import Any

from arq.connections import ArqRedis
from redis.asyncio import Redis

from service import jsonio
from service.ids import new_id
from service.keys import PREFIX, WEBHOOKS_KEY

# The job that makes one attempt (jobs.webhooks), on a queue of its own that a worker of its own
# serves (jobs.webhook_dispatch): a slow receiver holds webhook slots, never an email's.
DELIVER_WEBHOOK_JOB = "deliver_webhook"
WEBHOOK_QUEUE_NAME = "arq:webhooks"
ENDPOINT_STATUSES = ("enabled", "disabled")
DELIVERY_STATUSES = ("pending", "succeeded", "failed", "cancelled")


def delivery_key(delivery_id: str) -> str:
    return f"{PREFIX}whd:{delivery_id}"


def attempts_key(delivery_id: str) -> str:
    return f"{PREFIX}wha:{delivery_id}"


def endpoint_index(endpoint_id: str) -> str:
    return f"{PREFIX}whd-idx:{endpoint_id}"


def new_secret() -> str:
    return "whsec_" + base64.b64encode(os.urandom(24)).decode()


def public(endpoint: dict[str, Any]) -> dict[str, Any]:
    """An endpoint as the API lists it: everything but the secret."""
    return {k: v for k, v in endpoint.items() if k != "secret"}


async def create_endpoint(redis: Redis, *, url: str, events: list[str], description: str | None,
                          at: str) -> dict[str, Any]:
    endpoint = {"id": "wh_" + new_id(), "url": url, "events": events, "description": description,
                "status": "enabled", "disabled_reason": None, "created_at": at, "secret": new_secret()}
    await redis.hset(WEBHOOKS_KEY, endpoint["id"], jsonio.dumps(endpoint))
    return endpoint


async def endpoints(redis: Redis) -> list[dict[str, Any]]:
    raw = await redis.hvals(WEBHOOKS_KEY)
    return sorted((jsonio.loads(v) for v in raw), key=lambda e: (e["created_at"], e["id"]))


async def endpoint(redis: Redis, endpoint_id: str) -> dict[str, Any] | None:
    raw = await redis.hget(WEBHOOKS_KEY, endpoint_id)
    return jsonio.loads(raw) if raw else None


async def set_status(redis: Redis, endpoint_id: str, status: str, *, reason: str | None = None) -> bool:
    current = await endpoint(redis, endpoint_id)
    if current is None:
        return False
    current |= {"status": status, "disabled_reason": reason if status == "disabled" else None}
    await redis.hset(WEBHOOKS_KEY, endpoint_id, jsonio.dumps(current))
    return True


async def delete_endpoint(redis: Redis, endpoint_id: str) -> bool:
    return bool(await redis.hdel(WEBHOOKS_KEY, endpoint_id))


@dataclass(frozen=True)
class NewDelivery:
    id: str
    endpoint_id: str
    type: str
    body: bytes
    created_at: str
    created_ms: int


_CREATE = """
local status = redis.call('HGET', KEYS[1], 'status')
if status then return status end
redis.call('HSET', KEYS[1], 'id', ARGV[1], 'endpoint', ARGV[2], 'type', ARGV[3], 'body', ARGV[4],
           'status', 'pending', 'created_at', ARGV[5], 'next_attempt_at', ARGV[5])
redis.call('EXPIRE', KEYS[1], ARGV[7])
redis.call('ZADD', KEYS[2], ARGV[6], ARGV[1])
redis.call('EXPIRE', KEYS[2], ARGV[7])
return 'new'
"""


async def create_delivery(redis: Redis, new: NewDelivery, *, ttl: int) -> str:
    """Write a delivery unless it exists: "new", or the status of the one already there."""
    status = await redis.eval(_CREATE, 2, delivery_key(new.id), endpoint_index(new.endpoint_id), new.id,
                              new.endpoint_id, new.type, new.body, new.created_at, new.created_ms, ttl)
    return status.decode() if isinstance(status, bytes) else status


async def delivery(redis: Redis, delivery_id: str, *, with_body: bool = False) -> dict[str, Any] | None:
    [found] = await deliveries(redis, [delivery_id], with_body=with_body)
    return found


async def deliveries(redis: Redis, ids: list[str], *, with_body: bool = False) -> list[dict[str, Any] | None]:
    async with redis.pipeline(transaction=False) as pipe:
        for delivery_id in ids:
            pipe.hgetall(delivery_key(delivery_id))
            pipe.lrange(attempts_key(delivery_id), 0, -1)
        replies = await pipe.execute()
    return [_delivery(raw, attempts, with_body) for raw, attempts in zip(replies[::2], replies[1::2], strict=True)]


def _delivery(raw: dict[bytes, bytes], attempts: list[bytes], with_body: bool) -> dict[str, Any] | None:
    if b"endpoint" not in raw:
        return None
    fields = {k.decode(): v for k, v in raw.items()}
    found: dict[str, Any] = {name: fields[name].decode() for name in
                             ("id", "endpoint", "type", "status", "created_at") if name in fields}
    found["next_attempt_at"] = fields.get("next_attempt_at", b"").decode() or None
    found["round_start"] = int(fields.get("round_start", b"0"))  # attempts made before the last replay
    found["attempts"] = [jsonio.loads(a) for a in attempts]
    if with_body:
        found["body"] = fields["body"]
    return found


async def page(redis: Redis, endpoint_id: str, *, before_ms: int | None, limit: int,
               status: str | None = None) -> tuple[list[dict[str, Any]], int | None]:
    """An endpoint's deliveries, newest first; the cursor is the last one's creation time."""
    high = f"({before_ms}" if before_ms is not None else "+inf"
    found: list[dict[str, Any]] = []
    while len(found) < limit:
        ids = await redis.zrevrangebyscore(endpoint_index(endpoint_id), high, "-inf", start=0, num=limit * 2,
                                           withscores=True)
        if not ids:
            return found, None
        for (delivery_id, score), item in zip(ids, await deliveries(redis, [i.decode() for i, _ in ids]), strict=True):
            high = f"({int(score)}"
            if item is not None and status in (None, item["status"]):
                found.append(item)
            if len(found) == limit:
                return found, int(score)
    return found, None


async def record_attempt(redis: Redis, delivery_id: str, attempt: dict[str, Any], *, status: str,
                         next_attempt_at: str | None, outcome: str) -> None:
    """One attempt, the delivery's state after it and the count for /metrics, in one transaction."""
    async with redis.pipeline(transaction=True) as pipe:
        pipe.rpush(attempts_key(delivery_id), jsonio.dumps(attempt))
        pipe.hset(delivery_key(delivery_id), mapping={"status": status, "next_attempt_at": next_attempt_at or ""})
        pipe.pexpire(attempts_key(delivery_id), max(await redis.pttl(delivery_key(delivery_id)), 1000))
        pipe.hincrby(f"{PREFIX}stats", f"wh|{outcome}", 1)
        await pipe.execute()


async def replay(queue: ArqRedis, found: dict[str, Any]) -> None:
    """Sends a finished delivery again, on the schedule from its start (attempts so far are kept)."""
    await queue.hset(delivery_key(found["id"]), mapping={"status": "pending", "round_start": len(found["attempts"])})
    await queue.enqueue_job(DELIVER_WEBHOOK_JOB, found["id"], _job_id=found["id"], _queue_name=WEBHOOK_QUEUE_NAME)


async def set_delivery_status(redis: Redis, delivery_id: str, status: str) -> None:
    await redis.hset(delivery_key(delivery_id), mapping={"status": status, "next_attempt_at": ""})
