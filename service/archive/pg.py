"""Finished notifications in PostgreSQL: written by the worker's mover, read wherever Redis is.

A row holds a record exactly as Redis held it (the hash's fields, its attempts, its events), so
that what is read back is what `Store.get` would have given while the record was in Redis.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping, Sequence
from contextlib import asynccontextmanager
from typing import Any, AsyncIterator

import asyncpg

from service import jsonio
from service.archive import schema
from service.keys import recipient_email

_COLUMNS = "id, record::text, attempts::text, events::text"
_UPSERT = """
INSERT INTO herald_notifications
    (id, created_ms, status, template, recipient, channel, failed_ms, record, attempts, events)
SELECT i, c, s, t, r, ch, f, rec::jsonb, a::jsonb, e::jsonb
FROM unnest($1::text[], $2::bigint[], $3::text[], $4::text[], $5::text[], $6::text[], $7::bigint[],
            $8::text[], $9::text[], $10::text[]) AS u(i, c, s, t, r, ch, f, rec, a, e)
ON CONFLICT (id, created_ms) DO UPDATE SET
    status = EXCLUDED.status, failed_ms = EXCLUDED.failed_ms, record = EXCLUDED.record,
    attempts = EXCLUDED.attempts, events = EXCLUDED.events, archived_at = now()
"""
_FILTERS = frozenset({"recipient", "status", "template", "channel", "since_ms", "until_ms"})
_MOVER_LOCK = 0x6865_7261_6C65  # one mover at a time, whichever worker's cron runs it
log = logging.getLogger("herald.archive")


class ArchiveUnavailable(ConnectionError):
    """Mapped to 503 with the store's other outages (service.errors handles ConnectionError)."""


class Archive:
    """One pool per process, opened at start-up (`open`) and handed through ctx or app.state.

    PostgreSQL is not on the path of a delivery: a process that starts while it is away runs
    without it, and connects (and applies the migrations) at the first use after it is back,
    trying at most every `retry_seconds`. Meanwhile what needs it is ArchiveUnavailable (503)
    and the mover's rounds wait.
    """

    retry_seconds = 5.0

    def __init__(self, url: str, *, retention_days: int, max_size: int = 10) -> None:
        self.url = url
        self.retention_days = retention_days
        self.max_size = max_size
        self.partitions: set[str] = set()  # day partitions made or seen
        self._pool: asyncpg.Pool | None = None
        self._connecting = asyncio.Lock()
        self._tried_at = -float("inf")

    @classmethod
    async def open(cls, url: str, *, retention_days: int, max_size: int = 10, wait: bool = True) -> Archive:
        """Connect and bring the tables up to date (migrations are applied here, at start).
        `wait=False`: PostgreSQL away is a warning, and the first use after it is back connects."""
        archive = cls(url, retention_days=retention_days, max_size=max_size)
        try:
            await archive.ready()
        except ArchiveUnavailable as exc:
            if wait:
                raise
            log.warning("archive: %s; history stays in Redis until it is back", exc)
        return archive

    @property
    def pool(self) -> asyncpg.Pool:
        if self._pool is None:
            raise ArchiveUnavailable("PostgreSQL (DATABASE_URL) is not connected")
        return self._pool

    async def ready(self) -> asyncpg.Pool:
        """The pool, connected and migrated; ArchiveUnavailable while PostgreSQL is away."""
        if self._pool is not None:
            return self._pool
        async with self._connecting:
            if self._pool is None:
                if time.monotonic() < self._tried_at + self.retry_seconds:
                    raise ArchiveUnavailable("PostgreSQL (DATABASE_URL) is away; trying again shortly")
                self._tried_at = time.monotonic()
                self._pool = await _connect(self.url, max_size=self.max_size)
        return self._pool

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()

    @asynccontextmanager
    async def exclusive(self) -> AsyncIterator[asyncpg.Connection | None]:
        """A connection holding the mover's lock, or None while another process holds it."""
        async with (await self.ready()).acquire() as conn:
            if not await conn.fetchval("SELECT pg_try_advisory_lock($1)", _MOVER_LOCK):
                yield None
                return
            try:
                yield conn
            finally:
                await conn.execute("SELECT pg_advisory_unlock($1)", _MOVER_LOCK)

    async def write(self, conn: asyncpg.Connection, records: Sequence[Mapping[str, Any]]) -> None:
        """Insert or replace these records, in one statement and one transaction."""
        if not records:
            return
        created = [int(r["created_ms"]) for r in records]
        async with conn.transaction():
            made = await schema.ensure_partitions(conn, "herald_notifications", created, known=self.partitions)
            await conn.execute(_UPSERT, *_columns(records, created))
        self.partitions |= made

    async def get_many(self, ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        """The archived records among these ids (the newest row of an id, should it have two)."""
        ids = [i for i in ids if "\x00" not in i]  # no such id, and not text PostgreSQL can take
        if not ids:
            return {}
        rows = await self.fetch(
            f"SELECT DISTINCT ON (id) {_COLUMNS} FROM herald_notifications WHERE id = ANY($1::text[])"
            " ORDER BY id, created_ms DESC", ids)
        return {row["id"]: _decode(row) for row in rows}

    async def search(self, where: Mapping[str, Any], *, before: tuple[int, str] | None, limit: int,
                     attempts: bool = True) -> list[dict[str, Any]]:
        """Newest first; `where`: column -> value (equal), plus `since_ms` / `until_ms`;
        `before`: the (created_ms, id) to continue after."""
        clauses, args = _clauses(where, before)
        columns = _COLUMNS if attempts else "id, record::text, '[]' AS attempts, '[]' AS events"
        sql = (f"SELECT {columns} FROM herald_notifications WHERE {' AND '.join(clauses) or 'true'}"
               f" ORDER BY created_ms DESC, id DESC LIMIT {int(limit)}")
        return [_decode(row) for row in await self.fetch(sql, *args)]

    async def fetch(self, sql: str, *args: Any) -> list[asyncpg.Record]:
        """A read for a request: PostgreSQL away or failing is ArchiveUnavailable (the API's 503)."""
        pool = await self.ready()
        try:
            return await pool.fetch(sql, *args)
        except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError) as exc:
            raise ArchiveUnavailable(f"PostgreSQL: {type(exc).__name__}: {exc}") from exc


