"""Reading received mail whatever shape it arrives in: headers that may not parse, charsets that
lie, parts nested without end. Every helper answers something rather than raise, since what
jobs.reports reads comes from anyone on the internet."""

from __future__ import annotations

import codecs
from email.message import Message
from email.parser import BytesParser, HeaderParser
from email.policy import default as default_policy
from email.utils import getaddresses
from html.parser import HTMLParser

MAX_TEXT = 200_000  # bounces are short; this bounds the regexes' work on a hostile message
_MAX_PARTS = 500
MESSAGE_TYPES = ("message/rfc822", "message/global", "message/rfc822-headers", "message/global-headers")
HEADER_TYPES = ("text/rfc822-headers", "text/global-headers")


def attached(msg: Message) -> Message | None:
    """The first message (or header block) attached anywhere in `msg`."""
    for part in msg.walk():
        if content_type(part) in MESSAGE_TYPES + HEADER_TYPES:
            return part
    return None


def original_headers(part: Message) -> Message | None:
    """The headers of a returned message, from a message/rfc822 or text/rfc822-headers part."""
    ctype = content_type(part)
    if ctype in MESSAGE_TYPES:
        sub = children(part)
        if sub and len(sub[0]):
            return sub[0]
        # A blank line before the returned headers leaves them in the body.
        body = sub[0].get_payload() if sub else None
        return HeaderParser(policy=default_policy).parsestr(body.lstrip("\r\n")) if isinstance(body, str) else None
    if ctype in HEADER_TYPES:
        payload = part.get_payload(decode=True)
        data = payload.lstrip(b"\r\n") if isinstance(payload, bytes) else b""
        return BytesParser(policy=default_policy).parsebytes(data, headersonly=True)
    return None


def children(part: Message) -> list[Message]:
    payload = part.get_payload()
    return [child for child in payload if isinstance(child, Message)] if isinstance(payload, list) else []


def addresses(values: list[str]) -> list[tuple[str, str]]:
    try:
        return getaddresses(values)
    except Exception:  # getaddresses has raised on pathological input in some releases
        return []


def header(headers: Message, name: str) -> str | None:
    """One header's value on one line, None if absent or empty."""
    try:
        value = headers.get(name)
        text = None if value is None else str(value)
    except Exception:  # policy.default's structured parsers have crashed on hostile values
        text = next((str(v) for k, v in headers.raw_items() if k.lower() == name.lower()), None)
    if text is None:
        return None
    if "\ufffd" in text:
        text = _raw_8bit(headers, name) or text
    return " ".join(text.split()) or None


def _raw_8bit(headers: Message, name: str) -> str | None:
    """A header of raw 8-bit bytes that are not UTF-8, which the email package gives as U+FFFD,
    read as Windows-1252 instead: what such headers (latin-1 subjects) are most often written in."""
    raw = next((value for key, value in headers.raw_items() if key.lower() == name.lower()), None)
    if not isinstance(raw, str) or not any("\udc80" <= c <= "\udcff" for c in raw):
        return None
    try:
        return raw.encode("utf-8", "surrogateescape").decode("cp1252", "replace")
    except UnicodeError:  # a surrogate that no raw byte became
        return None


def header_values(headers: Message, name: str) -> list[str]:
    """Every value of a header that may occur more than once (To, Original-Rcpt-To)."""
    try:
        return [str(value) for value in headers.get_all(name) or []]
    except Exception:  # as in header(): fall back to the unparsed values
        return [str(v) for k, v in headers.raw_items() if k.lower() == name.lower()]


def content_type(part: Message) -> str:
    try:
        return part.get_content_type()
    except Exception:  # a Content-Type the header parser cannot read is treated as RFC 2045's default
        return "text/plain"


def human_text(msg: Message) -> str:
    """The text written for a person: the text/plain parts outside any attached message, else
    the text/html ones as text. LF line endings, at most MAX_TEXT characters."""
    plain: list[str] = []
    html: list[str] = []
    for part in _leaves(msg):
        ctype = content_type(part)
        if ctype == "text/plain":
            plain.append(text_of(part))
        elif ctype == "text/html":
            html.append(_html_to_text(text_of(part)))
    text = "\n\n".join(plain or html)[: MAX_TEXT * 2]
    return text.replace("\r\n", "\n").replace("\r", "\n")[:MAX_TEXT]


def _leaves(msg: Message) -> list[Message]:
    # Not Message.walk(): that descends into the returned message and the delivery-status blocks.
    leaves: list[Message] = []
    stack = [msg]
    while stack and len(leaves) < _MAX_PARTS:
        part = stack.pop()
        ctype = content_type(part)
        if ctype.startswith("message/"):
            continue
        payload = part.get_payload()
        if ctype.startswith("multipart/") and isinstance(payload, list):
            stack.extend(reversed(payload[:_MAX_PARTS]))
        elif not isinstance(payload, list):
            leaves.append(part)
    return leaves


def text_of(part: Message) -> str:
    """A text part's content, whatever charset it claims: bounces quote 8-bit text as anything."""
    payload = part.get_payload(decode=True)
    if not isinstance(payload, bytes):
        return ""
    try:
        charset = part.get_content_charset() or "utf-8"
    except Exception:  # an unreadable Content-Type parameter: fall through to UTF-8
        charset = "utf-8"
    for candidate in (_codec(charset), "utf-8", "cp1252"):
        try:
            return payload.decode(candidate)
        except (LookupError, ValueError):  # unknown charset, or bytes that are not in it
            continue
    return payload.decode("latin-1")


def _codec(charset: str) -> str:
    """The codec for a charset label, with "latin-1" read as Windows-1252 as browsers read it:
    mail so labelled is written on Windows, and in latin-1 its quotes and dashes are controls."""
    try:
        name = codecs.lookup(charset).name
    except (LookupError, ValueError):  # an unknown label: the caller goes on to UTF-8
        return "utf-8"
    return "cp1252" if name == "iso8859-1" else name


class _TextOnly(HTMLParser):
    _BREAKS = frozenset({"br", "p", "div", "tr", "li", "h1", "h2", "h3", "table"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.chunks: list[str] = []
        self._hidden = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._hidden += tag in ("script", "style")
        if tag in self._BREAKS:
            self.chunks.append("\n")

    def handle_endtag(self, tag: str) -> None:
        self._hidden -= tag in ("script", "style") and self._hidden > 0

    def handle_data(self, data: str) -> None:
        if not self._hidden:
            self.chunks.append(data)


def _html_to_text(html: str) -> str:
    parser = _TextOnly()
    parser.feed(html[:MAX_TEXT])
    parser.close()
    return "".join(parser.chunks)
