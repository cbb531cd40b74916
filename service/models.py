"""Request and response shapes of the HTTP API."""

from __future__ import annotations

import hashlib
import json
import re
from datetime import datetime
from typing import Annotated, Any, Literal

from email_validator.rfc_constants import EMAIL_MAX_LENGTH
from pydantic import (
    AfterValidator, AwareDatetime, BaseModel, BeforeValidator, ConfigDict, Field, PrivateAttr, StringConstraints,
    ValidatorFunctionWrapHandler, WrapValidator, model_validator,
)
from pydantic_core import PydanticCustomError

from service import jsonio
from service.addresses import TEST_TLDS, normalize_email, test_tld  # noqa: F401 - also imported from here
from service.channels import ChannelList, Fallback, HttpAddress, SlackAddress
from service.templates import KEY_RE, LOCALE_RE

IDEMPOTENCY_KEY_PATTERN = r"^[A-Za-z0-9._:-]{1,128}$"
MAX_DELAY_SECONDS = 366 * 86400
STATUSES = ("scheduled", "queued", "sending", "retrying", "sent", "failed", "cancelled", "suppressed", "digested",
            "bounced", "complained")
MAX_CONTEXT_BYTES = 64 * 1024
MAX_CONTEXT_DEPTH = 32


def _single_line(value: str) -> str:
    if any(c in value for c in "\r\n\0"):
        raise ValueError("must be a single line")
    _utf8(value)
    return value


def _utf8(value: str) -> bytes:
    try:
        return value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("must be valid Unicode text (no lone surrogates)") from None


# A profile's id: an idempotency key's characters, never an address's `@`.
RecipientId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9._:-]{1,128}$")]
Email = Annotated[str, StringConstraints(max_length=EMAIL_MAX_LENGTH), AfterValidator(normalize_email)]
IdempotencyKey = Annotated[str, StringConstraints(pattern=IDEMPOTENCY_KEY_PATTERN)]


class Recipient(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: Email
    name: Annotated[str, StringConstraints(max_length=200), AfterValidator(_single_line)] | None = None
    _bare: bool = PrivateAttr(default=False)  # given as a bare address, not as an object


def _recipient(value: Any, handler: ValidatorFunctionWrapHandler) -> Recipient:
    """`to` is an address or an object: one error, where the address is, instead of one per
    form a union of the two would give."""
    if isinstance(value, str):
        if len(value) > EMAIL_MAX_LENGTH:
            raise PydanticCustomError("value_error", "invalid email address: longer than {limit} characters",
                                      {"limit": EMAIL_MAX_LENGTH})
        recipient = Recipient.model_construct(email=normalize_email(value), name=None)
        recipient._bare = True
        return recipient
    if isinstance(value, dict):
        return handler(value)
    raise PydanticCustomError("recipient_type", "must be an email address, or an object with email and name")


To = Annotated[Recipient, WrapValidator(_recipient, json_schema_input_type=Email | Recipient)]


def _depth(value: Any, limit: int) -> int:
    if limit < 0:
        return 0
    if isinstance(value, dict):
        return 1 + max((_depth(v, limit - 1) for v in value.values()), default=0)
    if isinstance(value, list):
        return 1 + max((_depth(v, limit - 1) for v in value), default=0)
    return 0


def _check_context(context: dict[str, Any]) -> dict[str, Any]:
    """Context is data for templates: bounded in size and depth, and valid UTF-8 throughout."""
    if _depth(context, MAX_CONTEXT_DEPTH + 1) > MAX_CONTEXT_DEPTH:
        raise ValueError(f"context is nested deeper than {MAX_CONTEXT_DEPTH} levels")
    encoded = _utf8(json.dumps(context, ensure_ascii=False, allow_nan=False, default=str))
    if len(encoded) > MAX_CONTEXT_BYTES:
        raise ValueError(f"context is larger than {MAX_CONTEXT_BYTES} bytes")
    return context


_RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}")


def _rfc3339(value: Any) -> Any:
    """Times are RFC 3339 text with an offset; a bare number is not taken as a Unix time."""
    if not isinstance(value, str) and not isinstance(value, datetime):
        raise ValueError("must be an RFC 3339 date-time with an offset")
    if isinstance(value, str) and not _RFC3339.match(value):
        raise ValueError("must be an RFC 3339 date-time with an offset, e.g. 2026-12-01T09:00:00+01:00")
    return value


Timestamp = Annotated[AwareDatetime, BeforeValidator(_rfc3339)]


def _not_bool(value: Any) -> Any:
    if isinstance(value, bool):
        raise ValueError("must be a number of seconds")
    return value


Context = Annotated[dict[str, Any], AfterValidator(_check_context)]


class NotificationIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    template: Annotated[str, StringConstraints(max_length=128, pattern=KEY_RE.pattern)]
    to: To | None = None
    recipient: RecipientId | None = None  # a profile (PUT /v1/recipients/{id}); `to`, slack, http override it
    channels: ChannelList | None = None  # None: the template's default channels
    slack: SlackAddress | None = None
    http: HttpAddress | None = None
    fallback: Fallback | None = None  # with an inbox delivery: another channel if still unread
    context: Context = Field(default_factory=dict)
    locale: Annotated[str, StringConstraints(pattern=LOCALE_RE.pattern)] | None = None
    idempotency_key: IdempotencyKey | None = None
    delay: Annotated[float, BeforeValidator(_not_bool), Field(gt=0, le=MAX_DELAY_SECONDS)] | None = None
    send_at: Timestamp | None = None
    digest: Literal["daily", "weekly"] | None = None

    @model_validator(mode="after")
    def _one_schedule(self) -> NotificationIn:
        if self.delay is not None and self.send_at is not None:
            raise ValueError("give either delay or send_at, not both")
        if self.digest is not None and (self.delay is not None or self.send_at is not None):
            raise ValueError("a digest item goes out with the recipient's digest: no delay or send_at")
        if self.to is None and self.recipient is None and self.slack is None and self.http is None:
            raise PydanticCustomError("missing", "give to (an email address), recipient (a profile's id), "
                                                 "or a slack or http address")
        return self

    @property
    def to_loc(self) -> list[str]:
        """Where an error about the address points, in the form the caller gave it."""
        return ["body", "to"] if self.to is None or self.to._bare else ["body", "to", "email"]

    def fingerprint(self) -> str:
        """Identifies the request for idempotency: the same key with another request is a conflict."""
        # Fields added later count only when given, so a request's fingerprint never changes.
        later = {name for name in ("recipient", "channels", "slack", "http", "fallback") if getattr(self, name) is None}
        body = self.model_dump(mode="json", exclude={"idempotency_key", *later})
        canonical = json.dumps(body, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()


class RescheduleIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    delay: Annotated[float, BeforeValidator(_not_bool), Field(gt=0, le=MAX_DELAY_SECONDS)] | None = None
    send_at: Timestamp | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> RescheduleIn:
        if (self.delay is None) == (self.send_at is None):
            raise ValueError("give exactly one of delay or send_at")
        return self


class Attempt(BaseModel):
    n: int
    at: str
    outcome: str
    smtp_code: int | None = None
    detail: str | None = None
    duration_ms: int | None = None


class Event(BaseModel):
    """What was reported after the SMTP server's answer: a bounce, a complaint, a delay."""

    type: str
    at: str
    source: str
    detail: dict[str, Any] = Field(default_factory=dict)


class Delivery(BaseModel):
    """One channel's delivery of a notification that went out on several."""

    id: str
    channel: str
    status: str | None = None
    error: str | None = None
    fallback: bool = False  # sent only if the inbox item is unread by then


class NotificationOut(BaseModel):
    id: str
    template: str
    template_version: int
    locale: str
    category: str
    channel: str = "email"
    to: str | None
    to_name: str | None
    recipient: str | None = None
    address: dict[str, Any] | None = None  # where a non-email channel's delivery goes
    notification: str | None = None  # for one channel's delivery: the notification it belongs to
    fallback_of: str | None = None  # an escalation: the inbox delivery whose reading cancels it
    deliveries: list[Delivery] = Field(default_factory=list)
    status: str
    created_at: str
    send_at: str | None
    sent_at: str | None
    idempotency_key: str | None
    actor: str | None
    message_id: str | None
    attempts: list[Attempt]
    events: list[Event] = Field(default_factory=list)
    error: str | None

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> NotificationOut:
        to = record["to"] if isinstance(record["to"], dict) else jsonio.loads(record["to"])
        return cls(
            id=record["id"],
            template=record["template"],
            template_version=int(record.get("template_version") or 1),
            locale=record["locale"],
            category=record["category"],
            channel=record.get("channel") or "email",
            to=to.get("email"),
            to_name=to.get("name"),
            recipient=record.get("recipient") or None,
            address=_json_field(record.get("address")),
            notification=record.get("notification") or None,
            fallback_of=record.get("fallback_of") or None,
            deliveries=[Delivery(**d) for d in _json_field(record.get("deliveries")) or []],
            status=record["status"],
            created_at=record["created_at"],
            send_at=record.get("send_at") or None,
            sent_at=record.get("sent_at") or None,
            idempotency_key=record.get("idempotency_key") or None,
            actor=record.get("actor") or None,
            message_id=record.get("message_id") or None,
            attempts=[Attempt(**a) for a in record.get("attempts", [])],
            events=[Event(**e) for e in record.get("events", [])],
            error=record.get("error") or None,
        )


def _json_field(value: Any) -> Any:
    """A record's JSON field: decoded when read from Redis, as written when just created."""
    if not value:
        return None
    return jsonio.loads(value) if isinstance(value, str) else value


class PreviewIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    context: Context = Field(default_factory=dict)
    locale: Annotated[str, StringConstraints(pattern=LOCALE_RE.pattern)] | None = None


class PreviewOut(BaseModel):
    template: str
    locale: str
    subject: str | None  # None: the template has no email parts
    text: str | None
    html: str | None
    channels: dict[str, Any] = Field(default_factory=dict)  # each other channel's payload, as it would be sent


def iso(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def missing_detail(names: list[str]) -> list[dict[str, Any]]:
    return [
        {"loc": ["body", "context", name], "msg": f"missing template variable {name!r}", "type": "missing"}
        for name in names
    ]
