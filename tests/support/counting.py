"""A redis-py connection pool that counts its checkouts: one per round trip the client makes."""

from __future__ import annotations

from typing import Any

from redis.asyncio import ConnectionPool


class CountingPool(ConnectionPool):
    checkouts = 0

    async def get_connection(self, *args: Any, **kwargs: Any) -> Any:
        self.checkouts += 1
        return await super().get_connection(*args, **kwargs)
