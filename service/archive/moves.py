"""The Redis half of moving records to PostgreSQL and back (lua/archived.lua, lua/restore.lua).

A record leaves Redis only after PostgreSQL has committed it, and only as it was when it was
read: a record that changed in between stays for the next round. What needs a record in Redis
again (a retry of a dead letter, a late bounce) restores it first, under the same id.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from typing import Any

from service import jsonio
from service.keys import (
    archived_key, attempts_key, events_key, recipient_email, recipient_index, record_key, template_index,
)
from service.store import Store


def keeps_key(record: Mapping[str, Any]) -> bool:
    """Whether a repeat of this record's request can come: an idempotency key or a digest's own id
    (random ids never come twice, so nothing of them needs to stay)."""
    return bool(record.get("fingerprint")) or bool(record.get("digest_items"))


async def drop(store: Store, records: Sequence[Mapping[str, Any]]) -> list[bool]:
    """Remove these records, as read, from Redis; False for each that changed since."""
    return [bool(n) for n in await asyncio.gather(*(store.archived(*_drop_call(store, r)) for r in records))]


def _drop_call(store: Store, record: Mapping[str, Any]) -> tuple[list[str], list[Any]]:
    nid = record["id"]
    fields = [k for k in record if k not in ("attempts", "events")]
    keys = [record_key(nid), attempts_key(nid), events_key(nid), archived_key(nid) if keeps_key(record) else "",
            recipient_index(who) if (who := recipient_email(record)) else "", template_index(record["template"])]
    argv = [record["status"], len(record["attempts"]), len(record["events"]), len(fields), store.retention * 1000]
    return keys, argv


async def restore(store: Store, ids: Sequence[str]) -> list[str]:
    """Bring back into Redis those of these ids that only PostgreSQL has; the ids restored."""
    if store.archive is None or not ids:
        return []
    live = await store.live(ids)
    moved = await store.archive.get_many([i for i, alive in zip(ids, live, strict=True) if not alive])
    calls = [_restore_call(store, r) for r in moved.values()]
    done = await asyncio.gather(*(store.restore(keys, argv) for keys, argv in calls))
    return [nid for nid, ok in zip(moved, done, strict=True) if ok]


def _restore_call(store: Store, record: Mapping[str, Any]) -> tuple[list[str], list[Any]]:
    nid = record["id"]
    flat: list[str] = []
    for name, value in record.items():
        if name not in ("attempts", "events"):
            flat += [name, value]
    keys = [record_key(nid), attempts_key(nid), events_key(nid),
            recipient_index(who) if (who := recipient_email(record)) else "", template_index(record["template"])]
    argv = [jsonio.dumps(flat), jsonio.dumps([jsonio.dumps(a) for a in record["attempts"]]),
            jsonio.dumps([jsonio.dumps(e) for e in record["events"]]), record["created_ms"], store.retention * 1000]
    return keys, argv
