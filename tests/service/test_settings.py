"""Settings: parsing, validation, and the one-line SystemExit that names the bad variable."""

from __future__ import annotations

import pytest

from service.settings import Settings, load_settings

REQUIRED = {"mail_from": "Acme <no-reply@acme.test>", "secret_key": "s" * 32}


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """No variable from the machine running the tests may leak into a case."""
    for name in Settings.model_fields:
        monkeypatch.delenv(name.upper(), raising=False)
        monkeypatch.delenv(name, raising=False)


def load(**overrides: object) -> Settings:
    return load_settings(_env_file=None, **(REQUIRED | overrides))


def config_error(**values: object) -> str:
    """The SystemExit message of load_settings(values); asserts it is one line."""
    with pytest.raises(SystemExit) as info:
        load_settings(_env_file=None, **values)
    message = info.value.code
    assert isinstance(message, str)
    assert "\n" not in message and "\r" not in message
    assert message.startswith("herald: configuration error: ")
    return message


def test_api_keys_string_is_parsed_into_a_dict():
    settings = load(api_keys=" a:secret123 , b:secret456 ,")
    assert settings.api_keys == [("a", "secret123"), ("b", "secret456")]


def test_api_keys_from_the_environment_are_parsed(monkeypatch):
    monkeypatch.setenv("API_KEYS", "a:secret123,b:secret456")
    assert load().api_keys == [("a", "secret123"), ("b", "secret456")]


@pytest.mark.parametrize("raw", ["a:secret123,b", "a:hunter2", ":secret123", "lonely"])
def test_bad_api_key_pair_names_api_keys_without_echoing_it(raw):
    message = config_error(**REQUIRED, api_keys=raw)
    assert "API_KEYS" in message
    assert "secret123" not in message and "hunter2" not in message


@pytest.mark.parametrize(
    ("field", "url"),
    [
        ("redis_url", "http://localhost:6379/0"),
        ("redis_url", "redis://localhost:abc/0"),
        ("redis_url", "redis:///0"),
        ("smtp_url", "smtps://mail.acme.test"),
        ("smtp_url", "smtp://mail.acme.test:port"),
        ("smtp_url", "smtp://:25"),
        ("database_url", "mysql://db.acme.test/herald"),
        ("database_url", "postgresql://db.acme.test:port/herald"),
    ],
)
def test_invalid_url_names_its_variable(field, url):
    message = config_error(**REQUIRED, **{field: url})
    assert field.upper() in message


@pytest.mark.parametrize(
    ("variable", "url"),
    [("REDIS_URL", "http://localhost:6379"), ("SMTP_URL", "smtp://mail.acme.test:abc")],
)
def test_invalid_url_from_the_environment_names_its_variable(monkeypatch, variable, url):
    monkeypatch.setenv(variable, url)
    assert variable in config_error(**REQUIRED)


@pytest.mark.parametrize(
    ("field", "url"),
    [
        ("redis_url", "rediss://cache.acme.test:6380/1"),
        ("redis_url", "unix:///run/redis.sock"),
        ("smtp_url", "smtp+tls://user:pw@mail.acme.test"),
        ("smtp_url", "smtp+ssl://mail.acme.test:465"),
        ("database_url", "postgresql://herald:pw@db.acme.test:5432/herald"),
        ("database_url", "postgres:///herald?host=/run/postgresql"),
    ],
)
def test_supported_url_schemes_are_accepted(field, url):
    assert getattr(load(**{field: url}), field) == url


@pytest.mark.parametrize("missing", ["mail_from", "secret_key"])
def test_missing_required_variable_is_named(missing):
    values = {k: v for k, v in REQUIRED.items() if k != missing}
    message = config_error(**values)
    assert missing.upper() in message


def test_required_variables_can_come_from_the_environment(monkeypatch):
    monkeypatch.setenv("MAIL_FROM", "ops@mail.acme.test")
    monkeypatch.setenv("SECRET_KEY", "k" * 20)
    settings = load_settings(_env_file=None)
    assert settings.mail_from == "ops@mail.acme.test"
    assert settings.secret_key == "k" * 20


def test_short_secret_key_is_named_but_not_echoed():
    message = config_error(mail_from=REQUIRED["mail_from"], secret_key="tooshort")
    assert "SECRET_KEY" in message and "tooshort" not in message


@pytest.mark.parametrize(
    "mail_from",
    ["Acme <no-reply@acme.test>\r\nBcc: evil@x.test", "Acme <no-reply@acme.test>\nBcc: evil@x.test", "a@b.test\r"],
)
def test_mail_from_with_cr_or_lf_is_rejected(mail_from):
    message = config_error(**(REQUIRED | {"mail_from": mail_from}))
    assert "MAIL_FROM" in message and "evil" not in message


@pytest.mark.parametrize("mail_from", ["Acme", "Acme <>", "a@", "x@y@z"])
def test_mail_from_without_an_address_is_rejected(mail_from):
    assert "MAIL_FROM" in config_error(**(REQUIRED | {"mail_from": mail_from}))


def test_retry_max_below_retry_base_is_rejected():
    message = config_error(**REQUIRED, retry_base_seconds=100, retry_max_seconds=50)
    assert "RETRY_MAX_SECONDS" in message


def test_retry_max_equal_to_retry_base_is_accepted():
    settings = load(retry_base_seconds=60, retry_max_seconds=60)
    assert settings.retry_max_seconds == settings.retry_base_seconds == 60


def test_job_timeout_must_exceed_smtp_timeout():
    message = config_error(**REQUIRED, smtp_timeout_seconds=20, job_timeout_seconds=20)
    assert "JOB_TIMEOUT_SECONDS" in message


def test_several_problems_still_make_one_line_naming_each():
    message = config_error(**REQUIRED, redis_url="http://x", smtp_url="ftp://y")
    assert "REDIS_URL" in message and "SMTP_URL" in message


@pytest.mark.parametrize(
    ("mail_from", "domain"),
    [("Acme <no-reply@acme.test>", "acme.test"), ("ops@mail.example.org", "mail.example.org")],
)
def test_mail_domain_is_the_domain_of_mail_from(mail_from, domain):
    assert load(mail_from=mail_from).mail_domain == domain


def test_public_url_loses_its_trailing_slash():
    assert load(public_url="https://herald.acme.test/").public_url == "https://herald.acme.test"


def test_an_empty_database_url_means_redis_only():
    assert load(database_url="").database_url is None


def test_history_must_move_before_redis_forgets_it():
    message = config_error(**REQUIRED, database_url="postgresql://db/herald", archive_after_seconds=3600,
                           retention_seconds=3600)
    assert "ARCHIVE_AFTER_SECONDS" in message
