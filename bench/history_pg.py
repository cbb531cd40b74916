"""History queries over millions of archived notifications in PostgreSQL, through the API.

The rows are generated in SQL from one notification Herald really sent and moved (so that each
reads back as a real record), spread over 90 days' partitions: a million recipients (about ten
notifications each), 2% failed, five templates. Then GET /v1/notifications by recipient, by
status and unfiltered (a page of 50, and pages further on through the cursor), and GET by id,
each timed one at a time; Redis holds none of them.
"""

from __future__ import annotations

import asyncio
import json
import random
import statistics
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any
from urllib.parse import quote

import asyncpg

from bench.http import HttpConnection
from bench.pg import fetchval, scratch_database
from bench.procs import API_SECRET, report_problems
from bench.stack import start_herald
from service.archive import schema

AUTH = {"Authorization": f"Bearer {API_SECRET}"}
DAYS = 90
RECIPIENTS = 1_000_000
QUERIES = 200
TEMPLATES = ("user.welcome", "user.password_reset", "newsletter", "order.shipped", "invoice.ready")

# One day's rows ($1 its first ms, $2 how many), made from the real one by substituting what differs.
_GENERATE = """
INSERT INTO herald_notifications (id, created_ms, status, template, recipient, channel, failed_ms, record, attempts, events)
SELECT id, c, st, tp, rc, 'email', CASE WHEN st = 'failed' THEN c + 60000 END,
       t.record || jsonb_build_object('id', id, 'created_ms', c::text, 'status', st, 'template', tp, 'to_email', rc,
                                      'to', json_build_object('email', rc, 'name', null)::text,
                                      'created_at', to_char(to_timestamp(c / 1000.0) AT TIME ZONE 'UTC',
                                                            'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')),
       t.attempts, t.events
FROM (SELECT md5($1::text || ':' || g) AS id, $1::bigint + (g::bigint * 86400000 / $2) AS c,
             CASE WHEN random() < 0.02 THEN 'failed' ELSE 'sent' END AS st,
             ($3::text[])[1 + floor(random() * 5)::int] AS tp,
             'user' || floor(random() * $4)::int || '@example.com' AS rc
      FROM generate_series(1, $2) AS g) AS s,
     (SELECT record, attempts, events FROM herald_notifications LIMIT 1) AS t
"""


async def run(rows: int) -> None:
    print(f"== History in PostgreSQL: {rows:,} archived notifications over {DAYS} days, queried through the API",
          flush=True)
    async with scratch_database() as url:
        with ExitStack() as stack, tempfile.TemporaryDirectory(prefix="herald-bench-history-") as tmp:
            herald = await start_herald(stack, Path(tmp), database_url=url, archive_after_seconds=0)
            web, port, worker = herald.web, herald.port, herald.worker
            await _one_real(port, url, worker.check_alive)
            await _generate(url, rows)
            conn = HttpConnection(port, AUTH)
            try:
                await _queries(conn, url)
            finally:
                conn.close()
            report_problems(web, worker)


async def _one_real(port: int, url: str, alive: Any) -> None:
    conn = HttpConnection(port, AUTH)
    try:
        body = {"template": "user.welcome", "to": "seed@example.com", "context": {"name": "Seed"}}
        status, _ = await conn.request("POST", "/v1/notifications", json.dumps(body).encode())
        assert status == 202, status
    finally:
        conn.close()
    for _ in range(60):
        alive()
        if await fetchval(url, "SELECT count(*) FROM herald_notifications"):
            return
        await asyncio.sleep(1)
    raise RuntimeError("the seed notification was not moved to PostgreSQL")


async def _generate(url: str, rows: int) -> None:
    started = time.monotonic()
    per_day = rows // DAYS
    today = schema.day_of(int(time.time() * 1000))
    db = await asyncpg.connect(url)
    try:
        for n in range(DAYS):
            day = today - (n + 1) * schema.DAY_MS
            await schema.ensure_partitions(db, "herald_notifications", [day], known=set())
            await db.execute(_GENERATE, str(day), per_day, list(TEMPLATES), RECIPIENTS)
        await db.execute("ANALYZE herald_notifications")
        size = await db.fetchval("SELECT pg_size_pretty(pg_database_size(current_database()))")
    finally:
        await db.close()
    print(f"  generated    {per_day * DAYS:,} rows in {time.monotonic() - started:.0f} s; database {size}", flush=True)


async def _queries(conn: HttpConnection, url: str) -> None:
    sample = await _fetch_all(url, "SELECT id, recipient FROM herald_notifications TABLESAMPLE SYSTEM (1) LIMIT 2000")
    ids, recipients = [r["id"] for r in sample], [r["recipient"] for r in sample]
    rng = random.Random(20261207)
    cases = {
        "by recipient": lambda: f"/v1/notifications?limit=50&to={quote(rng.choice(recipients))}",
        "by status=failed": lambda: "/v1/notifications?limit=50&status=failed",
        "by template": lambda: f"/v1/notifications?limit=50&template={rng.choice(TEMPLATES)}",
        "a page of 50": lambda: "/v1/notifications?limit=50",
        "GET by id": lambda: f"/v1/notifications/{rng.choice(ids)}",
    }
    for name, path in cases.items():
        await _timed(conn, name, path)
    await _deep(conn)


async def _timed(conn: HttpConnection, name: str, path: Any) -> None:
    took: list[float] = []
    items = 0
    for _ in range(QUERIES):
        started = time.perf_counter()
        status, body = await conn.request("GET", path(), b"")
        took.append((time.perf_counter() - started) * 1000)
        if status != 200:
            raise RuntimeError(f"{name} answered {status}")
        items += len(json.loads(body).get("items", [None]))
    _print(name, took, f"{items / QUERIES:.0f} items a page")


async def _deep(conn: HttpConnection) -> None:
    """Pages 2 to 41 of the failed ones, each through the cursor the page before gave."""
    took: list[float] = []
    status, body = await conn.request("GET", "/v1/notifications?limit=50&status=failed", b"")
    for _ in range(40):
        cursor = json.loads(body)["next_cursor"]
        if cursor is None:
            break
        started = time.perf_counter()
        status, body = await conn.request("GET", f"/v1/notifications?limit=50&status=failed&cursor={quote(cursor)}", b"")
        took.append((time.perf_counter() - started) * 1000)
        assert status == 200, status
    _print("failed, pages 2-41", took, "by cursor")


def _print(name: str, took: list[float], note: str) -> None:
    ordered = sorted(took)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    print(f"  {name:20} p50 {statistics.median(ordered):6.1f} ms  p99 {p99:6.1f} ms  ({len(took)} requests, {note})",
          flush=True)


async def _fetch_all(url: str, sql: str) -> list[Any]:
    db = await asyncpg.connect(url)
    try:
        return list(await db.fetch(sql))
    finally:
        await db.close()
