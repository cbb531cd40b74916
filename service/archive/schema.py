"""The archive's tables: versioned SQL applied at start, and one partition per day.

Migrations are the numbered files in `migrations/`, applied in order, each in its own
transaction, under an advisory lock so that a web and a worker starting together apply each
once. A day's partition is made before the first row of that day is written, and dropped
whole once the day is older than the retention.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import re
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path

if TYPE_CHECKING:
    import asyncpg


_MIGRATIONS = Path(__file__).parent / "migrations"
_LOCK = 0x6865_7261_6C64  # "herald": the advisory lock migrations run under
DAY_MS = 86_400_000
TABLES = ("herald_notifications", "herald_audit")
_PARTITION = re.compile(r"^(herald_notifications|herald_audit)_(\d{8})$")


def migrations() -> list[tuple[int, str]]:
    """(version, SQL) for every file `NNNN_name.sql`, in order."""
    found = []
    for path in sorted(_MIGRATIONS.glob("*.sql")):
        found.append((int(path.name.split("_", 1)[0]), path.read_text()))
    return found


async def migrate(conn: asyncpg.Connection) -> list[int]:
    """Apply what this database lacks; the versions applied."""
    await conn.execute("SELECT pg_advisory_lock($1)", _LOCK)
    try:
        await conn.execute("CREATE TABLE IF NOT EXISTS herald_migrations"
                           " (version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())")
        done = {row["version"] for row in await conn.fetch("SELECT version FROM herald_migrations")}
        applied = []
        for version, sql in migrations():
            if version in done:
                continue
            async with conn.transaction():
                await conn.execute(sql)
                await conn.execute("INSERT INTO herald_migrations (version) VALUES ($1)", version)
            applied.append(version)
        return applied
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1)", _LOCK)


def day_of(ms: int) -> int:
    """The first ms of the UTC day `ms` falls in."""
    return ms - ms % DAY_MS


def partition_name(table: str, day_ms: int) -> str:
    return f"{table}_{datetime.fromtimestamp(day_ms / 1000, UTC):%Y%m%d}"


async def ensure_partitions(conn: asyncpg.Connection, table: str, times_ms: Iterable[int], *,
                            known: set[str]) -> set[str]:
    """Make the day partitions these times need, skipping those in `known`; the names made. The
    caller adds them to `known` once its transaction has committed (a rollback undoes them)."""
    made = set()
    for day in sorted({day_of(ms) for ms in times_ms}):
        name = partition_name(table, day)
        if name in known:
            continue
        # Names and bounds are Herald's own (a table name and two integers), never a caller's.
        await conn.execute(f"CREATE TABLE IF NOT EXISTS {name} PARTITION OF {table}"
                           f" FOR VALUES FROM ({day}) TO ({day + DAY_MS})")
        made.add(name)
    return made


async def drop_expired(conn: asyncpg.Connection, *, now: datetime, retention_days: int) -> list[str]:
    """Drop every day partition that ended more than `retention_days` ago; their names."""
    cutoff = (now - timedelta(days=retention_days)).strftime("%Y%m%d")
    rows = await conn.fetch(
        "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
        " JOIN pg_class p ON p.oid = i.inhparent WHERE p.relname = ANY($1::text[])", list(TABLES))
    dropped = []
    for row in rows:
        found = _PARTITION.match(row["relname"])
        # The day ends at the next midnight: it is past retention once that is older than the cutoff.
        if found and found.group(2) < cutoff:
            await conn.execute(f"DROP TABLE IF EXISTS {row['relname']}")
            dropped.append(row["relname"])
    return sorted(dropped)
