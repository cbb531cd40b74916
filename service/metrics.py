"""Prometheus metrics.

Web-side counters live in this process; delivery outcomes are counted by the worker in a Redis
hash, and read at scrape time so that the web's /metrics shows the whole service.
"""

from __future__ import annotations

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, generate_latest
from prometheus_client.core import GaugeMetricFamily
from redis.exceptions import RedisError

from service.store import PENDING_KEY, Store

CONTENT_TYPE = CONTENT_TYPE_LATEST
STATS_KEY = "herald:stats"

registry = CollectorRegistry(auto_describe=True)
accepted = Counter(
    "herald_notifications_accepted", "Notifications accepted by the API", ["template", "status"], registry=registry
)


async def render(store: Store) -> bytes:
    try:
        stats = await store.redis.hgetall(STATS_KEY)
        pending = await store.redis.zcard(PENDING_KEY)
    except (RedisError, OSError):
        stats, pending = {}, None
    body = generate_latest(registry)
    extra = CollectorRegistry(auto_describe=False)
    extra.register(_Snapshot(stats, pending))
    return body + generate_latest(extra)


class _Snapshot:
    def __init__(self, stats: dict[bytes, bytes], pending: int | None) -> None:
        self.stats = stats
        self.pending = pending

    def collect(self):  # type: ignore[no-untyped-def]
        outcomes = GaugeMetricFamily(
            "herald_delivery_outcomes", "Delivery attempt outcomes counted by the workers", labels=["outcome"]
        )
        for outcome, count in sorted(self.stats.items()):
            outcomes.add_metric([outcome.decode()], float(count))
        yield outcomes
        if self.pending is not None:
            yield GaugeMetricFamily("herald_pending_notifications", "Notifications still owed a delivery",
                                    value=float(self.pending))
