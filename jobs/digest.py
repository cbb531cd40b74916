"""Digest jobs: the daily and weekly crons, and the flush the API asks for."""

from __future__ import annotations

import logging
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any

from service.digests import PERIODS, flush

log = logging.getLogger("herald.digest")


async def flush_digests(ctx: dict[str, Any], period: str) -> dict[str, Any]:
    if period not in PERIODS:
        return {"error": f"unknown period {period!r}"}
    report = await flush(ctx["store"], ctx["accept_context"], period, now=datetime.now(UTC))
    log.info("%s digests %s: %d sent, %d already sent", period, report.period_key, report.sent, report.already_sent)
    return asdict(report)


async def daily_digests(ctx: dict[str, Any]) -> dict[str, Any]:
    return await flush_digests(ctx, "daily")


async def weekly_digests(ctx: dict[str, Any]) -> dict[str, Any]:
    return await flush_digests(ctx, "weekly")
