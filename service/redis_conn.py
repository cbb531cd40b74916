"""Where Herald's Redis is: REDIS_URL names one server, or a primary found through Redis Sentinel.

    redis+sentinel://[user:password@]host:26379,host2:26379,host3:26379/mymaster/0

`rediss+sentinel://` speaks TLS to the data nodes; `?sentinel_password=...` authenticates to the
sentinels (the URL's own password is the data nodes'). Connections ask a sentinel for the
primary each time they (re)connect, and drop themselves when the server they reach answers as
a replica (a primary demoted by a failover): the next command reconnects to the new one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from redis.asyncio import BlockingConnectionPool
from redis.asyncio.connection import ConnectionPool
from redis.asyncio.sentinel import Sentinel, SentinelConnectionPool

SENTINEL_SCHEMES = frozenset({"redis+sentinel", "rediss+sentinel"})
SENTINEL_TIMEOUT_SECONDS = 1.0  # a sentinel that does not answer in this is skipped for the next one


@dataclass(frozen=True)
class SentinelUrl:
    sentinels: tuple[tuple[str, int], ...]
    master: str
    db: int = 0
    username: str | None = None
    password: str | None = None
    sentinel_password: str | None = None
    ssl: bool = False


def is_sentinel(url: str) -> bool:
    return url.partition("://")[0] in SENTINEL_SCHEMES


def parse_sentinel(url: str) -> SentinelUrl:
    """The parts of a redis+sentinel:// URL; ValueError naming what is wrong."""
    parts = urlsplit(url)
    if parts.scheme not in SENTINEL_SCHEMES:
        raise ValueError(f"scheme must be one of {', '.join(sorted(SENTINEL_SCHEMES))}")
    credentials, _, hosts = parts.netloc.rpartition("@")
    sentinels = tuple(_host_port(item) for item in hosts.split(",") if item)
    if not sentinels:
        raise ValueError("the URL names no sentinel (host:port,host:port)")
    path = [p for p in parts.path.split("/") if p]
    if not path or len(path) > 2:
        raise ValueError("the path must be /<master name> or /<master name>/<db>")
    if len(path) == 2 and not path[1].isdigit():
        raise ValueError("the database must be a number")
    username, _, password = credentials.partition(":") if credentials else ("", "", "")
    query = parse_qs(parts.query)
    return SentinelUrl(
        sentinels=sentinels, master=unquote(path[0]), db=int(path[1]) if len(path) == 2 else 0,
        username=unquote(username) or None, password=unquote(password) or None,
        sentinel_password=query.get("sentinel_password", [None])[0], ssl=parts.scheme.startswith("rediss"))


def _host_port(item: str) -> tuple[str, int]:
    host, _, port = item.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"{item!r} is not host:port")
    return host.strip("[]"), int(port)


class _SentinelBlockingPool(SentinelConnectionPool, BlockingConnectionPool):
    """Sentinel's pool, waiting for a free connection as BlockingConnectionPool does instead of
    raising at `max_connections` (redis-py offers the two only apart)."""

    async def disconnect(self, inuse_connections: bool = True) -> None:
        await super().disconnect(inuse_connections)
        if inuse_connections:  # the pool is closing, not only leaving a demoted primary
            for sentinel in self.sentinel_manager.sentinels:
                await sentinel.aclose()


def connection_pool(url: str, *, max_connections: int, timeout: float, **options: Any) -> ConnectionPool:
    """A pool that waits up to `timeout` for a free connection; `options` go to each connection."""
    if not is_sentinel(url):
        return BlockingConnectionPool.from_url(url, max_connections=max_connections, timeout=timeout, **options)
    target = parse_sentinel(url)
    sentinel_options = {"socket_connect_timeout": SENTINEL_TIMEOUT_SECONDS, "socket_timeout": SENTINEL_TIMEOUT_SECONDS,
                        "password": target.sentinel_password}
    manager = Sentinel(list(target.sentinels), sentinel_kwargs=sentinel_options)
    return _SentinelBlockingPool(
        target.master, manager, max_connections=max_connections, timeout=timeout, db=target.db,
        username=target.username, password=target.password, ssl=target.ssl, **options)
