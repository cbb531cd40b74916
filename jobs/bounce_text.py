"""Bounces that are not RFC 3464 reports: what an MTA wrote for a person to read ("Hi. This is
the qmail-send program…", Exim's "Mail delivery failed", old Exchange NDRs), read with a few
heuristics. jobs.reports turns what is found here into `Report`s.

The heuristics are deliberately narrow: an address counts as bounced only when an SMTP reply
code (550) or enhanced status (5.1.1) is written near it, and only in the explanation, before
the copy of the original message, whose headers name Herald's own sender. Guessing wrong
suppresses someone's address; guessing nothing only records the message as `unparsed`.
"""

from __future__ import annotations

import re
from email.message import Message
from email.parser import HeaderParser
from email.policy import default as default_policy
from typing import Literal, NamedTuple

from jobs.mime import (
    HEADER_TYPES, MAX_TEXT, MESSAGE_TYPES, addresses, children, content_type, header, header_values, human_text,
    original_headers,
)

Kind = Literal["bounce", "auto-reply", "other"]

_WINDOW = 600  # how far after an address its SMTP reply is looked for

# Bounded repeats: an unbounded local part makes a long run of letters quadratic to scan.
ADDRESS = re.compile(r"(?<![\w.%+'=-])[\w.%+'=!#$&*/?^`{|}~-]{1,64}@[A-Za-z0-9-]{1,63}(?:\.[A-Za-z0-9-]{1,63}){1,8}")
# A reply code ("550", "#550", "smtp;550") and its enhanced status, or an enhanced status alone
# ("(#5.1.1)"). RFC 3463's subject digit is 0-7, which keeps version numbers like 4.97.1 out.
_CODE = re.compile(
    r"(?<![\w./-])#?(?P<basic>[45]\d\d)(?=[ -]|$)(?:[ -]#?(?P<enhanced>[245]\.[0-7]\.\d{1,3})(?![\d.]))?"
    r"|(?<![\w./-])#?(?P<alone>[245]\.[0-7]\.\d{1,3})(?![\d.])",
    re.MULTILINE,
)
# Lines of a copied header block (a forwarded bounce's own From/To) name no bounced recipient.
_HEADER_LINE = re.compile(r"^[ \t>]*(?:from|to|cc|bcc|sender|reply-to|return-path|date|subject)[ \t]*:.*$",
                          re.IGNORECASE | re.MULTILINE)
_SEPARATOR = re.compile(
    r"^[ \t>*_-]*(?:this is a copy of the message|below this line is a copy of the message|"
    r"original message (?:follows|headers)|the original message (?:headers|follows)|"
    r"(?:the )?headers? of the original message|unsent message below|undelivered message|returned message)",
    re.IGNORECASE | re.MULTILINE,
)
_ID_LINE = re.compile(r"^(?:> ?)?(?:message-id|x-herald-notification)[ \t]*:", re.IGNORECASE | re.MULTILINE)
_HEADERISH = re.compile(r"^[!-9;-~]{1,76}:|^[ \t]+\S")
_DAEMONS = ("mailer-daemon", "mailerdaemon", "mail-daemon", "postmaster", "mdaemon")
_BOUNCE_SUBJECT = re.compile(
    r"undeliver|returned mail|returned to sender|failure notice|non-?delivery|could not be delivered|"
    r"delivery (?:status notification|failure|failed|has failed|problem|notification)|"
    r"mail delivery (?:failed|failure|system|subsystem)|nicht zustellbar|non remis",
    re.IGNORECASE,
)
_BOUNCE_TEXT = re.compile(
    r"qmail-send program|could not be delivered|delivery has failed|the following address\S* failed|"
    r"permanent (?:fatal )?error|(?:was|wasn't|was not) delivered|undeliverable|returned to sender",
    re.IGNORECASE,
)
_AUTO_SUBJECT = re.compile(r"^\W*(?:out of (?:the )?office|automatic reply|auto(?:matic)?[- ]?re(?:ply|sponse)|"
                           r"auto:|abwesenheit|away from)", re.IGNORECASE)


