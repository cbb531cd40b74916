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


def _summary(name: str, message: EmailMessage) -> Summary:
    return Summary(name=name, sender=str(message["From"] or ""), to=str(message["To"] or ""),
                   subject=str(message["Subject"] or "(no subject)"), date=str(message["Date"] or ""),
                   notification_id=str(message["X-Herald-Notification"] or ""))


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
                   headers=[(k, str(v)) for k, v in message.items()], raw=raw.decode("utf-8", "replace"))


def _body(message: EmailMessage, subtype: str) -> str | None:
    part = message.get_body(preferencelist=(subtype,))
    if part is None or part.get_content_subtype() != subtype:
        return None
    return str(part.get_content())


def clear(directory: Path) -> int:
    files = _files(directory)
    for path in files:
        path.unlink(missing_ok=True)
    return len(files)
