"""The development command's environment: what it supplies, and what it leaves to the caller."""

from __future__ import annotations

import pytest

from service.dev import _environment
from service.settings import load_settings


def test_development_accepts_the_testing_names(monkeypatch: pytest.MonkeyPatch, redis_url: str) -> None:
    # With REDIS_URL and SMTP_URL given, nothing is started: only the environment is built.
    monkeypatch.setenv("REDIS_URL", redis_url)
    monkeypatch.setenv("SMTP_URL", "smtp://127.0.0.1:1025")
    monkeypatch.delenv("ALLOW_TEST_DOMAINS", raising=False)
    env, started = _environment()
    assert started == [] and env["ALLOW_TEST_DOMAINS"] == "true"
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    settings = load_settings(_env_file=None)
    assert settings.allow_test_domains and settings.mail_domain == "localhost.test"
    monkeypatch.setenv("ALLOW_TEST_DOMAINS", "false")  # the caller's word wins
    assert _environment()[0]["ALLOW_TEST_DOMAINS"] == "false"
