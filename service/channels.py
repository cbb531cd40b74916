"""Channels: where one notification can go besides (or instead of) an email.

A notification names its channels (or takes its template's defaults) and gets one delivery per
channel, each a record of its own with its own attempts, backoff and status: the first channel's
under the notification's id, the others under `<id>~<channel>` (`~` is never in an id or an
idempotency key, so the two cannot collide). The worker picks the sender by the record's
`channel` field (jobs.channels).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

Channel = Literal["email", "slack", "http", "inbox"]
CHANNELS: tuple[str, ...] = ("email", "slack", "http", "inbox")
SEPARATOR = "~"
# The parts a template may have for each channel, in each locale's folder.
PARTS: dict[str, tuple[str, ...]] = {"email": ("subject", "text"), "slack": ("slack",), "http": ("http",),
                                     "inbox": ("inbox",)}
_SLACK_CHANNEL = re.compile(r"^[#@]?[A-Za-z0-9._-]{1,80}$")
Url = Annotated[str, StringConstraints(max_length=2000, pattern=r"^https?://[^\s]+$")]


class SlackAddress(BaseModel):
    """An incoming-webhook URL, or a channel (or user) id for chat.postMessage with SLACK_BOT_TOKEN."""

    model_config = ConfigDict(extra="forbid")

    webhook_url: Url | None = None
    channel: Annotated[str, StringConstraints(pattern=_SLACK_CHANNEL.pattern)] | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> SlackAddress:
        if (self.webhook_url is None) == (self.channel is None):
            raise ValueError("give exactly one of webhook_url or channel")
        return self


class HttpAddress(BaseModel):
    """Where the http channel POSTs the rendered JSON, signed the Standard Webhooks way."""

    model_config = ConfigDict(extra="forbid")

    url: Url


class Addresses(BaseModel):
    """A recipient's addresses on the channels other than email (the email is `to`)."""

    model_config = ConfigDict(extra="forbid")

    slack: SlackAddress | None = None
    http: HttpAddress | None = None


class Fallback(BaseModel):
    """Escalation: send on `channel` `after` seconds, unless the inbox item was read by then."""

    model_config = ConfigDict(extra="forbid")

    after: Annotated[int, Field(ge=1, le=30 * 86400, strict=True)]
    channel: Literal["email", "slack", "http"]


ChannelList = Annotated[list[Channel], Field(min_length=1, max_length=len(CHANNELS))]


def delivery_id(notification_id: str, channel: str, *, first: bool) -> str:
    return notification_id if first else f"{notification_id}{SEPARATOR}{channel}"


def notification_of(delivery: str) -> str:
    """The notification a delivery id belongs to."""
    return delivery.partition(SEPARATOR)[0]


def address_for(channel: str, *, email: str | None, addresses: Addresses, inbox: str | None) -> dict[str, Any] | None:
    """What a delivery on `channel` is sent to, or None when the recipient has no address there."""
    if channel == "email":
        return {"email": email} if email else None
    if channel == "inbox":
        return {"recipient": inbox} if inbox else None
    found = getattr(addresses, channel)
    return found.model_dump(exclude_none=True) if found is not None else None


MAX_PAYLOAD_BYTES = {"slack": 40_000, "http": 1_000_000, "inbox": 64_000}


class PayloadError(ValueError):
    """A channel's part rendered to something that channel cannot send."""


def render_payload(catalog: Any, key: str, locale: str | None, channel: str, context: dict[str, Any], *,
                   notification_id: str | None = None) -> dict[str, Any] | list[Any]:
    """What a non-email channel sends. slack.j2 and inbox.j2 render a JSON object (Block Kit for
    Slack; title, body, url for the inbox) or plain text (Slack mrkdwn; the inbox item's body);
    http.j2 renders JSON. Raises the template errors, MissingVariables or PayloadError."""
    text = catalog.render_part(key, locale, channel, context, notification_id=notification_id)
    if len(text.encode()) > MAX_PAYLOAD_BYTES[channel]:
        raise PayloadError(f"the rendered {channel} message is over {MAX_PAYLOAD_BYTES[channel]} bytes")
    if channel == "http" or text.startswith("{"):
        try:
            payload = json.loads(text)
        except ValueError as exc:
            raise PayloadError(f"{channel}.j2 did not render valid JSON: {exc}") from None
        if channel != "http" and not isinstance(payload, dict):
            raise PayloadError(f"{channel}.j2 must render a JSON object or plain text")
        return _checked(channel, payload)
    return {"text": text} if channel == "slack" else {"body": text}


def _checked(channel: str, payload: Any) -> Any:
    if channel == "slack" and not ({"text", "blocks", "attachments"} & set(payload)):
        raise PayloadError("slack.j2's JSON needs text, blocks or attachments")
    if channel == "inbox" and not ({"title", "body"} & set(payload)):
        raise PayloadError("inbox.j2's JSON needs a title or a body")
    if not isinstance(payload, (dict, list)):
        raise PayloadError("http.j2 must render a JSON object or array")
    return payload


def http_secret(settings: Any) -> str:
    """HTTP_CHANNEL_SECRET, or one derived from SECRET_KEY (GET /v1/channels shows it)."""
    if settings.http_channel_secret:
        return settings.http_channel_secret
    key = hmac.new(settings.secret_key.encode(), b"herald http channel", hashlib.sha256).digest()
    return "whsec_" + base64.b64encode(key).decode()
