"""Peer 3: raw ARQ. The web enqueues, `arq bench.peers.arq_peer.WorkerSettings` sends with aiosmtplib.

ARQ's defaults throughout (poll_delay 0.5 s, max_tries 5) except max_jobs, read from ARQ_MAX_JOBS.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import aiosmtplib
from arq import Retry, create_pool
from arq.connections import ArqRedis, RedisSettings
from fastapi import FastAPI, Request

from bench.peers.api import PATH, SendRequest, new_id, peer_app
from bench.peers.mail import is_transient, smtp_address, welcome


def from_environment() -> RedisSettings:
    return RedisSettings.from_dsn(os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"))


async def send(ctx: dict[str, Any], nid: str, to: str, name: str) -> None:
    host, port = smtp_address()
    try:
        await aiosmtplib.send(welcome(nid, to, name), hostname=host, port=port)
    except aiosmtplib.SMTPResponseException as exc:
        if is_transient(exc.code):
            raise Retry(defer=2 ** ctx["job_try"]) from exc
        raise


class WorkerSettings:
    functions = [send]
    redis_settings = from_environment()  # read at import, in the worker process with its environment
    max_jobs = int(os.environ.get("ARQ_MAX_JOBS", "10"))


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    app.state.arq = await create_pool(from_environment())
    try:
        yield
    finally:
        await app.state.arq.aclose()


app = peer_app(lifespan)


@app.post(PATH, status_code=202)
async def create(body: SendRequest, request: Request) -> dict[str, str]:
    nid = new_id()
    pool: ArqRedis = request.app.state.arq
    await pool.enqueue_job("send", nid, body.to, body.name)
    return {"id": nid}
