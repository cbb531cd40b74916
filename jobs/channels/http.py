"""The http channel: POST the rendered JSON, signed the Standard Webhooks way, so the receiver
verifies it with any of that specification's libraries. The `webhook-id` is the delivery's id,
the same on every try, so a receiver that saw it already can say 2xx and do nothing."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from standardwebhooks import Webhook

from jobs.channels import web
from jobs.smtp import Outcome
from service import jsonio
from service.channels import render_payload


def render(ctx: dict[str, Any], record: dict[str, Any]) -> Any:
    return render_payload(ctx["catalog"], record["template"], record["locale"], "http",
                          jsonio.loads(record["context"]), notification_id=record["id"])


async def send(ctx: dict[str, Any], record: dict[str, Any], payload: Any) -> Outcome:
    body = jsonio.dumps(payload).encode()
    now = datetime.now(UTC)
    headers = {"webhook-id": record["id"], "webhook-timestamp": str(int(now.timestamp())),
               "webhook-signature": Webhook(ctx["http_channel_secret"]).sign(record["id"], now, body),
               "x-herald-notification": record.get("notification") or record["id"]}
    answer = await web.post(ctx, jsonio.loads(record["address"])["url"], body, headers)
    return answer if isinstance(answer, Outcome) else web.by_status(answer)
