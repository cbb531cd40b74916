"""build_message: headers, MIME structure, and no header injection through names or subjects."""

from __future__ import annotations

import email
from datetime import UTC, datetime
from email import policy
from email.message import EmailMessage
from email.utils import formatdate, parsedate_to_datetime

import pytest

from jobs.message import _date, build_message
from service.templates import Rendered

INJECTION = "\r\nBcc: evil@x.test"
HEADERS = {"message-id", "date", "from", "to", "subject", "x-herald-notification", "x-pm-metadata-herald_notification", "mime-version", "content-type",
           "content-transfer-encoding"}


def build(*, to_name: str | None = "Ada Lovelace", subject: str = "Welcome to Acme, Ada!",
          html: str | None = "<p>Hi Ada</p>") -> bytes:
    return build_message(
        notification_id="n-123",
        message_id="<abc123@acme.test>",
        mail_from="Acme <no-reply@acme.test>",
        to_email="ada@example.com",
        to_name=to_name,
        rendered=Rendered(subject=subject, text="Hi Ada\n", html=html),
    )


def reparse(raw: bytes) -> EmailMessage:
    return email.message_from_bytes(raw, policy=policy.default)


def test_headers_are_set():
    parsed = reparse(build())
    assert parsed["Message-ID"] == "<abc123@acme.test>"
    assert parsed["Date"].datetime is not None
    assert parsed["From"] == "Acme <no-reply@acme.test>"
    assert parsed["To"] == "Ada Lovelace <ada@example.com>"
    assert parsed["Subject"] == "Welcome to Acme, Ada!"
    assert parsed["X-Herald-Notification"] == "n-123"


def test_to_without_a_name_is_the_bare_address():
    assert reparse(build(to_name=None))["To"] == "ada@example.com"


def test_html_makes_multipart_alternative():
    parsed = reparse(build())
    assert parsed.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in parsed.iter_parts()] == ["text/plain", "text/html"]
    assert parsed.get_body(("plain",)).get_content().rstrip("\r\n") == "Hi Ada"
    assert "<p>Hi Ada</p>" in parsed.get_body(("html",)).get_content()


def test_no_html_makes_plain_text_only():
    parsed = reparse(build(html=None))
    assert parsed.get_content_type() == "text/plain"
    assert not parsed.is_multipart()
    assert parsed.get_content().rstrip("\r\n") == "Hi Ada"


def test_non_ascii_name_and_subject_survive():
    parsed = reparse(build(to_name="Émile Zola", subject="Bienvenue chez Acme, Émile !"))
    assert parsed["To"].addresses[0].display_name == "Émile Zola"
    assert parsed["Subject"] == "Bienvenue chez Acme, Émile !"


def assert_no_injection(raw: bytes) -> EmailMessage:
    head = raw.split(b"\r\n\r\n", 1)[0]
    for line in head.split(b"\r\n"):
        # every header line is a known header or a folded continuation (leading whitespace)
        assert line[:1] in (b" ", b"\t") or line.split(b":", 1)[0].decode().lower() in HEADERS, line
    parsed = email.message_from_bytes(raw, policy=policy.default)
    assert "Bcc" not in parsed
    assert {k.lower() for k in parsed.keys()} <= HEADERS
    for name, value in parsed.items():
        assert "\r" not in str(value) and "\n" not in str(value), name
    return parsed


@pytest.mark.parametrize("evil", [INJECTION, "\nBcc: evil@x.test", "\rBcc: evil@x.test", "\r\n\r\nbody"])
def test_name_with_line_break_cannot_inject_a_header(evil):
    parsed = assert_no_injection(build(to_name="Ada" + evil))
    [address] = parsed["To"].addresses
    assert address.addr_spec == "ada@example.com"


@pytest.mark.parametrize("evil", [INJECTION, "\nBcc: evil@x.test", "\rBcc: evil@x.test", "\r\n\r\nbody"])
def test_subject_with_line_break_cannot_inject_a_header(evil):
    parsed = assert_no_injection(build(subject="Hello" + evil))
    assert parsed["Subject"].startswith("Hello ")


