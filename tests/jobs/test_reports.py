"""jobs.reports.parse_report on a corpus of real-world-shaped bounces and complaints
(tests/jobs/samples), and on whatever else the internet may send to the bounce address."""

from __future__ import annotations

import dataclasses
import re
import unicodedata
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from jobs.reports import parse_report
from service.reports import REPORT_TYPES, SOURCES, Report

SAMPLES = Path(__file__).parent / "samples"
FIELDS = ("type", "source", "email", "notification_id", "message_id", "status", "action", "feedback_type",
          "reporting_mta", "at")


def sample(name: str) -> bytes:
    return (SAMPLES / f"{name}.eml").read_bytes()


def bounce(type_: str, source: str, email: str | None, notification_id: str | None, message_id: str | None,
           status: str | None, action: str | None, diagnostic: str | None, reporting_mta: str | None, at: str,
           feedback_type: str | None = None) -> dict[str, Any]:
    """One expected report: every field exactly, except `diagnostic`, a substring (None: unset)."""
    return {"type": type_, "source": source, "email": email, "notification_id": notification_id,
            "message_id": message_id, "status": status, "action": action, "diagnostic": diagnostic,
            "feedback_type": feedback_type, "reporting_mta": reporting_mta, "at": at}


def herald(stamp: str, hex_id: str) -> str:
    """Herald's Message-ID: a timestamp and 32 hex digits at its own domain."""
    return f"<{stamp}.{hex_id}@acme.test>"


