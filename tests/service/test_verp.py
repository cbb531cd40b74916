"""VERP tokens: they fit the local part, name the Message-ID, and cannot be forged or altered."""

from __future__ import annotations

import pytest

from service import verp

BOUNCE = "bounces@bounce.acme.test"
SECRET = "k" * 32
MESSAGE_ID = "<0123456789abcdef0123456789abcdef@acme.test>"


def test_the_envelope_sender_names_the_message_id_and_fits_the_local_part_limit():
    sender = verp.envelope_sender(BOUNCE, SECRET, MESSAGE_ID)
    local, _, domain = sender.rpartition("@")
    assert domain == "bounce.acme.test" and local.startswith("bounces+") and len(local) <= 64
    token = verp.token_of(BOUNCE, sender)
    assert token is not None and verp.read_token(SECRET, token) == "0123456789abcdef0123456789abcdef"


def test_a_token_survives_a_server_that_upper_cases_the_address():
    sender = verp.envelope_sender(BOUNCE, SECRET, MESSAGE_ID).upper()
    assert verp.read_token(SECRET, verp.token_of(BOUNCE, sender) or "") == "0123456789abcdef0123456789abcdef"


def test_an_altered_or_foreign_token_does_not_verify():
    token = verp.token_of(BOUNCE, verp.envelope_sender(BOUNCE, SECRET, MESSAGE_ID)) or ""
    altered = ("b" if token[0] != "b" else "c") + token[1:]
    assert verp.read_token(SECRET, altered) is None
    assert verp.read_token("another-secret-0123456789", token) is None
    assert verp.read_token(SECRET, token[:-1]) is None
    assert verp.read_token(SECRET, token + "a") is None


@pytest.mark.parametrize("recipient", ["bounces@other.test", "someone+x@bounce.acme.test", "bounces@bounce.acme.test"])
def test_only_token_addresses_of_the_bounce_address_have_a_token(recipient):
    assert verp.token_of(BOUNCE, recipient) is None


def test_a_message_id_not_made_by_herald_gets_the_bare_bounce_address():
    assert verp.envelope_sender(BOUNCE, SECRET, "<legacy-id@elsewhere.test>") == BOUNCE


def test_the_bounce_address_must_leave_room_for_the_token():
    from tests.conftest import make_settings

    assert make_settings(bounce_address="b" * 29 + "@bounce.acme.test").bounce_address
    with pytest.raises(ValueError, match="local part"):
        make_settings(bounce_address="b" * 30 + "@bounce.acme.test")
    with pytest.raises(ValueError, match="plain address"):
        make_settings(bounce_address="bounces+x@bounce.acme.test")