class Failure(NamedTuple):
    email: str | None
    status: str | None  # the enhanced status, where one is written
    bounced: bool  # a 5xx (permanent) reply, else 4xx
    diagnostic: str


class Found(NamedTuple):
    failures: list[Failure]
    original: Message | None  # the returned message's headers
    seen: str  # what the message was, for an unparsed report


def read(msg: Message, attached: Message | None, *, assume_bounce: bool = False) -> Found:
    """The failures a bounce written for people states, and the original's headers."""
    text = human_text(msg)
    cut, inline = inline_original(text)
    original = original_headers(attached) if attached is not None else inline
    found = kind(msg, text)
    if not (assume_bounce or found == "bounce"):
        return Found([], original, seen("an auto-reply" if found == "auto-reply" else "not a delivery report", msg, text))
    failures = find_failures(text[:cut], _own_addresses(msg, original))
    if not failures and (code := find_code(text[:cut])) and original is not None:
        # A reply code but no address in the text: Herald writes to one recipient per message.
        to = [address for _, address in addresses(header_values(original, "To"))]
        failures = [code._replace(email=to[0])] if len(to) == 1 else []
    return Found(failures, original, seen("a bounce without a recipient and SMTP code", msg, text))


def _own_addresses(msg: Message, original: Message | None) -> set[str]:
    """Addresses that are never the bounced recipient: the bounce's own sender and recipient
    (Herald's bounce address) and the original's sender (Herald's From)."""
    fields = [(msg, "From"), (msg, "To"), (msg, "Cc"), (msg, "Return-Path")]
    fields += [(original, name) for name in ("From", "Sender", "Reply-To", "Return-Path") if original is not None]
    values = [value for headers, name in fields for value in header_values(headers, name)]
    return {address.lower() for _, address in addresses(values) if address}


def seen(what: str, msg: Message, text: str | None = None) -> str:
    """What an unparsed message was: `what`, its subject and the start of its text."""
    text = human_text(msg) if text is None else text
    subject = header(msg, "Subject") or "(no subject)"
    return f"{what}: {subject}: {' '.join(text[:2000].split())}"[:300]


def forwarded_bounce(part: Message) -> Message | None:
    """The attached message, if it is a bounce rather than Herald's own returned message."""
    sub = children(part) if content_type(part) in MESSAGE_TYPES else []
    if not sub or header(sub[0], "X-Herald-Notification"):
        return None
    return sub[0] if kind(sub[0], human_text(sub[0])) == "bounce" else None


def kind(msg: Message, text: str) -> Kind:
    """Whether a message that is not a multipart/report is a bounce, an auto-reply or neither.
    Exim's bounces say `Auto-Submitted: auto-replied` too, so a mail daemon's word comes first."""
    if _daemon_sender(msg) or header(msg, "X-Failed-Recipients"):
        return "bounce"
    if _auto_reply(msg):
        return "auto-reply"
    if _BOUNCE_SUBJECT.search(header(msg, "Subject") or "") or _BOUNCE_TEXT.search(text[:5000]):
        return "bounce"
    return "other"


def _daemon_sender(msg: Message) -> bool:
    sender = (header(msg, "From") or "").lower()
    local = (ADDRESS.findall(sender) or [""])[0].partition("@")[0]
    # Office 365 signs its NDRs "MicrosoftExchange<hex>@tenant".
    return local in _DAEMONS or local.startswith("microsoftexchange") or "mail delivery" in sender


def _auto_reply(msg: Message) -> bool:
    auto_submitted = (header(msg, "Auto-Submitted") or "").lower()
    flagged = any((header(msg, name) or "no").lower() != "no" for name in ("X-Autoreply", "X-Autorespond"))
    return (auto_submitted.startswith("auto-replied") or flagged
            or (header(msg, "Precedence") or "").lower() == "auto_reply"
            or bool(_AUTO_SUBJECT.search(header(msg, "Subject") or "")))