EXPECTED: dict[str, list[dict[str, Any]]] = {
    "postfix": [bounce(
        "bounced", "dsn", "bob@example.net", "5b1f0c9d2e8a4f7b9c3d6e1a0b2c4d04",
        "<0f3c6a1e9b2d4c7f8a5e3b1d9c2f4a04@acme.test>", "5.1.1", "failed",
        "550 5.1.1 <bob@example.net>: Recipient address rejected: User unknown in local recipient table",
        "mail.example.net", "2026-12-06T10:00:03Z")],
    "rfc3464_failed": [bounce(
        "bounced", "dsn", "thomas@de-montfort.ac.uk", "5b1f0c9d2e8a4f7b9c3d6e1a0b2c4d01",
        "<0f3c6a1e9b2d4c7f8a5e3b1d9c2f4a01@acme.test>", "5.0.0", "failed", None, "sun2.nsfnet-relay.ac.uk",
        "2026-12-06T10:00:05Z")],
    "rfc3464_delayed": [bounce(
        "delayed", "dsn", "carol@slow.example.org", "5b1f0c9d2e8a4f7b9c3d6e1a0b2c4d03",
        "<0f3c6a1e9b2d4c7f8a5e3b1d9c2f4a03@acme.test>", "4.4.7", "delayed",
        "mx.slow.example.org[198.51.100.40]:25: Connection timed out", "mail.example.net",
        "2026-12-06T14:00:12Z")],  # the warning's Date, not the Arrival-Date four hours before
    "rfc3464_multi": [
        bounce("bounced", "dsn", "arathib@vnet.ibm.com", "5b1f0c9d2e8a4f7b9c3d6e1a0b2c4d02",
               "<0f3c6a1e9b2d4c7f8a5e3b1d9c2f4a02@acme.test>", "5.0.0", "failed",
               "550 'arathib@vnet.IBM.COM' is not a registered gateway user", "cs.utk.edu",
               "2026-12-06T10:10:30Z"),  # its Last-Attempt-Date, -0400
        bounce("delayed", "dsn", "johnh@hpnjld.njd.hp.com", "5b1f0c9d2e8a4f7b9c3d6e1a0b2c4d02",
               "<0f3c6a1e9b2d4c7f8a5e3b1d9c2f4a02@acme.test>", "4.0.0", "delayed", None, "cs.utk.edu",
               "2026-12-06T14:16:05Z"),
    ],
    "exim": [bounce(
        "bounced", "mail", "dave@example.com", "7c2e9a1f4b6d8e0a3c5f7b9d1e2a4c6f",
        herald("20261207081502", "3a9c1e7d5b2f4a6c8e0d1f3b5a7c9e1d"), "5.1.1", None,
        "550 5.1.1 <dave@example.com>: Recipient address rejected: User unknown", None, "2026-12-07T08:15:04Z")],
    "exim_dsn": [bounce(  # Exim's Status is always 5.0.0; the server's 5.2.2 says more
        "bounced", "dsn", "erin@example.net", "9e1a3c5b7d9f1b3d5f7a9c1e3b5d7f90",
        herald("20261207093009", "8b1d3f5a7c9e4b2d6f8a0c1e3b5d7f9a"), "5.2.2", "failed",
        "552 5.2.2 <erin@example.net>: mailbox full", "smtp.example.net", "2026-12-07T09:30:11Z")],
    "exchange": [bounce(
        "bounced", "dsn", "frank@example.com", "2d4f6a8c0e1b3d5f7a9c1e3b5d7f9a1c",
        herald("20261208115958", "1b3d5f7a9c0e4a2c6e8b0d2f4a6c8e0b"), "5.1.10", "failed",
        "550 5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient frank@example.com not found by SMTP address lookup",
        "DM6PR11MB4321.namprd11.prod.outlook.example", "2026-12-08T12:00:03Z")],
    "gmail": [bounce(  # the 550-5.1.1 continuation codes are gone from the joined lines
        "bounced", "dsn", "gina@example.com", "4e6a8c0b2d4f6a8c0e2b4d6f8a0c2e4f",
        herald("20261208111118", "4c6e8a0b2d4f4e6a8c0e2b4d6f8a0c2e"), "5.1.1", "failed",
        "550 5.1.1 The email account that you tried to reach does not exist. Please try double-checking the "
        "recipient's email address for typos or unnecessary spaces. For more information, go to "
        "https://support.google.com/mail/?p=NoSuchUser", "googlemail.com", "2026-12-08T11:11:20Z")],
    "qmail": [bounce(
        "bounced", "mail", "bob@example.net", "6a8c0e2b4d6f8a0c2e4a6c8e0b2d4f6a",
        herald("20261208140209", "6a8c0e2b4d6f4a8c0e2b4d6f8a0c2e4a"), "5.1.1", None,
        "Remote host said: 550 5.1.1 <bob@example.net>... User unknown", None, "2026-12-08T14:02:11Z")],
    "postfix_delayed": [bounce(
        "delayed", "dsn", "ivan@example.com", "8c0e2b4d6f8a0c2e4a6c8e0b2d4f6a8c",
        herald("20261208110001", "8c0e2b4d6f8a4c0e2b4d6f8a0c2e4a6c"), "4.4.1", "delayed",
        "451 4.4.1 No answer from host", "relay.example.com", "2026-12-08T15:05:41Z")],
    "arf_abuse": [bounce(  # the report's Date (EDT), not the Arrival-Date of the original
        "complained", "arf", "hank@example.com", "0e2b4d6f8a0c2e4a6c8e0b2d4f6a8c0e",
        herald("20261209175959", "0e2b4d6f8a0c4e2b4d6f8a0c2e4a6c8e"), None, None, "Source-IP: 192.0.2.10",
        "mail.example.com", "2026-12-09T21:40:36Z", feedback_type="abuse")],
    "arf_redacted": [bounce(  # no address rather than a made-up xxxxxxx@example.net suppressed
        "complained", "arf", None, "2b4d6f8a0c2e4a6c8e0b2d4f6a8c0e2b",
        herald("20261210081451", "2b4d6f8a0c2e4b4d6f8a0c2e4a6c8e0a"), None, None, "Reported-Domain: acme.test",
        None, "2026-12-10T08:21:05Z", feedback_type="abuse")],
    "arf_not_spam": [bounce(
        "unparsed", "arf", "judy@example.com", "4d6f8a0c2e4a6c8e0b2d4f6a8c0e2b4d",
        herald("20261211072959", "4d6f8a0c2e4a4d6f8a0c2e4a6c8e0b2d"), None, None, "User-Agent: ExampleFBL/2.1",
        "mail.example.com", "2026-12-11T09:45:00Z", feedback_type="not-spam")],
    "base64_dsn": [bounce(
        "bounced", "dsn", "kim@example.com", "6f8a0c2e4a6c8e0b2d4f6a8c0e2b4d6f",
        herald("20261211111959", "6f8a0c2e4a6c4f8a0c2e4a6c8e0b2d4f"), "5.7.1", "failed",
        "550 5.7.1 <kim@example.com>: Message rejected by recipient's policy", "gw.example.com",
        "2026-12-11T11:20:04Z")],
    "forwarded": [bounce(  # the attached bounce's own Date, not the forwarder's
        "bounced", "dsn", "leo@example.org", "8a0c2e4a6c8e0b2d4f6a8c0e2b4d6f8a",
        herald("20261212090000", "8a0c2e4a6c8e4a0c2e4a6c8e0b2d4f6a"), "5.1.1", "failed",
        "Recipient address rejected: User unknown", "mx.example.org", "2026-12-12T09:00:04Z")],
    "forwarded_text": [bounce(  # not press@acme.test, named in the forwarder's own words
        "bounced", "mail", "mia@example.com", "0c2e4a6c8e0b2d4f6a8c0e2b4d6f8a0c",
        herald("20261212114001", "0c2e4a6c8e0b4c2e4a6c8e0b2d4f6a8c"), "5.1.1", None, "550 5.1.1 User unknown",
        None, "2026-12-12T11:40:02Z")],
    "auto_reply": [bounce(  # "was not forwarded", an address and a 550 do not make it a bounce
        "unparsed", "mail", None, None, herald("20261213075959", "2e4a6c8e0b2d4e4a6c8e0b2d4f6a8c0e"), None, None,
        "an auto-reply: Automatic reply: Your order has shipped", None, "2026-12-13T08:00:04Z")],
    "junk": [bounce(
        "unparsed", "mail", None, None, None, None, None, "not a delivery report: \U0001F381 Last chance", None,
        "2026-12-13T03:14:15Z")],
    "8bit_latin1": [bounce(  # latin-1 and Windows-1252 bytes in a part that says utf-8
        "bounced", "mail", "juergen.mueller@example.com", "4a6c8e0b2d4f6a8c0e2b4d6f8a0c2e4a",
        herald("20261214061242", "4a6c8e0b2d4f4a6c8e0b2d4f6a8c0e2b"), "5.1.1", None,
        "Empfängeradresse abgelehnt: \u201eBenutzer unbekannt\u201c", None, "2026-12-14T06:12:44Z")],
    "dsn_no_original": [bounce(  # nothing returned: X-Original-Message-ID is the way back
        "bounced", "dsn", "olga@example.net", None, herald("20261214170000", "6c8e0b2d4f6a4c8e0b2d4f6a8c0e2b4d"),
        "5.2.1", "failed", "550 5.2.1 Mailbox disabled for this recipient", "mta2.example.net",
        "2026-12-14T17:00:08Z")],
    "dsn_mixed_outcomes": [
        bounce("bounced", "dsn", "pat@example.com", "8e0b2d4f6a8c0e2b4d6f8a0c2e4a6c8e",
               herald("20261214122954", "8e0b2d4f6a8c4e0b2d4f6a8c0e2b4d6f"), "5.1.1", "failed",
               "550 5.1.1 User unknown", "lists.example.com", "2026-12-14T12:30:00Z"),
        bounce("soft_bounce", "dsn", "quinn@example.com", "8e0b2d4f6a8c0e2b4d6f8a0c2e4a6c8e",
               herald("20261214122954", "8e0b2d4f6a8c4e0b2d4f6a8c0e2b4d6f"), "4.2.2", "failed",
               "452 4.2.2 Mailbox full", "lists.example.com", "2026-12-14T12:30:00Z"),
        bounce("delivered", "dsn", "rita@example.com", "8e0b2d4f6a8c0e2b4d6f8a0c2e4a6c8e",
               herald("20261214122954", "8e0b2d4f6a8c4e0b2d4f6a8c0e2b4d6f"), "2.0.0", "delivered",
               "250 2.0.0 Ok", "lists.example.com", "2026-12-14T12:30:00Z"),
    ],
}
NAMES = sorted(EXPECTED)


