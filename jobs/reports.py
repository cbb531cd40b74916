"""One message received by the inbound SMTP server, turned into `Report`s.

A DSN (RFC 3464) gives one report per recipient block, an ARF complaint (RFC 5965) one report,
and a bounce some MTA wrote in its own words is read by jobs.bounce_text's heuristics. The way
back to the notification is the returned copy of Herald's message: its X-Herald-Notification and
Message-ID headers. Anything else, and anything that fails here, is one `unparsed` report: the
caller records it, so no received message is ever silently dropped.
"""

from __future__ import annotations

import email
import email.policy
import hashlib
import re
from datetime import UTC
from email.message import Message
from email.parser import HeaderParser
from email.utils import parsedate_to_datetime

from jobs import bounce_text, mime
from jobs.mime import addresses, children, content_type, header, header_values
from service.reports import Report, ReportType, classify_dsn

_DSN_TYPES = ("message/delivery-status", "message/global-delivery-status")
_ARF_TYPES = ("message/feedback-report",)
_COMPLAINTS = frozenset({"abuse", "fraud", "virus", "other"})
_MAX_REPORTS = 100
_MAX_DEPTH = 3  # a bounce forwarded inside a forwarded bounce is as deep as it gets
_LIMITS = {"diagnostic": 1000, "email": 320}
# RFC 3463's subject digit is 0-7, which keeps version numbers ("Exim 4.97.1") out.
_STATUS = re.compile(r"(?<![\d.])[245]\.[0-7]\.\d{1,3}(?![\d.])")
_TYPE_PREFIX = re.compile(r"^\s*[A-Za-z][\w.-]{0,30}\s*;\s*")  # "rfc822;", "smtp;", "dns;"
_MESSAGE_ID = re.compile(r"<[^<>\s]{1,900}>")
_REDACTED = re.compile(r"^(?:x+|\*+|_+|redacted|\[redacted\]|masked|hidden)$", re.IGNORECASE)
_Blocks = list[Message]


def parse_report(raw: bytes) -> list[Report]:
    """The reports one received message holds: at least one, and never an exception."""
    try:
        msg = email.message_from_bytes(raw, policy=email.policy.default)
        return _parse(msg, _own_key(msg, raw), 0)
    except Exception as exc:  # a report Herald cannot read is still recorded, as unparsed
        return [_failed(raw, exc)]


def _failed(raw: bytes, exc: Exception) -> Report:
    digest = hashlib.sha256(raw if isinstance(raw, bytes) else repr(raw).encode()).hexdigest()
    return _report(digest, "unparsed", "mail", diagnostic=f"unreadable message ({type(exc).__name__}: {exc})"[:300])


def _own_key(msg: Message, raw: bytes) -> str:
    """What identifies the received message: its Message-ID, else a hash of its bytes."""
    own = _clean(_message_id(header(msg, "Message-ID")), 998)  # the reference is stored and shown
    if own is None:
        return hashlib.sha256(raw).hexdigest()
    return own if len(own) <= 150 else hashlib.sha256(own.encode("utf-8", "replace")).hexdigest()


def _parse(msg: Message, key: str, depth: int) -> list[Report]:
    found = _report_part(msg)
    if found and content_type(found[1]) in _DSN_TYPES:
        return _dsn(msg, *found, key=key, depth=depth)
    if found:
        return _arf(msg, *found, key=key)
    return _mail(msg, key, depth)


def _report_part(msg: Message) -> tuple[Message, Message] | None:
    """The multipart holding a delivery-status or feedback-report part, and that part. Found at
    any depth, so that a bounce forwarded as an attachment is read like the bounce itself."""
    for part in msg.walk():
        for child in children(part) if part.is_multipart() else ():
            if content_type(child) in _DSN_TYPES + _ARF_TYPES:
                return part, child
    return None


# -- RFC 3464 delivery status notifications ------------------------------------------------------

def _dsn(msg: Message, container: Message, part: Message, *, key: str, depth: int) -> list[Report]:
    blocks = _blocks(part)
    recipients = [block for block in blocks if _is_recipient(block)][:_MAX_REPORTS]
    per_message = next((block for block in blocks if not _is_recipient(block)), Message())
    notification_id, message_id = _ways_back(_original(msg, container), header(per_message, "X-Original-Message-ID"))
    if not recipients:
        # The human-readable part usually says the same; failing that, keep what was seen.
        text_reports = _mail(msg, key, depth, assume_bounce=True)
        if text_reports[0].type != "unparsed":
            return text_reports
        return [_report(key, "unparsed", "dsn", notification_id=notification_id, message_id=message_id,
                        diagnostic=bounce_text.seen("a delivery-status part without recipient fields", msg))]
    mta = _untyped(header(per_message, "Reporting-MTA"))
    # Arrival-Date is when Herald's message reached the MTA; a delay warning is written hours
    # later, so the report's own Date (of the bounce itself, when it was forwarded) comes first.
    written = _rfc3339(header(container, "Date") or header(msg, "Date"))
    reported = written or _rfc3339(header(per_message, "Arrival-Date"))
    return [_recipient_report(block, key, notification_id=notification_id, message_id=message_id,
                              reporting_mta=mta, reported=reported) for block in recipients]


