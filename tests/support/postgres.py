"""A database of its own for each test session on the machine's PostgreSQL (127.0.0.1:5432).

HERALD_TEST_POSTGRES names another server (a URL to a database the tests may create databases
from). A test that needs PostgreSQL fails, never skips, when there is none: the archive is
tested against the real thing or not at all.
"""

from __future__ import annotations

import asyncio
import os
from urllib.parse import urlsplit, urlunsplit

import asyncpg

from service.ids import new_id

SERVER_URL = os.environ.get("HERALD_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres")


def _with_database(url: str, name: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path=f"/{name}"))


class ScratchDatabase:
    """Made at the session's start, emptied before each test, dropped at the end."""

    def __init__(self, server_url: str = SERVER_URL) -> None:
        self.server_url = server_url
        self.name = f"herald_test_{os.getpid()}_{new_id()[:8]}"
        self.url = _with_database(server_url, self.name)

    def create(self) -> ScratchDatabase:
        asyncio.run(self.make())
        return self

    def drop(self) -> None:
        asyncio.run(self.remove())

    async def make(self) -> None:
        await self._admin(f'CREATE DATABASE "{self.name}"')

    async def remove(self) -> None:
        await self._admin(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')

    async def empty(self) -> None:
        """Every table gone: the next start applies the migrations again, as on a new database."""
        conn = await asyncpg.connect(self.url)
        try:
            await conn.execute("DROP SCHEMA public CASCADE; CREATE SCHEMA public")
        finally:
            await conn.close()

    async def _admin(self, sql: str) -> None:
        conn = await asyncpg.connect(self.server_url)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()
