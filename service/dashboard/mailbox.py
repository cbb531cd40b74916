"""The development mail catcher's inbox, read back for the dashboard (like Mailpit, in the box).

The catcher (service.mailcatcher) stores every message it receives as one .eml file; the
dashboard lists them newest first and shows one as HTML, text, headers or raw source.
"""

from __future__ import annotations

import email
import email.policy
import re
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path

MAX_LISTED = 200
_NAME = re.compile(r"^[0-9]{8}-[0-9]{6}-[0-9]{5,}\.eml$")
_NOTIFICATION_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


@dataclass(frozen=True)
class Summary:
    name: str
    sender: str
    to: str
    subject: str
    date: str
    notification_id: str


@dataclass(frozen=True)
class Message:
    summary: Summary
    html: str | None
    text: str | None
    headers: list[tuple[str, str]]
    raw: str


def _files(directory: Path) -> list[Path]:
    if not directory.is_dir():
        return []
    return sorted((p for p in directory.iterdir() if _NAME.match(p.name)), reverse=True)


def _parse(raw: bytes) -> EmailMessage:
    return email.message_from_bytes(raw, policy=email.policy.default)  # type: ignore[return-value]


def _header(message: EmailMessage, name: str) -> str:
    # The catcher keeps whatever it was sent: a header the parser chokes on is shown raw.
    try:
        return str(message[name] or "")
    except Exception:  # noqa: BLE001 - the stdlib's header parser raises IndexError, among others
        return next((str(v) for k, v in message.raw_items() if k.lower() == name.lower()), "")


def _summary(name: str, message: EmailMessage) -> Summary:
    nid = _header(message, "X-Herald-Notification")
    return Summary(name=name, sender=_header(message, "From"), to=_header(message, "To"),
                   subject=_header(message, "Subject") or "(no subject)", date=_header(message, "Date"),
                   notification_id=nid if _NOTIFICATION_ID.match(nid) else "")


def listing(directory: Path, *, search: str = "") -> list[Summary]:
    """Newest first; only the headers are parsed."""
    found = []
    needle = search.strip().lower()
    for path in _files(directory):
        with path.open("rb") as handle:
            head = handle.read(16384).split(b"\r\n\r\n", 1)[0].split(b"\n\n", 1)[0]
        summary = _summary(path.name, _parse(head))
        if not needle or needle in f"{summary.to} {summary.subject} {summary.notification_id}".lower():
            found.append(summary)
            if len(found) == MAX_LISTED:
                break
    return found


def read(directory: Path, name: str) -> Message | None:
    """One message, or None for a name that is not one of the catcher's files."""
    if not _NAME.match(name) or not (directory / name).is_file():
        return None
    raw = (directory / name).read_bytes()
    message = _parse(raw)
    return Message(summary=_summary(name, message), html=_body(message, "html"), text=_body(message, "plain"),
                   headers=[(k, str(v)) for k, v in message.raw_items()], raw=raw.decode("utf-8", "replace"))


def _body(message: EmailMessage, subtype: str) -> str | None:
    try:
        part = message.get_body(preferencelist=(subtype,))
    except Exception:  # noqa: BLE001 - a malformed structure: the Raw view still shows it
        return None
    if part is None or part.get_content_subtype() != subtype:
        return None
    try:
        return str(part.get_content())
    except (LookupError, ValueError, AttributeError):  # an unknown charset, say
        payload = part.get_payload(decode=True)
        return payload.decode("utf-8", "replace") if isinstance(payload, bytes) else None


def clear(directory: Path) -> int:
    files = _files(directory)
    for path in files:
        path.unlink(missing_ok=True)
    return len(files)