def inline_original(text: str) -> tuple[int, Message | None]:
    """Where the copy of the original message starts in `text` (len(text) when there is none)
    and that copy's headers, if a block holding its Message-ID or X-Herald-Notification is found."""
    separator = _SEPARATOR.search(text)
    cut = separator.start() if separator else len(text)
    found = _ID_LINE.search(text, separator.start() if separator else 0) or _ID_LINE.search(text)
    if found is None:
        return cut, None
    start, block = _header_block(text, found.start())
    return min(cut, start), HeaderParser(policy=default_policy).parsestr(block + "\n\n", headersonly=True)


def _header_block(text: str, at: int) -> tuple[int, str]:
    """The header block around the line starting at `at`: back to its first header line, on to
    the blank line after it; quoted ("> ") blocks are unquoted."""
    before = text[:at].split("\n")[:-1]
    after = text[at:].split("\n\n", 1)[0].split("\n")
    quoted = after[0].startswith(">")
    unquote = (lambda line: re.sub(r"^> ?", "", line)) if quoted else (lambda line: line)
    lines = [unquote(line) for line in after]
    start = at
    while before and (line := unquote(before[-1])).strip() and _HEADERISH.match(line):
        lines.insert(0, line)
        start -= len(before.pop()) + 1
    return start, "\n".join(lines)


def find_failures(text: str, exclude: set[str]) -> list[Failure]:
    """Each address written in `text` with an SMTP failure written near it."""
    occurrences = [(m.start(), m.end(), m.group().lower()) for m in ADDRESS.finditer(text)]
    # An address written only on From:/To:-style lines belongs to a quoted header block.
    outside = {address for start, _, address in occurrences if not _in_header_line(text, start)}
    candidates = [address for address in dict.fromkeys(a for _, _, a in occurrences)
                  if address in outside and address not in exclude and address.partition("@")[0] not in _DAEMONS]
    failures = []
    for address in candidates[:100]:
        failure = _failure_near(text, address, occurrences, set(candidates))
        if failure:
            failures.append(failure)
    return failures


def _in_header_line(text: str, position: int) -> bool:
    line_start = text.rfind("\n", 0, position) + 1
    line_end = text.find("\n", position)
    return bool(_HEADER_LINE.fullmatch(text, line_start, line_end if line_end >= 0 else len(text)))


def _failure_near(text: str, address: str, occurrences: list[tuple[int, int, str]],
                  candidates: set[str]) -> Failure | None:
    """The first failure after any occurrence of `address` (or before it on its line), before
    another recipient's address is written."""
    for index, (start, end, found) in enumerate(occurrences):
        if found != address:
            continue
        following = (s for s, _, other in occurrences[index + 1:] if other != address and other in candidates)
        window_end = min(next(following, len(text)), end + _WINDOW)
        failure = find_code(text, text.rfind("\n", 0, start) + 1, window_end)
        if failure:
            return failure._replace(email=address)
    return None


def find_code(text: str, start: int = 0, end: int | None = None) -> Failure | None:
    """The first 4xx/5xx reply or 4.x.x/5.x.x status in text[start:end], with its line(s)."""
    end = len(text) if end is None else end
    for match in _CODE.finditer(text[start:end]):
        basic, status = match.group("basic"), match.group("enhanced") or match.group("alone")
        permanence = (basic or status or "2")[0]
        if permanence in "45":
            return Failure(None, status, permanence == "5", _lines_at(text, start + match.start()))
    return None


def _lines_at(text: str, position: int) -> str:
    """The line at `position` and its continuation lines (indented at least as deep), on one line."""
    line_start = text.rfind("\n", 0, position) + 1
    lines = text[line_start:line_start + 2000].split("\n")
    indent = max(len(lines[0]) - len(lines[0].lstrip()), 1)
    taken = [lines[0]]
    for line in lines[1:5]:
        if not line.strip() or len(line) - len(line.lstrip()) < indent:
            break
        taken.append(line)
    return " ".join(" ".join(taken).split())[:1000]