def test_long_subject_with_injection_stays_in_the_subject():
    parsed = assert_no_injection(build(subject="S" * 120 + INJECTION))
    assert parsed["Subject"] == "S" * 120 + " Bcc: evil@x.test"


def test_long_name_with_injection_keeps_the_real_recipient_in_to():
    # Folding a To longer than 78 columns must keep the display name quoted; unquoted, the
    # header re-parses as a group and its only address becomes evil@x.test.
    parsed = assert_no_injection(build(to_name="A" * 100 + INJECTION))
    assert [a.addr_spec for a in parsed["To"].addresses] == ["ada@example.com"]


@pytest.mark.parametrize(
    "name",
    [
        "Lovelace, Ada (Countess) of the Analytical Engine Society of London and Paris",
        "Ada Lovelace, Countess of Lovelace: first programmer of the Analytical Engine",
    ],
)
def test_long_display_name_with_specials_keeps_one_recipient(name):
    # Recipient.name allows 200 characters; once To is folded past 78 columns the name must stay quoted.
    [address] = reparse(build(to_name=name))["To"].addresses
    assert (address.display_name, address.addr_spec) == (name, "ada@example.com")


def test_non_ascii_subject_name_and_body_round_trip():
    import email
    import email.policy

    from jobs.message import build_message
    from service.templates import Rendered

    rendered = Rendered(subject="Bienvenue chez Acme, Zoé ! " + "é" * 80, text="Bonjour Zoé,\n" + "x" * 2000,
                        html="<p>Zoé</p>")
    raw = build_message(notification_id="n1", message_id="<m1@acme.test>", mail_from="Acme <a@acme.test>",
                        to_email="zoe@example.com", to_name="Zoé, la Comtesse", rendered=rendered)
    assert raw.isascii() and max(len(line) for line in raw.split(b"\r\n")) <= 998
    assert b"\n" not in raw.replace(b"\r\n", b"") and b"\r" not in raw.replace(b"\r\n", b"")  # no bare line ends
    parsed = email.message_from_bytes(raw, policy=email.policy.default)
    assert parsed["Subject"] == rendered.subject
    assert [a.addr_spec for a in parsed["To"].addresses] == ["zoe@example.com"]
    assert parsed["To"].addresses[0].display_name == "Zoé, la Comtesse"
    # Lines end in CRLF on the wire, and the parser keeps them so.
    assert parsed.get_body(("plain",)).get_content().replace("\r\n", "\n") == rendered.text
    assert parsed.get_body(("html",)).get_content().replace("\r\n", "\n") == rendered.html


def test_body_lines_are_quoted_printable_and_never_carry_the_boundary():
    tricky = "=_herald_ looks like a boundary\n--=_herald_x\n.\nFrom the start\n" + "é" * 300 + "\ntrailing space \n"
    raw = build(html=tricky)
    parsed = reparse(raw)
    [boundary] = [p for p in raw.split(b'boundary="')[1:2]]
    marker = b"--" + boundary.split(b'"')[0]
    assert raw.count(marker) == 3  # two parts and the closing delimiter
    assert parsed.get_body(("html",)).get_content().replace("\r\n", "\n") == tricky
    assert all(len(line) <= 78 for line in raw.split(b"\r\n")[-12:])  # quoted-printable soft breaks


@pytest.mark.parametrize("moment", [0.0, 1_795_000_000.999, 1_795_000_001.0, 2_000_000_000.5])
def test_the_date_header_is_formatdates_for_that_second(moment: float):
    assert _date(int(moment)) == formatdate(moment, usegmt=True)


def test_the_date_header_is_now():
    before = datetime.now(UTC).replace(microsecond=0)
    sent = parsedate_to_datetime(reparse(build())["Date"])
    assert before <= sent <= datetime.now(UTC)