def fields_of(report: Report) -> dict[str, Any]:
    found = {name: getattr(report, name) for name in FIELDS}
    return found | {"diagnostic": report.diagnostic, "token": report.token}


def as_expected(report: Report, expected: dict[str, Any]) -> dict[str, Any]:
    """`expected` with its diagnostic substring replaced by the report's where it occurs."""
    wanted = expected | {"token": None}
    if expected["diagnostic"] is not None and expected["diagnostic"] in (report.diagnostic or ""):
        wanted["diagnostic"] = report.diagnostic
    return wanted


def test_every_sample_has_its_expectations():
    assert sorted(path.stem for path in SAMPLES.glob("*.eml")) == NAMES


@pytest.mark.parametrize("line_end", ["lf", "crlf"])
@pytest.mark.parametrize("name", NAMES)
def test_a_sample_gives_exactly_its_reports(name, line_end):
    raw = sample(name)
    raw = raw.replace(b"\n", b"\r\n") if line_end == "crlf" else raw  # as SMTP delivers it
    reports = parse_report(raw)
    assert [fields_of(r) for r in reports] == [as_expected(r, e) for r, e in zip(reports, EXPECTED[name])]
    assert len(reports) == len(EXPECTED[name])


@pytest.mark.parametrize("name", NAMES)
def test_the_same_bytes_twice_are_the_same_reports(name):
    first, second = parse_report(sample(name)), parse_report(sample(name))
    assert [r.reference for r in first] == [r.reference for r in second]
    assert first == second


