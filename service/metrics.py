"""Prometheus metrics.

Web-side counters live in this process. The workers count deliveries in one Redis hash,
written by the same script that records each outcome (no extra round trip), and the web reads
it at scrape time: so the web's /metrics shows the whole service, however many workers run,
and no worker needs a port of its own. Field names in that hash:

- `<outcome>`: attempts by outcome, e.g. `sent` (the oldest form, kept);
- `d|<outcome>|<template>|<category>`: the same by template and category;
- `c|<channel>|<outcome>`: the same by channel (email, slack, http, inbox);
- `smtp|<class>`: SMTP replies by class (`2xx`, `4xx`, `5xx`, `none` for no reply);
- `ev|<type>|<source>`: delivery reports recorded (service.events), e.g. `ev|bounced|dsn`;
- `wh|<outcome>`: webhook delivery attempts (jobs.webhooks), e.g. `wh|succeeded`;
- `<histogram>|<le>`, `<histogram>|sum`, `<histogram>|count`: histogram buckets (not cumulative)
  for `send` (one SMTP conversation) and `latency` (due -> sent), in seconds.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator, Mapping
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from redis.exceptions import RedisError

from service.queue import ask_depths, read_depths
from service.keys import FINISHED_INDEX, PENDING_KEY, STATS_KEY, status_index
from service.store import Store

CONTENT_TYPE = CONTENT_TYPE_LATEST
BUCKETS = {
    "send": (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, math.inf),
    "latency": (0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 3600.0, math.inf),
}
_HELP = {"send": ("herald_smtp_send_seconds", "One SMTP conversation, as the worker timed it"),
         "latency": ("herald_delivery_latency_seconds", "From due (for an immediate send: accepted) to sent")}


def delivery_counts(outcome: str, attempt: Mapping[str, Any], record: Mapping[str, Any], *,
                    now_ms: int, smtp: bool = True) -> dict[str, float]:
    """What one recorded attempt adds to the workers' stats hash (see the module's docstring).
    `smtp`: the attempt talked to the SMTP server (a rendering failure does not)."""
    counts: dict[str, float] = {outcome: 1, f"d|{outcome}|{record['template']}|{record['category']}": 1,
                                f"c|{record.get('channel') or 'email'}|{outcome}": 1}
    if smtp:
        code = attempt.get("smtp_code")
        counts[f"smtp|{code // 100}xx" if code else "smtp|none"] = 1
        if attempt.get("duration_ms") is not None:
            _observe(counts, "send", attempt["duration_ms"] / 1000)
    if outcome == "sent" and record.get("due_ms"):
        _observe(counts, "latency", max(0, now_ms - int(record["due_ms"])) / 1000)
    return counts


def _observe(counts: dict[str, float], name: str, value: float) -> None:
    le = next(b for b in BUCKETS[name] if value <= b)
    counts[f"{name}|{le}"] = 1
    counts[f"{name}|sum"] = round(value, 6)
    counts[f"{name}|count"] = 1


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
        self.cancelled = Counter(
            "herald_notifications_cancelled", "Notifications cancelled through the API, by template and category",
            ["template", "category"], registry=self.registry,
        )

    async def render(self, store: Store) -> bytes:
        try:
            async with store.redis.pipeline(transaction=False) as pipe:
                pipe.hgetall(STATS_KEY)
                pipe.zcard(PENDING_KEY)
                pipe.zcard(status_index("scheduled"))
                pipe.zcard(FINISHED_INDEX)
                ask_depths(pipe, int(time.time() * 1000))
                stats, pending, scheduled, finished, *replies = await pipe.execute()
            depths = read_depths(replies)
        except (RedisError, OSError):
            stats, pending, scheduled, finished, depths = {}, None, None, None, {}
        snapshot = CollectorRegistry()
        snapshot.register(_Snapshot({k.decode(): v.decode() for k, v in stats.items()}, pending, scheduled, depths,
                                    to_archive=finished if store.archive is not None else None))
        return generate_latest(self.registry) + generate_latest(snapshot)


class _Snapshot:
    def __init__(self, stats: dict[str, str], pending: int | None, scheduled: int | None,
                 depths: dict[str, tuple[int, int]], *, to_archive: int | None = None) -> None:
        self.stats = stats
        self.pending = pending
        self.scheduled = scheduled
        self.depths = depths
        self.to_archive = to_archive  # with DATABASE_URL: finished ones still to move to PostgreSQL

    def collect(self) -> Iterator[Metric]:
        yield from self._outcomes()
        yield from self._histograms()
        if self.pending is not None:
            yield GaugeMetricFamily(
                "herald_pending_notifications", "Notifications still owed a delivery", value=float(self.pending)
            )
        if self.scheduled is not None:
            yield GaugeMetricFamily("herald_scheduled_notifications", "Scheduled reminders waiting for their time",
                                    value=float(self.scheduled))
        if self.to_archive is not None:
            # Growing without end: PostgreSQL is away, or the mover cannot keep up.
            yield GaugeMetricFamily("herald_archive_waiting", "Finished notifications still to move to PostgreSQL",
                                    value=float(self.to_archive))
            yield CounterMetricFamily("herald_archived_notifications", "Notifications moved to PostgreSQL",
                                      value=float(self.stats.get("a|moved", 0)))
        if self.depths:
            depth = GaugeMetricFamily("herald_queue_depth", "ARQ jobs waiting, by lane and whether they are due yet",
                                      labels=["lane", "state"])
            for lane, (due, deferred) in self.depths.items():
                depth.add_metric([lane, "due"], float(due))
                depth.add_metric([lane, "deferred"], float(deferred))
            yield depth

    def _outcomes(self) -> Iterator[Metric]:
        outcomes = GaugeMetricFamily(
            "herald_delivery_outcomes", "Delivery attempt outcomes counted by the workers", labels=["outcome"]
        )
        detailed = CounterMetricFamily("herald_deliveries", "Delivery attempts by outcome, template and category",
                                       labels=["outcome", "template", "category"])
        replies = CounterMetricFamily("herald_smtp_replies", "SMTP replies by class", labels=["class"])
        events = CounterMetricFamily("herald_events", "Delivery reports recorded (bounces, complaints, delays), "
                                     "by type and source", labels=["type", "source"])
        hooks = CounterMetricFamily("herald_webhook_deliveries", "Webhook delivery attempts by outcome",
                                    labels=["outcome"])
        by_channel = CounterMetricFamily("herald_channel_deliveries", "Delivery attempts by channel and outcome",
                                         labels=["channel", "outcome"])
        for field, value in sorted(self.stats.items()):
            parts = field.split("|")
            if len(parts) == 1:
                outcomes.add_metric([field], float(value))
            elif parts[0] == "d" and len(parts) == 4:
                detailed.add_metric(parts[1:], float(value))
            elif parts[0] == "smtp":
                replies.add_metric([parts[1]], float(value))
            elif parts[0] == "ev" and len(parts) == 3:
                events.add_metric(parts[1:], float(value))
            elif parts[0] == "wh" and len(parts) == 2:
                hooks.add_metric(parts[1:], float(value))
            elif parts[0] == "c" and len(parts) == 3:
                by_channel.add_metric(parts[1:], float(value))
        yield from (outcomes, detailed, replies, events, hooks, by_channel)

    def _histograms(self) -> Iterator[Metric]:
        for name, bounds in BUCKETS.items():
            cumulative, buckets = 0.0, []
            for le in bounds:
                cumulative += float(self.stats.get(f"{name}|{le}", 0))
                buckets.append(("+Inf" if math.isinf(le) else str(le), cumulative))
            metric, text = _HELP[name]
            yield HistogramMetricFamily(metric, text, buckets=buckets,
                                        sum_value=float(self.stats.get(f"{name}|sum", 0)))