def _recipient_report(block: Message, key: str, *, reported: str | None, **ways: str | None) -> Report:
    action = (header(block, "Action") or "").lower() or None
    diagnostic = _diagnostic(header(block, "Diagnostic-Code"))
    status = _status_of(header(block, "Status"), diagnostic)
    address = _address(_untyped(header(block, "Final-Recipient"))) or _address(
        _untyped(header(block, "Original-Recipient")))
    return _report(key, classify_dsn(action, status), "dsn", email=address, action=action, status=status,
                   diagnostic=diagnostic, at=_rfc3339(header(block, "Last-Attempt-Date")) or reported, **ways)


def _blocks(part: Message) -> _Blocks:
    """The header blocks of a delivery-status or feedback-report part. The email package parses
    a plain message/delivery-status into blocks; an encoded one, and the other types, arrive as
    a sub-message or raw text that is split into blocks here and read with HeaderParser."""
    payload = part.get_payload()
    blocks = [block for block in payload if isinstance(block, Message)] if isinstance(payload, list) else []
    encoding = (header(part, "Content-Transfer-Encoding") or "").lower()
    if content_type(part) == "message/delivery-status" and encoding not in ("base64", "quoted-printable"):
        return [block for block in blocks if len(block)]
    text = _decoded("\n\n".join(_block_text(block) for block in blocks) if blocks else str(payload), encoding)
    parser = HeaderParser(policy=email.policy.default)
    chunks = re.split(r"\n[ \t]*\n", text.replace("\r\n", "\n").strip("\n"))
    return [block for chunk in chunks[:_MAX_REPORTS + 1] if len(block := parser.parsestr(chunk + "\n\n"))]


def _block_text(block: Message) -> str:
    head = "\n".join(f"{name}: {value}" for name, value in block.raw_items())
    body = block.get_payload()
    return "\n\n".join(filter(None, [head, body if isinstance(body, str) else ""]))


def _decoded(text: str, encoding: str) -> str:
    if encoding not in ("base64", "quoted-printable"):
        return text
    carrier = Message()
    carrier["Content-Transfer-Encoding"] = encoding
    carrier.set_payload(text.encode("ascii", "surrogateescape").decode("latin-1"))
    decoded = carrier.get_payload(decode=True)
    return decoded.decode("utf-8", "replace") if isinstance(decoded, bytes) else text


def _is_recipient(block: Message) -> bool:
    return any(header(block, name) for name in ("Final-Recipient", "Original-Recipient", "Action"))


# -- RFC 5965 feedback reports ---------------------------------------------------------------------

def _arf(msg: Message, container: Message, part: Message, *, key: str) -> list[Report]:
    fields = Message()
    for block in _blocks(part):
        for name, value in block.raw_items():
            fields[name] = value
    feedback_type = (header(fields, "Feedback-Type") or "").lower() or None
    report_type: ReportType = "complained" if feedback_type in _COMPLAINTS else "unparsed"
    original = _original(msg, container)
    notification_id, message_id = _ways_back(original, None)
    recipients = [_address(addr) for _, addr in addresses(header_values(fields, "Original-Rcpt-To"))]
    if original is not None and not any(recipients):
        recipients = [_address(addr) for _, addr in addresses(header_values(original, "To"))]
    said = ("User-Agent", "Reported-Domain", "Source-IP", "Original-Mail-From")
    return [_report(key, report_type, "arf", email=next(filter(None, recipients), None), feedback_type=feedback_type,
                    notification_id=notification_id, message_id=message_id,
                    reporting_mta=_untyped(header(fields, "Reporting-MTA")),
                    at=_complained_at(msg, container, fields),
                    diagnostic="; ".join(f"{name}: {value}" for name in said if (value := header(fields, name))))]


def _complained_at(msg: Message, container: Message, fields: Message) -> str | None:
    """When the recipient complained: the report's Date. Arrival-Date is when Herald's message
    arrived, often days before the recipient pressed "spam"; it stands in only without a Date."""
    written = header(container, "Date") or header(msg, "Date")
    return _rfc3339(written) or _rfc3339(header(fields, "Arrival-Date") or header(fields, "Received-Date"))


# -- bounces written for people ----------------------------------------------------------------------

