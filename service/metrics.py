"""Prometheus metrics.

Web-side counters live in this process; delivery outcomes are counted by the workers in a
Redis hash and read at scrape time, so the web's /metrics shows the whole service.
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from redis.exceptions import RedisError

from service.store import PENDING_KEY, STATS_KEY, Store

CONTENT_TYPE = CONTENT_TYPE_LATEST


class WebMetrics:
    """One registry per app, so that two apps in one process (tests) never share counts."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.accepted = Counter(
            "herald_notifications_accepted",
            "Notifications accepted by the API, by template and initial status",
            ["template", "status"],
            registry=self.registry,
        )

    async def render(self, store: Store) -> bytes:
        try:
            async with store.redis.pipeline(transaction=False) as pipe:
                pipe.hgetall(STATS_KEY)
                pipe.zcard(PENDING_KEY)
                stats, pending = await pipe.execute()
        except (RedisError, OSError):
            stats, pending = {}, None
        snapshot = CollectorRegistry()
        snapshot.register(_Snapshot(stats, pending))
        return generate_latest(self.registry) + generate_latest(snapshot)


class _Snapshot:
    def __init__(self, stats: dict[bytes, bytes], pending: int | None) -> None:
        self.stats = stats
        self.pending = pending

    def collect(self) -> Iterator[Metric]:
        outcomes = GaugeMetricFamily(
            "herald_delivery_outcomes", "Delivery attempt outcomes counted by the workers", labels=["outcome"]
        )
        for outcome, count in sorted(self.stats.items()):
            outcomes.add_metric([outcome.decode()], float(count))
        yield outcomes
        if self.pending is not None:
            yield GaugeMetricFamily(
                "herald_pending_notifications", "Notifications still owed a delivery", value=float(self.pending)
            )
