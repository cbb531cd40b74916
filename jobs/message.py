"""The MIME message for one notification, written straight to the bytes that go over SMTP.

Herald's messages always have the same shape (text, or text and HTML as multipart/alternative,
quoted-printable UTF-8), so they are written here rather than through the `email` package,
whose generator refolds every header on the way out: it cost about 2.5 ms of worker CPU per
message, half of all the worker did. Its folding of long address headers could also drop the
quotes around a display name holding "," or ":" (CPython gh-80222), turning one recipient into
two. Here nothing is folded (header lines stay under RFC 5322's 998-character limit) and
non-ASCII text goes into RFC 2047 encoded words. Encoding itself is left to the standard
library (`binascii` quoted-printable, `email.header` encoded words, `formataddr` quoting).
"""

from __future__ import annotations

import binascii
import secrets
import time
from email.header import Header
from email.utils import formataddr, formatdate
from functools import lru_cache

from service.templates import Rendered

CRLF = b"\r\n"


def build_message(
    *,
    notification_id: str,
    message_id: str,
    mail_from: str,
    to_email: str,
    to_name: str | None,
    rendered: Rendered,
    unsubscribe_url: str | None = None,
    list_id: str | None = None,
) -> bytes:
    """The whole message, CRLF line endings, ASCII only. `list_id`: the RFC 2919 list identifier
    (`newsletter.acme.test`) that mail with an unsubscribe link carries beside it."""
    headers = [
        ("Message-ID", _one_line(message_id)),
        ("Date", _date(int(time.time()))),
        ("From", _text_header(mail_from)),
        ("To", formataddr((_one_line(to_name or ""), to_email), charset="utf-8")),
        ("Subject", _text_header(rendered.subject)),
        ("X-Herald-Notification", _one_line(notification_id)),
        # Postmark replaces the Message-ID and strips X-PM-* headers, keeping this one as the
        # metadata its bounce webhooks return: the way back from a Postmark bounce.
        ("X-PM-Metadata-herald_notification", _one_line(notification_id)),
    ]
    if list_id:
        # Filters and list servers key on it; a List-Unsubscribe without one reads as a half-made list.
        headers.append(("List-Id", f"<{_one_line(list_id)}>"))
    if unsubscribe_url:
        # RFC 8058 one-click: mail clients POST "List-Unsubscribe=One-Click" to this URL.
        headers += [("List-Unsubscribe", f"<{_one_line(unsubscribe_url)}>"),
                    ("List-Unsubscribe-Post", "List-Unsubscribe=One-Click")]
    headers.append(("MIME-Version", "1.0"))
    return _head(headers) + _body(rendered)  # the body starts with its own Content-Type header


def _body(rendered: Rendered) -> bytes:
    text = _part("plain", rendered.text)
    if rendered.html is None:
        return text
    # The CRLF before each "--boundary" belongs to the delimiter, not to the part above it.
    # "=_" never occurs in quoted-printable output ("=" is always written "=3D"), so no part
    # can contain the boundary.
    boundary = f"=_herald_{secrets.token_hex(12)}".encode()
    html = _part("html", rendered.html)
    delimiter = b"\r\n--" + boundary
    return b"".join([
        b'Content-Type: multipart/alternative; boundary="', boundary, b'"\r\n\r\n',
        b"--", boundary, CRLF, text, delimiter, CRLF, html, delimiter, b"--", CRLF,
    ])


def _part(subtype: str, content: str) -> bytes:
    """Content-Type and Content-Transfer-Encoding headers, a blank line, the encoded content."""
    lines = content.replace("\r\n", "\n").replace("\r", "\n").encode("utf-8")
    encoded = binascii.b2a_qp(lines, istext=True).replace(b"\n", CRLF)
    return (b"Content-Type: text/" + subtype.encode() + b'; charset="utf-8"\r\n'
            b"Content-Transfer-Encoding: quoted-printable\r\n\r\n" + encoded)


def _head(headers: list[tuple[str, str]]) -> bytes:
    return "".join([f"{name}: {value}\r\n" for name, value in headers]).encode("ascii")


@lru_cache(maxsize=1)
def _date(second: int) -> str:
    # The Date header has one-second resolution, so a busy second's messages share one
    # formatdate call (about 6 µs each otherwise).
    return formatdate(second, usegmt=True)


def _text_header(value: str) -> str:
    value = _one_line(value)
    # Encoded words are at most 75 characters, so a long non-ASCII value takes several lines.
    return value if value.isascii() else Header(value, "utf-8").encode(linesep="\r\n")


def _one_line(value: str) -> str:
    # Header injection guard: whatever reached here, no CR or LF goes into a header.
    return " ".join(value.split())
