"""Reading SMTP failures (classify) and SMTP_URL parsing (SmtpConfig.from_url)."""

from __future__ import annotations

import aiosmtplib
import pytest

from jobs.smtp import SmtpConfig, classify


def refused(code: int, text: str) -> aiosmtplib.SMTPRecipientsRefused:
    return aiosmtplib.SMTPRecipientsRefused([aiosmtplib.SMTPRecipientRefused(code, text, "ada@example.com")])


@pytest.mark.parametrize(
    ("exc", "kind", "code"),
    [
        (refused(550, "5.1.1 user unknown"), "bounce", 550),
        (refused(550, "5.2.1 mailbox disabled"), "bounce", 550),
        (refused(550, "no such user here"), "bounce", 550),
        (refused(553, "mailbox name not allowed"), "bounce", 553),
        (aiosmtplib.SMTPRecipientRefused(550, "5.1.1 user unknown", "ada@example.com"), "bounce", 550),
        (refused(554, "5.7.1 relay access denied"), "rejected", 554),
        (aiosmtplib.SMTPDataError(554, "5.7.1 message looks like spam"), "rejected", 554),
        (aiosmtplib.SMTPDataError(552, "5.4.5 quota exceeded"), "rejected", 552),
        (aiosmtplib.SMTPDataError(550, "content rejected"), "rejected", 550),
        (aiosmtplib.SMTPDataError(451, "4.3.0 try again later"), "transient", 451),
        (aiosmtplib.SMTPResponseException(421, "4.7.0 too busy"), "transient", 421),
        (refused(452, "4.2.2 mailbox full"), "transient", 452),
        (refused(450, "greylisted"), "transient", 450),
        (aiosmtplib.SMTPAuthenticationError(535, "5.7.8 bad credentials"), "transient", 535),
    ],
)
def test_classify_server_replies(exc, kind, code):
    outcome = classify(exc)
    assert (outcome.kind, outcome.code) == (kind, code)
    assert outcome.detail.startswith(str(code)) or "authentication failed" in outcome.detail


@pytest.mark.parametrize(
    "exc",
    [
        aiosmtplib.SMTPServerDisconnected("server went away"),
        aiosmtplib.SMTPConnectError("cannot connect"),
        aiosmtplib.SMTPConnectTimeoutError("connect timed out"),
        aiosmtplib.SMTPReadTimeoutError("read timed out"),
        ConnectionRefusedError(111, "Connection refused"),
        TimeoutError(),
        aiosmtplib.SMTPRecipientsRefused([]),
    ],
)
def test_connection_level_failures_are_transient_without_code(exc):
    outcome = classify(exc)
    assert (outcome.kind, outcome.code) == ("transient", None)
    assert type(exc).__name__ in outcome.detail


def test_authentication_failure_is_transient_and_says_so():
    outcome = classify(aiosmtplib.SMTPAuthenticationError(535, "5.7.8 bad credentials"))
    assert outcome.kind == "transient"
    assert "authentication failed" in outcome.detail and "bad credentials" in outcome.detail


@pytest.mark.parametrize(
    ("code", "text"),
    [(553, "5.1.8 Sender address rejected: Domain not found"), (550, "5.1.7 bad sender mailbox syntax"),
     (550, "5.1.0 sender rejected")],
)
def test_sender_refused_does_not_bounce_the_recipient(code, text):
    # A refusal of OUR envelope sender says nothing about the recipient's mailbox; a "bounce"
    # makes deliver suppress the recipient's address for a problem on our side.
    outcome = classify(aiosmtplib.SMTPSenderRefused(code, text, "no-reply@acme.test"))
    assert outcome.code == code
    assert outcome.kind != "bounce"


def test_unexpected_exception_is_an_error():
    outcome = classify(RuntimeError("boom"))
    assert (outcome.kind, outcome.code) == ("error", None)
    assert "RuntimeError" in outcome.detail and "boom" in outcome.detail


@pytest.mark.parametrize(
    ("url", "port", "start_tls", "use_tls"),
    [
        ("smtp://mail.acme.test", 25, False, False),
        ("smtp://mail.acme.test:1025", 1025, False, False),
        ("smtp+tls://mail.acme.test", 587, True, False),
        ("smtp+tls://mail.acme.test:2587", 2587, True, False),
        ("smtp+ssl://mail.acme.test", 465, False, True),
    ],
)
def test_from_url_schemes_and_default_ports(url, port, start_tls, use_tls):
    config = SmtpConfig.from_url(url)
    assert config.hostname == "mail.acme.test"
    assert (config.port, config.start_tls, config.use_tls) == (port, start_tls, use_tls)
    assert config.username is None and config.password is None


def test_from_url_decodes_user_and_password():
    config = SmtpConfig.from_url("smtp+tls://ops%40acme.test:p%3Ass%2Fw%40rd%25@mail.acme.test")
    assert config.username == "ops@acme.test"
    assert config.password == "p:ss/w@rd%"
    assert config.hostname == "mail.acme.test" and config.port == 587


def test_from_url_passes_timeouts_through():
    config = SmtpConfig.from_url("smtp://localhost:1025", timeout=3, deadline=9)
    assert (config.timeout, config.deadline) == (3, 9)
