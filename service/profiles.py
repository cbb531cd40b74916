"""Recipient profiles: one person's (or one team's) addresses on every channel, under an id of
the product's choosing, so that a notification can name `recipient` instead of addresses."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any

from email_validator.rfc_constants import EMAIL_MAX_LENGTH
from pydantic import AfterValidator, BaseModel, ConfigDict, StringConstraints
from redis.asyncio import Redis

from service import jsonio
from service.addresses import normalize_email
from service.channels import HttpAddress, SlackAddress
from service.keys import PREFIX


def profile_key(recipient_id: str) -> str:
    return f"{PREFIX}profile:{recipient_id}"


class ProfileIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: Annotated[str, StringConstraints(max_length=EMAIL_MAX_LENGTH), AfterValidator(normalize_email)] | None = None
    name: Annotated[str, StringConstraints(max_length=200, pattern=r"^[^\r\n\x00]*$")] | None = None
    locale: Annotated[str, StringConstraints(pattern=r"^[A-Za-z]{2,3}([-_][A-Za-z0-9]{2,8}){0,3}$")] | None = None
    slack: SlackAddress | None = None
    http: HttpAddress | None = None


def key_of(recipient_id: str, profile: dict[str, Any] | None) -> str:
    """What a recipient's preferences, history and inbox are keyed by: the profile's address when
    it has one (so an email's unsubscribe link and the profile agree), else the profile's id."""
    email = (profile or {}).get("email")
    return email.lower() if email else recipient_id


async def put(redis: Redis, recipient_id: str, profile: ProfileIn) -> dict[str, Any]:
    stored = profile.model_dump(mode="json", exclude_none=True)
    await redis.set(profile_key(recipient_id), jsonio.dumps(stored))
    return stored


async def get_many(redis: Redis, ids: Sequence[str]) -> list[dict[str, Any] | None]:
    if not ids:
        return []
    raw = await redis.mget([profile_key(i) for i in ids])
    return [jsonio.loads(r) if r else None for r in raw]


async def get(redis: Redis, recipient_id: str) -> dict[str, Any] | None:
    [found] = await get_many(redis, [recipient_id])
    return found


async def delete(redis: Redis, recipient_id: str) -> bool:
    return bool(await redis.delete(profile_key(recipient_id)))
