"""Delivery events: inbound reports recorded per second, webhook deliveries per second, each with
email delivery running beside it, on one web + one worker + one inbound process.

Inbound: N notifications are sent, then a DSN for each is sent to the inbound SMTP server over
a few concurrent SMTP sessions, while as many other notifications are being delivered; the rate
is DSNs from the first sent to the last recorded (`herald_events_total`), each one parsed,
matched to its notification, made `bounced` and suppressed.
Webhooks: an endpoint on a local receiver subscribes to `notification.sent`; N notifications
are sent and the rate is webhook deliveries received (each signed, verified by the receiver
with the `standardwebhooks` package) per second, from the first POST to the last delivery.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

import aiosmtplib
from redis.asyncio import Redis

from bench import receiver, smtp_sink
from bench.http import post_batches, wait_ok
from bench.procs import API_SECRET, BIN, Child, herald_env, report_problems, start_redis, start_web, start_worker
from service.embedded import free_port

BOUNCE = "bounces@bounce.herald.test"
SESSIONS = 8


async def run(*, reports: int) -> None:
    print(f"== Delivery events: {reports} DSNs to the inbound server, {reports} webhook deliveries; "
          f"as many emails delivered beside each (web + worker + inbound, default settings)", flush=True)
    with ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="herald-bench-events-")))
        redis_server = start_redis(stack, tmp / "redis")
        smtp = smtp_sink.start(stack)
        hook = receiver.start(stack)
        inbound_port = free_port()
        env = herald_env(redis_url=redis_server.url, smtp_url=smtp.url, bounce_address=BOUNCE,
                         inbound_smtp_port=inbound_port, inbound_smtp_host="127.0.0.1", webhook_allow_private="true")
        web, port = start_web(stack, env, tmp)
        worker = start_worker(stack, env, tmp)
        inbound = Child("inbound", [str(BIN / "python"), "-m", "jobs.inbound"], env, tmp / "inbound.log")
        stack.callback(inbound.stop)
        await wait_ok(port, "/readyz", timeout=60, alive=lambda: [c.check_alive() for c in (web, worker, inbound)])
        auth = {"Authorization": f"Bearer {API_SECRET}"}
        redis = Redis.from_url(redis_server.url)
        try:
            await _inbound(redis, smtp, port, auth, inbound_port, reports)
            await _webhooks(redis, smtp, hook, port, auth, reports)
        finally:
            await redis.aclose()
        for child in (worker, inbound):
            print(f"  {child.name:12} peak RSS {child.memory_mib().get('peak', 0):.0f} MiB, "
                  f"CPU {child.cpu_seconds():.1f} s in all")
        report_problems(web, worker, inbound)


async def _inbound(redis: Redis, smtp: smtp_sink.SmtpSink, port: int, auth: dict[str, str], inbound_port: int,
                   count: int) -> None:
    await post_batches(port, auth, count, item=lambda n: _welcome(f"bounce{n}"))
    await _wait(lambda: len(smtp.received) >= count, "the notifications to be sent")
    ids = smtp.notification_ids()[:count]
    dsns = [_dsn(nid, (await redis.hget(f"herald:n:{nid}", "message_id") or b"").decode(), f"bounce{n}")
            for n, nid in enumerate(ids)]
    beside = asyncio.create_task(post_batches(port, auth, count, item=lambda n: _welcome(f"beside{n}")))
    started = time.monotonic()
    await asyncio.gather(*(_send_all(dsns[i::SESSIONS], inbound_port) for i in range(SESSIONS)))
    sent = time.monotonic() - started
    await _wait(lambda: _recorded(redis, count), "the reports to be recorded", is_async=True)
    took = time.monotonic() - started
    await beside
    print(f"  inbound      {count / took:.0f} DSNs/s recorded ({count} in {took:.2f} s over {SESSIONS} SMTP "
          f"sessions; the last sent after {sent:.2f} s), {len(smtp.received) - count} emails delivered beside")


async def _recorded(redis: Redis, count: int) -> bool:
    return int(await redis.hget("herald:stats", "ev|bounced|dsn") or 0) >= count


async def _send_all(messages: list[bytes], port: int) -> None:
    client = aiosmtplib.SMTP(hostname="127.0.0.1", port=port)
    async with client:
        for message in messages:
            await client.sendmail("", [BOUNCE], message)


async def _webhooks(redis: Redis, smtp: smtp_sink.SmtpSink, hook: receiver.Receiver, port: int,
                    auth: dict[str, str], count: int) -> None:
    secret = await receiver.register(port, auth, hook.url, ["notification.sent"])
    hook.secret = secret
    before = len(smtp.received)
    started = time.monotonic()
    await post_batches(port, auth, count, item=lambda n: _welcome(f"hook{n}"))
    await _wait(lambda: hook.verified >= count, "the webhooks to arrive", timeout=300)
    took = time.monotonic() - started
    print(f"  webhooks     {count / took:.0f} deliveries/s received and verified ({count} in {took:.2f} s, "
          f"{hook.rejected} failed verification, {hook.duplicates} duplicate ids), "
          f"{len(smtp.received) - before} emails delivered in the same time")


def _welcome(name: str) -> dict[str, object]:
    return {"template": "user.welcome", "to": f"{name}@example.com", "context": {"name": name}}


def _dsn(notification_id: str, message_id: str, name: str) -> bytes:
    return (
        f"From: MAILER-DAEMON@mx.example.com\r\nTo: {BOUNCE}\r\nSubject: Undelivered Mail Returned to Sender\r\n"
        f"Message-ID: <dsn-{notification_id}@mx.example.com>\r\nMIME-Version: 1.0\r\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="B"\r\n\r\n'
        "--B\r\nContent-Type: text/plain\r\n\r\nThis is the mail system at host mx.example.com.\r\n\r\n"
        "--B\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.example.com\r\n\r\n"
        f"Final-Recipient: rfc822; {name}@example.com\r\nAction: failed\r\nStatus: 5.1.1\r\n"
        f"Diagnostic-Code: smtp; 550 5.1.1 <{name}@example.com>: User unknown\r\n\r\n"
        f"--B\r\nContent-Type: text/rfc822-headers\r\n\r\nMessage-ID: {message_id}\r\n"
        f"X-Herald-Notification: {notification_id}\r\nTo: {name}@example.com\r\n\r\n--B--\r\n"
    ).encode()


async def _wait(done, what: str, *, timeout: float = 120, is_async: bool = False) -> None:  # noqa: ANN001
    deadline = time.monotonic() + timeout
    while not (await done() if is_async else done()):
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)
