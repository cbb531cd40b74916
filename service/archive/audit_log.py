"""The audit log's older part in PostgreSQL: entries leave the Redis stream `herald:audit` once
they are older than ARCHIVE_AFTER_SECONDS and PostgreSQL has them.

An entry keeps its stream id (ms-seq) as its key, so a page goes on from the stream into the
table under the same cursor, and an entry written twice (a crash before the trim) is one row.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from redis.asyncio import Redis

from service import jsonio
from service.archive import schema
from service.keys import AUDIT_KEY

if TYPE_CHECKING:
    import asyncpg

    from service.archive.pg import Archive

BATCH = 1000
_INSERT = """
INSERT INTO herald_audit (at_ms, seq, actor, entry)
SELECT m, s, a, e::jsonb FROM unnest($1::bigint[], $2::bigint[], $3::text[], $4::text[]) AS u(m, s, a, e)
ON CONFLICT DO NOTHING
"""


def _split(stream_id: str) -> tuple[int, int]:
    ms, _, seq = stream_id.partition("-")
    return int(ms), int(seq or 0)


async def move(redis: Redis, archive: Archive, conn: asyncpg.Connection, *, before_ms: int) -> int:
    """Move the entries older than `before_ms`, oldest first; how many moved."""
    moved = 0
    while True:
        entries = await redis.xrange(AUDIT_KEY, min="-", max=f"({before_ms}-0", count=BATCH)
        if not entries:
            return moved
        ids = [_split(stream_id.decode()) for stream_id, _ in entries]
        texts = [fields[b"entry"].decode() for _, fields in entries]
        actors = [jsonio.loads(text).get("actor", "") for text in texts]
        async with conn.transaction():
            made = await schema.ensure_partitions(conn, "herald_audit", [ms for ms, _ in ids],
                                                  known=archive.partitions)
            await conn.execute(_INSERT, [ms for ms, _ in ids], [seq for _, seq in ids], actors, texts)
        archive.partitions |= made
        last_ms, last_seq = ids[-1]
        # Exact, not approximate: everything up to the last entry written, and nothing after it.
        await redis.xtrim(AUDIT_KEY, minid=f"{last_ms}-{last_seq + 1}", approximate=False)
        moved += len(entries)
        if len(entries) < BATCH:
            return moved


async def older(archive: Archive, *, actor: str | None, since_ms: int | None, below: str | None,
                limit: int) -> tuple[list[dict[str, Any]], str | None]:
    """Newest first, below the stream id `below` (None: from the newest)."""
    if actor is not None and "\x00" in actor:
        return [], None  # nobody's name, and not text PostgreSQL can take
    clauses, args = ["true"], []
    if below is not None:
        args += list(_split(below))
        clauses.append("(at_ms, seq) < ($1, $2)")
    if actor is not None:
        args.append(actor)
        clauses.append(f"actor = ${len(args)}")
    if since_ms is not None:
        args.append(since_ms)
        clauses.append(f"at_ms >= ${len(args)}")
    rows = await archive.fetch(
        f"SELECT at_ms, seq, entry::text FROM herald_audit WHERE {' AND '.join(clauses)}"
        f" ORDER BY at_ms DESC, seq DESC LIMIT {int(limit)}", *args)
    items = [jsonio.loads(row["entry"]) for row in rows]
    cursor = f"{rows[-1]['at_ms']}-{rows[-1]['seq']}" if len(rows) == limit else None
    return items, cursor
