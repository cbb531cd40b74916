"""A database of the benchmark's own on the machine's PostgreSQL, dropped when done."""

from __future__ import annotations

import os
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg

SERVER_URL = os.environ.get("BENCH_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres")


@asynccontextmanager
async def scratch_database(*, keep: bool = False) -> AsyncIterator[str]:
    """The URL of a new, empty database; `keep`: leave it for a later run (its name is printed)."""
    name = f"herald_bench_{secrets.token_hex(4)}"
    await _admin(f'CREATE DATABASE "{name}"')
    try:
        yield urlunsplit(urlsplit(SERVER_URL)._replace(path=f"/{name}"))
    finally:
        if keep:
            print(f"  (database {name} kept)")
        else:
            await _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def fetchval(url: str, sql: str) -> Any:
    """One value, from a new connection; None while Herald has not made its tables yet."""
    conn = await asyncpg.connect(url)
    try:
        return await conn.fetchval(sql)
    except asyncpg.UndefinedTableError:
        return None
    finally:
        await conn.close()


async def _admin(sql: str) -> None:
    conn = await asyncpg.connect(SERVER_URL)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()