def test_different_reports_have_different_references():
    references = [report.reference for name in NAMES for report in parse_report(sample(name))]
    assert len(references) == sum(len(expected) for expected in EXPECTED.values())
    assert len(set(references)) == len(references)


@pytest.mark.parametrize("name", ["rfc3464_multi", "dsn_mixed_outcomes"])
def test_a_report_for_several_recipients_is_one_report_each(name):
    reports = parse_report(sample(name))
    assert len(reports) > 1
    assert len({r.reference for r in reports}) == len({r.email for r in reports}) == len(reports)
    assert all(r.reference.startswith(reports[0].reference.split("|")[0] + "|") for r in reports)


def test_a_report_without_a_message_id_is_known_by_its_bytes():
    raw = sample("qmail")
    assert b"\nMessage-ID:" not in raw.split(b"\n\n", 1)[0]
    [report] = parse_report(raw)
    [changed] = parse_report(raw.replace(b"Giving up on", b"Giving up at"))
    assert re.fullmatch(r"[0-9a-f]{64}\|bob@example\.net\|bounced", report.reference)
    assert changed.reference != report.reference and changed.type == report.type


@pytest.mark.parametrize("redacted", ["XXXXXXXX", "********", "redacted", "_____"])
def test_a_redacted_recipient_is_no_address(redacted):
    raw = sample("arf_redacted").replace(b"xxxxxxx@", redacted.encode() + b"@")
    [report] = parse_report(raw)
    assert report.type == "complained" and report.email is None
    assert report.notification_id == "2b4d6f8a0c2e4a6c8e0b2d4f6a8c0e2b"


