"""Dead letters: failed notifications, put back in the queue one by one or by filter."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from service.queue import deliver_job
from service.store import Store, status_index

MAX_SCANNED = 50_000


@dataclass(frozen=True)
class Filter:
    smtp_code: int | None = None
    template: str | None = None
    to: str | None = None
    failed_since_ms: int | None = None
    failed_until_ms: int | None = None
    limit: int = 1000

    def matches(self, record: dict[str, Any]) -> bool:
        failed_ms = int(record.get("failed_ms") or 0)
        return (
            (self.smtp_code is None or record.get("last_code") == str(self.smtp_code))
            and (self.template is None or record["template"] == self.template)
            and (self.to is None or json.loads(record["to"])["email"].lower() == self.to.lower())
            and (self.failed_since_ms is None or failed_ms >= self.failed_since_ms)
            and (self.failed_until_ms is None or failed_ms <= self.failed_until_ms)
        )


async def requeue(store: Store, notification_id: str, *, now_ms: int) -> tuple[str, str | None]:
    job = deliver_job(notification_id, score_ms=now_ms, expires_ms=store.retention * 1000, now_ms=now_ms)
    return await store.requeue(notification_id, job=job, now_ms=now_ms)


async def requeue_matching(store: Store, wanted: Filter, *, now_ms: int) -> list[str]:
    """Every failed notification that matches, up to the filter's limit; the ids requeued."""
    requeued: list[str] = []
    ids = [i.decode() for i in await store.redis.zrevrange(status_index("failed"), 0, MAX_SCANNED - 1)]
    for start in range(0, len(ids), 500):
        chunk = ids[start:start + 500]
        records = await store.get_many(chunk, attempts=False)
        for record in records:
            if record is None or record["status"] != "failed" or not wanted.matches(record):
                continue
            verdict, _ = await requeue(store, record["id"], now_ms=now_ms)
            if verdict == "requeued":
                requeued.append(record["id"])
                if len(requeued) >= wanted.limit:
                    return requeued
    return requeued
