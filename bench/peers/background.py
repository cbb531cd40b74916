"""Peer 1: FastAPI BackgroundTasks sends with aiosmtplib after the 202, in the web process itself.

`uvicorn bench.peers.background:app`. Three tries, 1 s then 2 s apart; nothing survives a restart.
"""

from __future__ import annotations

import asyncio
import logging

import aiosmtplib
from fastapi import BackgroundTasks

from bench.peers.api import PATH, SendRequest, new_id, peer_app
from bench.peers.mail import is_transient, smtp_address, welcome

PAUSES = (1.0, 2.0)  # before the second and the third try
log = logging.getLogger("bench.peers.background")
app = peer_app()


async def send(nid: str, to: str, name: str) -> None:
    host, port = smtp_address()
    for pause in (*PAUSES, None):
        try:
            await aiosmtplib.send(welcome(nid, to, name), hostname=host, port=port)
            return
        except aiosmtplib.SMTPResponseException as exc:
            if not is_transient(exc.code) or pause is None:
                log.warning("giving up on %s: %s %s", nid, exc.code, exc.message)
                return
        except (aiosmtplib.SMTPException, OSError) as exc:
            if pause is None:
                log.warning("giving up on %s: %s", nid, exc)
                return
        await asyncio.sleep(pause)


@app.post(PATH, status_code=202)
async def create(body: SendRequest, tasks: BackgroundTasks) -> dict[str, str]:
    nid = new_id()
    tasks.add_task(send, nid, body.to, body.name)
    return {"id": nid}
