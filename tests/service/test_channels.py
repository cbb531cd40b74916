"""Each channel's part: what it renders to, and what it refuses (service.channels)."""

from __future__ import annotations

import pytest

from service import inbox_tokens
from service.channels import MAX_PAYLOAD_BYTES, PayloadError, render_payload
from service.templates import Catalog, TemplateConfigError
from tests.service.test_templates import write_template

ONLY_CHANNELS = 'category = "internal"\nchannels = ["slack"]\n'


def _catalog(tmp_path, **parts: str | None) -> Catalog:
    write_template(tmp_path, "ops.alert", toml=ONLY_CHANNELS, subject=None, text=None, **parts)
    return Catalog(tmp_path)


def test_a_template_may_have_no_email_parts(tmp_path) -> None:
    catalog = _catalog(tmp_path, slack="*{{ what | mrkdwn }}* is down")
    template = catalog.get("ops.alert")
    assert template.channels == ("slack",) and template.default_channels == ("slack",)
    assert template.required == {"what"}
    assert render_payload(catalog, "ops.alert", None, "slack", {"what": "<db>"}) == {"text": "*&lt;db&gt;* is down"}


@pytest.mark.parametrize(("channel", "source", "says"), [
    ("slack", '{"username": "x"}', "needs text, blocks or attachments"),
    ("slack", '{"text": ', "did not render valid JSON"),
    ("inbox", '{"url": "https://x.test"}', "needs a title or a body"),
    ("http", "plain words", "did not render valid JSON"),
    ("http", '"a string"', "must render a JSON object or array"),
])
def test_a_part_that_renders_what_its_channel_cannot_send_is_refused(tmp_path, channel, source, says) -> None:
    toml = f'category = "internal"\nchannels = ["{channel}"]\n'
    write_template(tmp_path, "ops.alert", toml=toml, subject=None, text=None, **{channel: source})
    with pytest.raises(PayloadError, match=says):
        render_payload(Catalog(tmp_path), "ops.alert", None, channel, {})


def test_a_payload_over_its_channels_limit_is_refused(tmp_path) -> None:
    catalog = _catalog(tmp_path, slack="{{ text }}")
    with pytest.raises(PayloadError, match="over"):
        render_payload(catalog, "ops.alert", None, "slack", {"text": "x" * (MAX_PAYLOAD_BYTES["slack"] + 1)})


def test_a_locale_without_a_channels_part_uses_the_default_locales(tmp_path) -> None:
    write_template(tmp_path, "ops.alert", toml=ONLY_CHANNELS, subject=None, text=None, slack="EN {{ what }}")
    write_template(tmp_path, "ops.alert", toml=ONLY_CHANNELS, locale="fr", subject=None, text=None, slack=None)
    assert render_payload(Catalog(tmp_path), "ops.alert", "fr", "slack", {"what": "db"}) == {"text": "EN db"}


@pytest.mark.parametrize("toml", ['category = "internal"\nchannels = ["inbox"]\n',
                                  'category = "internal"\nchannels = []\n',
                                  'category = "internal"\nchannels = "slack"\n'])
def test_default_channels_must_be_channels_the_template_has(tmp_path, toml) -> None:
    write_template(tmp_path, "ops.alert", toml=toml, subject=None, text=None, slack="x")
    with pytest.raises(TemplateConfigError, match="channels"):
        Catalog(tmp_path)


def test_a_template_without_any_channels_parts_is_refused(tmp_path) -> None:
    write_template(tmp_path, "ops.alert", subject=None, text=None)
    with pytest.raises(TemplateConfigError, match="no channel"):
        Catalog(tmp_path)


def test_recipient_tokens_are_read_back_only_when_genuine_and_unexpired() -> None:
    token = inbox_tokens.make("k" * 32, "user_1", expires_at=2_000_000_000)
    assert inbox_tokens.read("k" * 32, token, now=1_900_000_000) == ("user_1", 2_000_000_000)
    for bad, now in ((token, 2_000_000_001), (token[:-1] + ("A" if token[-1] != "A" else "B"), 0),
                     ("no-dot", 0), (token.replace(".", ".."), 0)):
        with pytest.raises(inbox_tokens.InvalidToken):
            inbox_tokens.read("k" * 32, bad, now=now)
    with pytest.raises(inbox_tokens.InvalidToken):
        inbox_tokens.read("another key 0123456789abcdef", token, now=0)