def _mail(msg: Message, key: str, depth: int, *, assume_bounce: bool = False) -> list[Report]:
    attached = mime.attached(msg)
    if attached is not None and depth < _MAX_DEPTH and (bounce := bounce_text.forwarded_bounce(attached)):
        return _parse(bounce, key, depth + 1)
    found = bounce_text.read(msg, attached, assume_bounce=assume_bounce)
    notification_id, message_id = _ways_back(found.original, _message_id(header(msg, "In-Reply-To")))
    ways = {"notification_id": notification_id, "message_id": message_id, "at": _rfc3339(header(msg, "Date"))}
    if not found.failures:
        return [_report(key, "unparsed", "mail", diagnostic=found.seen, **ways)]
    return [_report(key, "bounced" if f.bounced else "soft_bounce", "mail", email=_address(f.email),
                    status=f.status, diagnostic=f.diagnostic, **ways) for f in found.failures[:_MAX_REPORTS]]


# -- the way back, and the fields -------------------------------------------------------------------

def _original(msg: Message, container: Message) -> Message | None:
    """The returned message's headers: a part beside the report, else any attached, else inline."""
    for part in children(container) + ([] if (found := mime.attached(msg)) is None else [found]):
        if (headers := mime.original_headers(part)) is not None:
            return headers
    return bounce_text.inline_original(mime.human_text(msg))[1]


def _ways_back(original: Message | None, fallback_message_id: str | None) -> tuple[str | None, str | None]:
    if original is None:
        return None, fallback_message_id
    notification_id = header(original, "X-Herald-Notification")
    return notification_id, _message_id(header(original, "Message-ID")) or fallback_message_id


def _message_id(value: str | None) -> str | None:
    if not value:
        return None
    found = _MESSAGE_ID.search(value)
    return found.group() if found else ("".join(value.split()) or None)


def _untyped(value: str | None) -> str | None:
    """A DSN field without its type ("rfc822; bob@example.net" → "bob@example.net")."""
    if not value:
        return None
    return _TYPE_PREFIX.sub("", value, count=1).strip() or None


def _address(value: str | None) -> str | None:
    address = (value or "").strip().strip("<>").strip().lower()
    local, at, domain = address.rpartition("@")
    if not (local and at and domain) or any(c.isspace() for c in address) or _REDACTED.match(local):
        return None
    return address


def _status(value: str | None) -> str | None:
    found = _STATUS.search(value or "")
    return found.group() if found else None


def _status_of(field: str | None, diagnostic: str | None) -> str | None:
    """The Status field, unless it is its class's catch-all (Exim writes 5.0.0 for every
    failure) and the remote server's words give a specific code of the same class."""
    status, said = _status(field), _status(diagnostic)
    if status and said and status.endswith(".0.0") and said[0] == status[0]:
        return said
    return status or said


def _diagnostic(value: str | None) -> str | None:
    """The remote server's words: without "smtp;", and a multi-line reply ("550-5.1.1 …
    550-5.1.1 …") without the code repeated on each line."""
    text = _untyped(value)
    if not text:
        return None
    multi = re.match(r"(\d{3})-(\d\.\d{1,3}\.\d{1,3}\s)?", text)
    if multi:
        repeated = re.escape(multi.group(1)) + r"[ -]" + re.escape((multi.group(2) or "").strip())
        text = multi.group(1) + " " + re.sub(r"\s" + repeated + r"(?=\s|$)", " ", text[4:])
    return " ".join(text.split())[:1000]


def _rfc3339(value: str | None) -> str | None:
    if not value:
        return None
    try:
        moment = parsedate_to_datetime(value)
        moment = moment if moment.tzinfo else moment.replace(tzinfo=UTC)  # "-0000": UTC, source unknown
        return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    except (TypeError, ValueError, IndexError, OverflowError):
        return None


def _report(key: str, report_type: ReportType, source: str, **fields: str | None) -> Report:
    clean = {name: _clean(value, _LIMITS.get(name, 998)) for name, value in fields.items()}
    recipient = clean.get("email") or "-"
    if len(recipient) > 128:  # the reference stays under 300 characters
        recipient = hashlib.sha256(recipient.encode()).hexdigest()
    return Report(type=report_type, source=source, reference=f"{key}|{recipient}|{report_type}", **clean)


def _clean(value: str | None, limit: int) -> str | None:
    """Valid UTF-8 on one line, without C0 or C1 controls: raw 8-bit headers come back from the
    email package as lone surrogates, which no JSON encoder accepts; raw bytes that are not
    UTF-8 are most often Windows-1252."""
    if value is None:
        return None
    try:
        text = value.encode("utf-8", "surrogateescape").decode("utf-8")
    except UnicodeEncodeError:  # a surrogate that no raw byte became
        text = value.encode("utf-8", "surrogatepass").decode("utf-8", "replace")
    except UnicodeDecodeError:
        text = value.encode("utf-8", "surrogateescape").decode("cp1252", "replace")
    return " ".join(re.sub(r"[\x00-\x1f\x7f-\x9f]", " ", text).split())[:limit] or None
