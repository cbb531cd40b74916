"""Peer 2: Celery with a Redis broker. The web calls `.delay()`, the worker sends with smtplib.

Worker: `celery -A bench.peers.celery_peer worker` (prefork, one process per CPU) or with
`--pool threads -c 50`. Celery's defaults otherwise (max_retries 3, prefetch multiplier 4).
"""

from __future__ import annotations

import os
import smtplib

from celery import Celery, Task

from bench.peers.api import PATH, SendRequest, new_id, peer_app
from bench.peers.mail import is_transient, smtp_address, welcome

celery_app = Celery("bench_peer", broker=os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"))
# No result backend: nobody reads the results, and storing them would cost Celery a Redis write each.
celery_app.conf.update(task_ignore_result=True, broker_connection_retry_on_startup=True)


@celery_app.task(bind=True)
def send(self: Task, nid: str, to: str, name: str) -> None:
    host, port = smtp_address()
    try:
        with smtplib.SMTP(host, port) as client:
            client.send_message(welcome(nid, to, name))
    except smtplib.SMTPResponseException as exc:
        if is_transient(exc.smtp_code):
            raise self.retry(exc=exc, countdown=2 ** self.request.retries) from exc
        raise


app = peer_app()


# A plain `def`: `.delay()` is blocking I/O, so FastAPI runs it in its thread pool.
@app.post(PATH, status_code=202)
def create(body: SendRequest) -> dict[str, str]:
    nid = new_id()
    send.delay(nid, body.to, body.name)
    return {"id": nid}
