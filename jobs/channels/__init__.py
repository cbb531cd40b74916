"""Each channel's sender: `render` the record's part (raising the template errors when it
cannot), then `send` it, answering an Outcome that jobs.deliver records the same way for all."""

from __future__ import annotations

import logging
from typing import Any

from jobs.channels import http, inbox, mail, slack
from jobs.smtp import Outcome
from service.templates import RENDER_ERRORS

log = logging.getLogger("herald.deliver")
SENDERS = {"email": mail, "slack": slack, "http": http, "inbox": inbox}


def channel_of(record: dict[str, Any]) -> str:
    return record.get("channel") or "email"  # records from before channels are emails


async def send(ctx: dict[str, Any], record: dict[str, Any]) -> Outcome:
    sender = SENDERS[channel_of(record)]
    try:
        prepared = sender.render(ctx, record)
    except RENDER_ERRORS as exc:
        return Outcome("rejected", None, f"rendering failed: {type(exc).__name__}: {exc}", smtp=False)
    except Exception as exc:  # noqa: BLE001 - never lose a notification to a bug: record it, retry
        log.exception("preparing %s failed", record["id"])
        return Outcome("error", None, f"unexpected {type(exc).__name__}: {exc}", smtp=False)
    return await sender.send(ctx, record, prepared)
