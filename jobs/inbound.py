"""`python -m jobs.inbound`: the SMTP server that bounces and complaints come back to.

It accepts mail for BOUNCE_ADDRESS and its VERP addresses (and postmaster@ / abuse@ of the
bounce domain, where feedback loops send), parses each message into reports (jobs.reports) and
records them (service.events) before answering 250: a report Herald could not record is
answered 451, so the reporting server tries again later instead of the report being lost.
Anything it cannot make sense of is still recorded, as `unparsed`.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import signal
from typing import Any

from aiosmtpd.smtp import SMTP, Envelope, Session
from redis.exceptions import RedisError

from jobs.reports import parse_report
from service import logs, verp
from service.archive import open_archive
from service.events import Events
from service.queue import open_queue
from service.settings import Settings, load_settings
from service.store import Store

log = logging.getLogger("herald.inbound")
SHUTDOWN_GRACE_SECONDS = 25
_ROLE_ADDRESSES = ("postmaster", "abuse")


class ReportHandler:
    """aiosmtpd's handler: who may be written to, and what a received message does."""

    def __init__(self, events: Events, settings: Settings) -> None:
        self.events = events
        self.bounce_address = settings.bounce_address or ""
        self.domain = self.bounce_address.rpartition("@")[2]
        self.in_flight = 0

    async def handle_RCPT(self, server: SMTP, session: Session, envelope: Envelope, address: str,
                          rcpt_options: list[str]) -> str:
        if not self._ours(address):
            return "550 5.1.1 no such mailbox here: this server takes delivery reports only"
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        self.in_flight += 1
        try:
            raw = envelope.original_content or b""
            token = next(filter(None, (verp.token_of(self.bounce_address, r) for r in envelope.rcpt_tos)), None)
            reports = [dataclasses.replace(r, token=token) for r in parse_report(raw)]
            outcomes = await self.events.record(reports)
        except (RedisError, OSError) as exc:
            log.warning("a report could not be recorded (%s): asking the sender to try again", exc)
            return "451 4.3.0 cannot record the report now, try again later"
        finally:
            self.in_flight -= 1
        logs.event(log, "report.received", kinds=",".join(r.type for r in reports),
                   outcomes=",".join(outcomes), source=reports[0].source)
        return "250 2.0.0 report recorded"

    def _ours(self, address: str) -> bool:
        local, _, domain = address.strip("<>").lower().rpartition("@")
        return verp.accepts(self.bounce_address, address) or (domain == self.domain and local in _ROLE_ADDRESSES)


async def serve(settings: Settings, *, host: str, port: int, stop: asyncio.Event) -> None:
    """Serve until `stop` is set, then let the reports being recorded finish."""
    redis = open_queue(settings, max_connections=16)
    archive = await open_archive(settings, max_size=2, wait=False)  # a late report can be about a moved one
    store = Store(redis, retention_seconds=settings.retention_seconds, archive=archive)
    handler = ReportHandler(Events(store, settings), settings)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: SMTP(handler, data_size_limit=settings.inbound_max_bytes, hostname=handler.domain or None,
                     ident="Herald inbound"),
        host=host, port=port)
    log.info("herald inbound ready on %s:%d for %s", host, port, settings.bounce_address)
    try:
        await stop.wait()
    finally:
        server.close()
        await _drain(handler)
        await redis.aclose(close_connection_pool=True)
        if archive is not None:
            await archive.close()


async def _drain(handler: ReportHandler) -> None:
    for _ in range(SHUTDOWN_GRACE_SECONDS * 10):
        if not handler.in_flight:
            return
        await asyncio.sleep(0.1)


async def _main() -> None:
    settings = load_settings()
    logs.configure(settings.log_level, settings.log_format)
    if settings.bounce_address is None:
        raise SystemExit("herald: configuration error: BOUNCE_ADDRESS: must be set for the inbound server")
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await serve(settings, host=settings.inbound_smtp_host, port=settings.inbound_smtp_port, stop=stop)


def main(*_: Any) -> None:
    asyncio.run(_main())


if __name__ == "__main__":
    main()
