"""Email addresses as Herald takes them: email-validator's verdict, cached by domain."""

from __future__ import annotations

import re
from functools import lru_cache

from email_validator import EmailNotValidError, validate_email
from email_validator.rfc_constants import CASE_INSENSITIVE_MAILBOX_NAMES, EMAIL_MAX_LENGTH
from pydantic_core import PydanticCustomError

# A local part of these characters, in dot-separated runs, is one email-validator accepts as it is
# (RFC 5322 atext without its rarer symbols); anything else takes the full check.
_PLAIN_LOCAL = re.compile(r"[A-Za-z0-9_+-]+(?:\.[A-Za-z0-9_+-]+)*")


# The names RFC 2606 and RFC 6761 keep for testing: an address under one is never a real person's.
TEST_TLDS = frozenset({"test", "example", "invalid", "localhost"})


def normalize_email(value: str) -> str:
    """The address as Herald stores and sends it: an internationalized domain in its ASCII
    (IDNA) form. A non-ASCII local part would need SMTPUTF8, which Herald does not send.
    Addresses under the testing names are checked as any other; whether they are accepted is
    the deployment's choice (ALLOW_TEST_DOMAINS, service.accept).

    The domain's check is the costly part of email-validator's (IDNA and UTS #46, char by char)
    and most addresses share a few domains, so a plain local part at a domain email-validator has
    already passed is answered from that verdict: the same answer, a tenth of the CPU."""
    local, _, domain = value.rpartition("@")
    if (value.isascii() and len(value) <= EMAIL_MAX_LENGTH and _PLAIN_LOCAL.fullmatch(local)
            and local.lower() not in CASE_INSENSITIVE_MAILBOX_NAMES and _plain_domain(domain)):
        return f"{local}@{domain.lower()}"
    return _validated(value)


def test_tld(domain: str) -> str | None:
    """The testing name `domain` ends in, as written (`acme.test` → `test`), if it is under one."""
    head, dot, tld = domain.rpartition(".")
    return tld if dot and head and tld.lower() in TEST_TLDS else None


def _checkable(domain: str) -> tuple[str, bool]:
    """email-validator refuses the testing names outright (bar `.test` in its test mode): check
    the rest of the domain under `.test` instead."""
    tld = test_tld(domain)
    return (domain[: -len(tld)] + "test", True) if tld else (domain, False)


@lru_cache(maxsize=4096)
def _plain_domain(domain: str) -> bool:
    """Whether email-validator takes `domain` as it is, only lower-cased."""
    checked, testing = _checkable(domain)
    try:
        address = validate_email(f"a@{checked}", check_deliverability=False, test_environment=testing)
    except EmailNotValidError:
        return False
    return address.domain == address.ascii_domain == checked.lower()


def _validated(value: str) -> str:
    domain = value.rpartition("@")[2]
    checked, testing = _checkable(domain)
    try:
        address = validate_email(value[: len(value) - len(domain)] + checked, check_deliverability=False,
                                 test_environment=testing)
    except EmailNotValidError as exc:
        raise PydanticCustomError("value_error", "invalid email address: {reason}", {"reason": str(exc)}) from None
    if address.ascii_email is None:
        raise PydanticCustomError("value_error", "addresses with a non-ASCII local part (SMTPUTF8) are not supported")
    tld = test_tld(domain)
    return address.ascii_email[: -len("test")] + tld.lower() if tld else address.ascii_email
