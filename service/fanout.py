"""One notification, one delivery per channel: who it goes to on each, and the check that each
channel's part renders before anything is accepted (service.accept writes them)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from service.channels import Addresses, Fallback, address_for, delivery_id, render_payload
from service.models import NotificationIn, iso
from service.templates import RENDER_ERRORS, Catalog, MissingVariables, Template


class Unfit(ValueError):
    """The request cannot go out as asked; `loc` says where (service.accept makes it a 422)."""

    def __init__(self, loc: list[str], msg: str, names: list[str] | None = None) -> None:
        super().__init__(msg)
        self.loc = loc
        self.names = names  # missing template variables


@dataclass(frozen=True)
class Who:
    """The recipient as this notification addresses them."""

    key: str  # what preferences, history and the inbox are keyed by (service.profiles.key_of)
    email: str | None
    name: str | None
    locale: str | None
    recipient_id: str | None
    addresses: Addresses


def resolve(request: NotificationIn, profile: dict[str, Any] | None) -> Who:
    """The request's own addresses win over the profile's."""
    # A recipient without a profile is fine: its inbox needs only the id, the rest come inline.
    stored = profile or {}
    email = request.to.email if request.to else stored.get("email")
    name = (request.to.name if request.to else None) or stored.get("name")
    addresses = Addresses.model_validate({k: stored[k] for k in ("slack", "http") if k in stored})
    addresses = addresses.model_copy(update={k: v for k, v in (("slack", request.slack), ("http", request.http))
                                             if v is not None})
    key = email.lower() if email else (request.recipient or "")
    return Who(key=key, email=email, name=name, locale=request.locale or stored.get("locale"),
               recipient_id=request.recipient, addresses=addresses)


def channels(request: NotificationIn, template: Template) -> tuple[tuple[str, ...], bool]:
    """The channels asked for, and whether each must be deliverable: the ones a request names
    must; of a template's defaults, those the recipient has no address on are left out."""
    named = request.channels is not None
    wanted = tuple(dict.fromkeys(request.channels)) if request.channels else template.default_channels
    missing = [c for c in wanted if c not in template.channels]
    if missing:
        raise Unfit(["body", "channels"], f"template {template.key!r} has no parts for {', '.join(missing)} "
                                          f"(it has: {', '.join(template.channels)})")
    if request.digest is not None and wanted != ("email",):
        if named or "email" not in template.channels:
            raise Unfit(["body", "digest"], "digests are emails: a digest item's only channel is email")
        wanted = ("email",)
    return wanted, named


_FIELD = {"email": "to", "slack": "slack", "http": "http", "inbox": "recipient"}
_NO_ADDRESS = {"inbox": "the inbox needs a recipient id to file the item under"}


def addresses(wanted: tuple[str, ...], who: Who, *, all_needed: bool) -> dict[str, dict[str, Any]]:
    """Each channel's destination. Missing one is a 422 when `all_needed`, else the channel is
    left out, as long as one is left."""
    found: dict[str, dict[str, Any]] = {}
    for channel in wanted:
        address = address_for(channel, email=who.email, addresses=who.addresses, inbox=who.recipient_id)
        if address is not None:
            found[channel] = address
        elif all_needed or (channel == wanted[-1] and not found):
            first = channel if all_needed else wanted[0]
            raise Unfit(["body", _FIELD[first]], _NO_ADDRESS.get(first) or
                        f"no {first} address: give {_FIELD[first]} or a recipient whose profile has one")
    return found


def with_fallback(request: NotificationIn, template: Template, found: dict[str, dict[str, Any]],
                  who: Who, *, named: bool) -> dict[str, dict[str, Any]]:
    """The escalation's channel, last; it must be deliverable. Among a template's defaults, it
    waits as the fallback instead of going at once."""
    if (fallback := request.fallback) is None:
        return found
    if not named:
        found = {c: a for c, a in found.items() if c != fallback.channel}
    if "inbox" not in found:
        raise Unfit(["body", "fallback"], "a fallback escalates an unread inbox item: channels must include inbox")
    if fallback.channel in found:
        raise Unfit(["body", "fallback", "channel"], f"{fallback.channel} is already one of the channels")
    if fallback.channel not in template.channels:
        raise Unfit(["body", "fallback", "channel"], f"template {template.key!r} has no parts for {fallback.channel}")
    return found | addresses((fallback.channel,), who, all_needed=True)


def check_part(catalog: Catalog, request: NotificationIn, channel: str, locale: str | None) -> None:
    """Render a non-email channel's part once now, so a context it cannot use fails here."""
    try:
        render_payload(catalog, request.template, locale, channel, request.context)
    except MissingVariables as exc:
        raise Unfit(["body", "context"], str(exc), exc.names) from None
    except RENDER_ERRORS as exc:
        raise Unfit(["body", "context"], f"the {channel} part cannot render this context: {exc}") from None


def delivery_records(base: dict[str, Any], found: dict[str, dict[str, Any]], *,
                     fallback: Fallback | None = None) -> list[dict[str, Any]]:
    """One record per channel, the first under the notification's id; a fallback is the last."""
    nid = base["id"]
    records = []
    for i, (channel, address) in enumerate(found.items()):
        record = base | {"id": delivery_id(nid, channel, first=i == 0), "channel": channel}
        if channel != "email":
            record |= {"address": address, "message_id": None}
        records.append(record)
    if fallback is not None:
        inbox = next(r for r in records if r["channel"] == "inbox")
        due_ms = base["due_ms"] + fallback.after * 1000
        records[-1] |= {"fallback_of": inbox["id"], "due_ms": due_ms, "status": "scheduled",
                        "send_at": iso(datetime.fromtimestamp(due_ms / 1000, UTC))}
        inbox["fallback"] = records[-1]["id"]
    if len(records) > 1:
        listed = [{"id": r["id"], "channel": r["channel"]} | ({"fallback": True} if r.get("fallback_of") else {})
                  for r in records]
        records = [r | {"notification": nid} for r in records]
        records[0]["deliveries"] = listed
    return records

