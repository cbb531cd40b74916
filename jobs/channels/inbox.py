"""The inbox channel: file the rendered item in the recipient's in-app inbox (service.inbox),
which tells any open stream at once. Nothing outside Herald can refuse it."""

from __future__ import annotations

from typing import Any

from jobs.smtp import Outcome
from service import inbox, jsonio
from service.channels import render_payload


def render(ctx: dict[str, Any], record: dict[str, Any]) -> Any:
    return render_payload(ctx["catalog"], record["template"], record["locale"], "inbox",
                          jsonio.loads(record["context"]), notification_id=record["id"])


async def send(ctx: dict[str, Any], record: dict[str, Any], payload: Any) -> Outcome:
    recipient = jsonio.loads(record["address"])["recipient"]
    await inbox.file(ctx["store"].redis, recipient, record["id"], payload, retention=ctx["store"].retention)
    return Outcome("sent", None, f"in {recipient}'s inbox", smtp=False)