def test_a_complaint_with_only_the_original_to_names_that_recipient():
    raw = re.sub(rb"Original-Rcpt-To: [^\n]*\n", b"", sample("arf_abuse"))
    [report] = parse_report(raw)
    assert report.type == "complained" and report.email == "hank@example.com"


def test_an_8bit_subject_that_is_not_utf8_reads_as_windows_1252():
    raw = sample("auto_reply").replace(b"Subject: Automatic reply: Your order has shipped",
                                       "Subject: Abwesenheitsnotiz: Rückmeldung".encode("latin-1"))
    [report] = parse_report(raw)
    assert report.type == "unparsed" and "Abwesenheitsnotiz: Rückmeldung" in (report.diagnostic or "")


# -- whatever arrives, parse_report answers -------------------------------------------------------

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def check(reports: Any) -> None:
    assert isinstance(reports, list) and reports
    for report in reports:
        assert isinstance(report, Report)
        assert report.type in REPORT_TYPES and report.source in SOURCES
        for field in dataclasses.fields(report):
            value = getattr(report, field.name)
            assert value is None or isinstance(value, str), field.name
            if isinstance(value, str):
                value.encode("utf-8")  # no lone surrogates
                assert not _CONTROL.search(value), (field.name, value)
                assert not any(unicodedata.category(c) == "Cc" for c in value), (field.name, value)
        assert 0 < len(report.reference) < 300


_HEADER = re.compile(rb"^[A-Za-z][A-Za-z0-9-]*:[^\n]*(?:\n[ \t][^\n]*)*\n", re.MULTILINE)
_BOUNDED = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _truncate(raw: bytes, data: st.DataObject) -> bytes:
    return raw[:data.draw(st.integers(0, len(raw)), label="cut at")]


def _flip(raw: bytes, data: st.DataObject) -> bytes:
    at = data.draw(st.integers(0, len(raw) - 1), label="flip at")
    return raw[:at] + bytes([data.draw(st.integers(0, 255), label="byte")]) + raw[at + 1:]


def _header_edit(raw: bytes, data: st.DataObject) -> bytes:
    found = _a_header(raw, data)
    if found is None:
        return raw
    if data.draw(st.booleans(), label="duplicate, else delete"):
        return raw[:found.end()] + found.group() + raw[found.end():]
    return raw[:found.start()] + raw[found.end():]


def _a_header(raw: bytes, data: st.DataObject) -> re.Match[bytes] | None:
    """Any header line of the message or of a part inside it, with its continuation lines."""
    headers = list(_HEADER.finditer(raw))
    return headers[data.draw(st.integers(0, len(headers) - 1), label="header")] if headers else None


_MUTATIONS = {"truncate": _truncate, "flip": _flip, "header": _header_edit}


@_BOUNDED
@given(st.binary(max_size=4000))
def test_arbitrary_bytes_are_one_or_more_reports(raw):
    check(parse_report(raw))


@_BOUNDED
@given(st.sampled_from(NAMES), st.lists(st.sampled_from(sorted(_MUTATIONS)), min_size=1, max_size=4), st.data())
def test_a_mangled_sample_is_still_one_or_more_reports(name, mutations, data):
    raw = sample(name)
    for mutation in mutations:
        if raw:
            raw = _MUTATIONS[mutation](raw, data)
    check(parse_report(raw))


@_BOUNDED
@given(st.sampled_from(NAMES), st.lists(st.text(max_size=40), max_size=4), st.data())
def test_hostile_header_values_in_a_sample_are_still_clean_reports(name, values, data):
    """A header of a real sample given arbitrary text: encoded words, controls, surrogates' bytes."""
    raw = sample(name)
    for value in values:
        found = _a_header(raw, data)
        assert found is not None
        named = found.group().split(b":", 1)[0]
        encoded = value.encode("utf-8", "surrogatepass").replace(b"\n", b" ")
        raw = raw[:found.start()] + named + b": " + encoded + b"\n" + raw[found.end():]
    check(parse_report(raw))
