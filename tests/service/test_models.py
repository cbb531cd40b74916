"""service.models: the address check answers as email-validator does, cached domain or not."""

from __future__ import annotations

import pytest
from email_validator import EmailNotValidError, validate_email

from service import addresses
from service.models import normalize_email

ADDRESSES = [
    "user@example.com", "User.Name+tag@Example.COM", "a_b-c@sub.example.co.uk", "x@example.com",
    "Postmaster@example.com", "ABUSE@example.com", "a..b@example.com", ".a@example.com", "a.@example.com",
    "a@example.com.", "a@-example.com", "a@exa_mple.com", "a@localhost", "a@example.test", "a@example.local",
    "a@123.com", "a@example.123", "a@b@example.com", "a@[192.0.2.1]", "a@xn--mnchen-3ya.de", "a@münchen.de",
    "ü@example.com", "a b@example.com", "a@", "@example.com", "", "Name <a@example.com>", "a@example..com",
    "a@" + "b" * 64 + ".com", "a" * 65 + "@example.com", "a" * 240 + "@example.com", "a" * 250 + "@example.com",
    "a@" + ".".join(["b" * 60] * 4) + ".com", "o'brien@example.com", "a{b}@example.com", "a@EXAMPLE.com",
    "a@ex\u00adample.com", "a@example.com\n", "a\u200b@example.com",
    # Characters that lower-case to ASCII, and a length that is short enough only in characters.
    "a@\u212aexample.com", "a" * 230 + "@\u212a" + "b" * 18 + ".com",
    # The testing names: checked as the same address under .test would be.
    "a@acme.TEST", "a@acme.example", "a@b.invalid", "a@app.localhost", "a@münchen.example", "a@-x.test",
    "a..b@acme.test", "a@test", "a@example", "a@.localhost",
]


def _reference(value: str) -> str | None:
    head, dot, tld = value.rpartition(".")
    testing = "@" in value and "@" not in tld and tld.lower() in addresses.TEST_TLDS and not head.endswith("@")
    try:
        checked = validate_email(f"{head}.test" if testing else value, check_deliverability=False,
                                 test_environment=testing).ascii_email
    except EmailNotValidError:
        return None
    return checked[: -len("test")] + tld.lower() if testing else checked


@pytest.mark.parametrize(("value", "expected"), [
    ("ada@acme.test", "ada@acme.test"), ("Ada@ACME.Example", "Ada@acme.example"),
    ("x@b.invalid", "x@b.invalid"), ("dev@app.localhost", "dev@app.localhost"),
    ("y@café.example", "y@xn--caf-dma.example"),
    ("a@localhost", None), ("a@test", None), ("a@example.local", None), ("a b@acme.test", None),
])
def test_addresses_under_the_testing_names_are_checked_like_any(value: str, expected: str | None) -> None:
    assert _ours(value) == expected


def _ours(value: str) -> str | None:
    try:
        return normalize_email(value)
    except ValueError:
        return None


@pytest.mark.parametrize("value", ADDRESSES)
def test_cached_domain_gives_email_validators_answer(value: str) -> None:
    addresses._plain_domain.cache_clear()
    first = _ours(value)
    # Every domain is now in the cache, as are its siblings': the second answer takes the fast path.
    _ours("someone@" + value.rpartition("@")[2])
    assert (first, _ours(value)) == (_reference(value), _reference(value))


def test_a_domain_is_checked_once() -> None:
    addresses._plain_domain.cache_clear()
    for n in range(50):
        assert normalize_email(f"user{n}@Example.org") == f"user{n}@example.org"
    info = addresses._plain_domain.cache_info()
    assert (info.misses, info.hits) == (1, 49)
