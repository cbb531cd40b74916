"""Dead letters: failed notifications, put back in the queue one by one or by filter."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from service.archive import moves
from service.queue import deliver_job
from service.keys import recipient_email, status_index
from service.store import NewJob, Store

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
            and (self.to is None or recipient_email(record) == self.to.lower())
            and (self.failed_since_ms is None or failed_ms >= self.failed_since_ms)
            and (self.failed_until_ms is None or failed_ms <= self.failed_until_ms)
        )


def _job(notification_id: str, now_ms: int, store: Store) -> NewJob:
    return deliver_job(notification_id, score_ms=now_ms, expires_ms=store.retention * 1000, now_ms=now_ms)


async def requeue(store: Store, notification_id: str, *, now_ms: int) -> tuple[str, str | None]:
    await moves.restore(store, [notification_id])  # one moved to PostgreSQL comes back first
    return await store.requeue(notification_id, job=_job(notification_id, now_ms, store), now_ms=now_ms)


async def requeue_ids(store: Store, ids: list[str], *, now_ms: int) -> list[str]:
    """The given notifications that are failed, back in the queue in one pipeline; the ids requeued."""
    jobs = [_job(nid, now_ms, store) for nid in ids]
    verdicts = await store.requeue_many(jobs, now_ms=now_ms) if jobs else []
    return [job.notification_id for job, (verdict, _) in zip(jobs, verdicts, strict=True) if verdict == "requeued"]


async def requeue_matching(store: Store, wanted: Filter, *, now_ms: int) -> list[str]:
    """Every failed notification that matches, up to the filter's limit; the ids requeued.

    Each chunk of 500 costs two round trips: one pipelined read, one pipelined requeue."""
    requeued: list[str] = []
    ids = [i.decode() for i in await store.redis.zrevrange(status_index("failed"), 0, MAX_SCANNED - 1)]
    for start in range(0, len(ids), 500):
        records = await store.get_many(ids[start:start + 500], attempts=False)
        matching = [r["id"] for r in records if r is not None and r["status"] == "failed" and wanted.matches(r)]
        while matching and len(requeued) < wanted.limit:  # more than once only if some were refused
            chunk = matching[:wanted.limit - len(requeued)]
            matching = matching[len(chunk):]
            requeued += await requeue_ids(store, chunk, now_ms=now_ms)
        if len(requeued) >= wanted.limit:
            break
    if store.archive is not None and len(requeued) < wanted.limit:
        requeued += await _requeue_archived(store, wanted, now_ms=now_ms, room=wanted.limit - len(requeued))
    return requeued


async def _requeue_archived(store: Store, wanted: Filter, *, now_ms: int, room: int) -> list[str]:
    """The dead letters already moved to PostgreSQL: brought back to Redis, then requeued."""
    assert store.archive is not None
    where = {"status": "failed", "template": wanted.template, "recipient": wanted.to.lower() if wanted.to else None}
    requeued: list[str] = []
    before: tuple[int, str] | None = None
    for _ in range(MAX_SCANNED // 500):
        rows = await store.archive.search(where, before=before, limit=500, attempts=False)
        matching = [r["id"] for r in rows if wanted.matches(r)][:room - len(requeued)]
        requeued += await requeue_ids(store, await moves.restore(store, matching), now_ms=now_ms)
        if len(rows) < 500 or len(requeued) >= room:
            break
        before = (int(rows[-1]["created_ms"]), rows[-1]["id"])
    return requeued