async def _connect(url: str, *, max_size: int) -> asyncpg.Pool:
    try:
        pool = await asyncpg.create_pool(url, min_size=1, max_size=max_size, command_timeout=30)
    except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError) as exc:
        raise ArchiveUnavailable(f"PostgreSQL (DATABASE_URL): {type(exc).__name__}: {exc}") from exc
    try:
        async with pool.acquire() as conn:
            await schema.migrate(conn)
    except BaseException:
        await pool.close()
        raise
    return pool


def _columns(records: Sequence[Mapping[str, Any]], created: list[int]) -> list[list[Any]]:
    fields = [{k: v for k, v in r.items() if k not in ("attempts", "events")} for r in records]
    return [
        [r["id"] for r in records], created, [r["status"] for r in records], [r["template"] for r in records],
        [recipient_email(r) for r in records], [r.get("channel") or "email" for r in records],
        [int(r["failed_ms"]) if r.get("failed_ms") else None for r in records],
        [jsonio.dumps(f) for f in fields], [jsonio.dumps(r.get("attempts", [])) for r in records],
        [jsonio.dumps(r.get("events", [])) for r in records],
    ]


def _clauses(where: Mapping[str, Any], before: tuple[int, str] | None) -> tuple[list[str], list[Any]]:
    clauses: list[str] = []
    args: list[Any] = []
    for column, value in where.items():
        if column not in _FILTERS:
            raise ValueError(f"no filter on {column!r}")
        if value is None:
            continue
        args.append(value)
        if column == "since_ms":
            clauses.append(f"created_ms >= ${len(args)}")
        elif column == "until_ms":
            clauses.append(f"created_ms <= ${len(args)}")
        else:  # a fixed set of column names (the callers'), never a request's text
            clauses.append(f"{column} = ${len(args)}")
    if before is not None:
        args += list(before)
        clauses.append(f"(created_ms, id) < (${len(args) - 1}, ${len(args)})")
    return clauses, args


def _decode(row: asyncpg.Record) -> dict[str, Any]:
    record: dict[str, Any] = jsonio.loads(row["record"])
    record["attempts"] = jsonio.loads(row["attempts"])
    record["events"] = jsonio.loads(row["events"])
    return record
