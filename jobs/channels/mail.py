"""The email channel: render the three parts, write the MIME message, hand it to the SMTP server."""

from __future__ import annotations

from typing import Any

from jobs.message import build_message
from jobs.smtp import Outcome
from service import jsonio, tokens, verp
from service.templates import ALWAYS_SENT


def render(ctx: dict[str, Any], record: dict[str, Any]) -> bytes:
    settings = ctx["settings"]
    to = jsonio.loads(record["to"])
    unsubscribe_url = _unsubscribe_url(settings, to["email"], record["category"])
    rendered = ctx["catalog"].render(
        record["template"], record["locale"], jsonio.loads(record["context"]),
        notification_id=record["id"], unsubscribe_url=unsubscribe_url,
    )
    return build_message(
        notification_id=record["id"],
        message_id=record["message_id"],
        mail_from=settings.mail_from,
        to_email=to["email"],
        to_name=to.get("name"),
        rendered=rendered,
        unsubscribe_url=unsubscribe_url,
        list_id=f"{record['template']}.{settings.mail_domain}" if unsubscribe_url else None,
    )


async def send(ctx: dict[str, Any], record: dict[str, Any], message: bytes) -> Outcome:
    to = jsonio.loads(record["to"])
    outcome = await ctx["mailer"].send(message, sender=_envelope_sender(ctx, record), recipient=to["email"])
    if ctx.get("throttle") is not None:
        await ctx["throttle"].observe(outcome)
    return outcome


def _envelope_sender(ctx: dict[str, Any], record: dict[str, Any]) -> str:
    """MAIL FROM: with a bounce address, one that names the notification (service.verp)."""
    settings = ctx["settings"]
    if settings.bounce_address is None:
        return ctx["envelope_from"]
    return verp.envelope_sender(settings.bounce_address, settings.secret_key, record["message_id"])


def _unsubscribe_url(settings: Any, email: str, category: str) -> str | None:
    if category in ALWAYS_SENT:
        return None
    return f"{settings.public_url}/u/{tokens.make(settings.secret_key, email=email, category=category)}"
