"""Herald's one settings class, read from the environment (and `.env`)."""

from __future__ import annotations

from email.headerregistry import Address
from email.utils import parseaddr
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from service.redis_conn import SENTINEL_SCHEMES, is_sentinel, parse_sentinel

REPO_ROOT = Path(__file__).resolve().parent.parent
_REDIS_SCHEMES = {"redis", "rediss", "unix", *SENTINEL_SCHEMES}
_SMTP_SCHEMES = {"smtp", "smtp+tls", "smtp+ssl"}
VERP_TOKEN_LENGTH = 34  # service.verp: 26 characters of message id, 8 of signature


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore", frozen=True)

    redis_url: str = "redis://localhost:6379/0"  # or redis+sentinel://h:26379,h2:26379/mymaster/0
    # A 202 only once WAIT says this many replicas have the write (0: as soon as the primary has it);
    # a write they do not confirm within the timeout is answered 503, and a retry with the same
    # Idempotency-Key is safe.
    redis_wait_replicas: int = Field(default=0, ge=0, le=16)
    redis_wait_timeout_ms: int = Field(default=1000, ge=1, le=4000)  # within the web's 5 s socket timeout
    smtp_url: str = "smtp://localhost:1025"
    mail_from: str
    # (name, secret) pairs; a name may appear twice, so that a key rotates without downtime.
    api_keys: Annotated[list[tuple[str, str]], NoDecode] = Field(default_factory=list)
    rate_limit_per_second: float = Field(default=0, ge=0)  # requests/s per API key, shared by all web processes; 0 = off
    secret_key: str = Field(min_length=16)
    public_url: str = "http://localhost:8000"
    templates_dir: Path = REPO_ROOT / "templates"
    port: int = Field(default=8000, ge=1, le=65535)
    max_tries: int = Field(default=8, ge=1, le=100)
    retry_base_seconds: float = Field(default=30, gt=0)
    retry_max_seconds: float = Field(default=3600, gt=0)
    retention_seconds: int = Field(default=7 * 86400, ge=60, le=10 * 366 * 86400)
    audit_retention_seconds: int = Field(default=90 * 86400, ge=60, le=10 * 366 * 86400)
    smtp_ca_file: Path | None = None  # a CA bundle to verify the SMTP server with (private CAs)
    smtp_timeout_seconds: float = Field(default=15, gt=0, le=60)
    job_timeout_seconds: float = Field(default=45, ge=2, le=300)
    worker_max_jobs: int = Field(default=200, ge=1, le=1000)  # concurrent sends per worker process
    worker_poll_seconds: float = Field(default=0.05, gt=0, le=5)  # how often an idle worker looks for jobs
    # Marketing, digests and batch sends go to their own queue, which the default worker serves with
    # the slots urgent mail leaves free and the Procfile's `bulk` line adds capacity to.
    bulk_lane: bool = True
    # Accept addresses under the testing names (*.test, *.example, *.invalid, *.localhost): the
    # development command and staging; production refuses them with a 422.
    allow_test_domains: bool = False
    send_rate_per_second: float = Field(default=0, ge=0)  # messages/s for all workers together; 0 = off
    sweep_grace_seconds: float = Field(default=30, ge=1)
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_format: Literal["json", "text"] = "json"  # the development command sets text
    max_body_bytes: int = Field(default=8 * 1024 * 1024, ge=1024)  # a batch of 500 fits easily
    # The development mail catcher's folder: the dashboard shows its messages (set by `herald dev`).
    mailbox_dir: Path | None = None
    digest_hour: int = Field(default=8, ge=0, le=23)  # UTC
    digest_weekday: int = Field(default=0, ge=0, le=6)  # Monday
    # Delivery events. With a bounce address, each message's envelope sender is
    # <local>+<token>@<domain> (VERP), so that a bounce names the notification it is about.
    bounce_address: str | None = None
    inbound_smtp_port: int = Field(default=2525, ge=1, le=65535)
    inbound_smtp_host: str = "0.0.0.0"  # noqa: S104 - it receives bounces from the internet
    inbound_max_bytes: int = Field(default=10 * 1024 * 1024, ge=1024)  # one report, with its returned message
    # After this many soft bounces spread over at least this many days, an address is suppressed.
    soft_bounce_limit: int = Field(default=5, ge=1)
    soft_bounce_days: float = Field(default=3, ge=0)
    # Provider webhooks (POST /v1/inbound/{provider}); a provider left unconfigured is refused (401).
    # SES needs one of these: anyone can sign an SNS message, from a topic of their own.
    ses_topic_arns: Annotated[list[str], NoDecode] = Field(default_factory=list)  # topics whose signed messages count
    ses_webhook_secret: str | None = None  # HTTP Basic password instead of the SNS signature
    postmark_webhook_secret: str | None = None  # HTTP Basic password set in Postmark's webhook URL
    sendgrid_webhook_public_key: str | None = None  # base64 DER (ECDSA P-256), from SendGrid's settings
    mailgun_webhook_signing_key: str | None = None
    # Outgoing webhooks (Standard Webhooks). The retry schedule: seconds before each attempt.
    webhook_allow_private: bool = False
    webhook_retry_seconds: Annotated[list[float], NoDecode] = Field(
        default_factory=lambda: [0, 5, 300, 1800, 7200, 18000, 36000, 36000])
    webhook_timeout_seconds: float = Field(default=10, gt=0, le=60)
    webhook_max_jobs: int = Field(default=50, ge=1, le=1000)  # concurrent webhook deliveries per worker
    # Channels (service.channels). Slack: incoming-webhook URLs need nothing; a channel id needs a bot token.
    slack_bot_token: str | None = None
    slack_api_url: str = "https://slack.com/api"
    # The http channel signs the Standard Webhooks way with this (whsec_...); unset: derived from SECRET_KEY.
    http_channel_secret: str | None = None
    channel_timeout_seconds: float = Field(default=10, gt=0, le=60)
    # History on disk (service.archive): finished notifications and audit entries move to
    # PostgreSQL this long after they finish, and stay there HISTORY_RETENTION_DAYS. Unset: Redis only.
    database_url: str | None = None
    history_retention_days: int = Field(default=90, ge=1, le=3660)
    archive_after_seconds: int = Field(default=60, ge=0, le=7 * 86400)

    @property
    def mail_domain(self) -> str:
        return parseaddr(self.mail_from)[1].rpartition("@")[2]

    @field_validator("api_keys", mode="before")
    @classmethod
    def _parse_api_keys(cls, raw: object) -> object:
        if isinstance(raw, dict):
            return list(raw.items())
        if not isinstance(raw, str):
            return raw
        keys: list[tuple[str, str]] = []
        for pair in filter(None, (p.strip() for p in raw.split(","))):
            name, sep, secret = pair.partition(":")
            if not sep or not name or len(secret) < 8:
                raise ValueError("expected comma-separated name:secret pairs, secrets of 8+ characters")
            keys.append((name, secret))
        if len({secret for _, secret in keys}) != len(keys):
            raise ValueError("the same secret is given twice")
        return keys

    @field_validator("ses_topic_arns", mode="before")
    @classmethod
    def _parse_arns(cls, raw: object) -> object:
        return [a.strip() for a in raw.split(",") if a.strip()] if isinstance(raw, str) else raw

    @field_validator("webhook_retry_seconds", mode="before")
    @classmethod
    def _parse_schedule(cls, raw: object) -> object:
        if isinstance(raw, str):
            raw = [p.strip() for p in raw.split(",") if p.strip()]
        if isinstance(raw, list) and not raw:
            raise ValueError("give at least one delay (0 for an immediate first attempt)")
        return raw

    @field_validator("bounce_address")
    @classmethod
    def _check_bounce_address(cls, value: str | None) -> str | None:
        if not value:
            return None
        local, at, domain = value.strip().rpartition("@")
        if not at or not local or "." not in domain or "+" in local or not value.isascii() or " " in value:
            raise ValueError("expected a plain address such as bounces@bounce.acme.test (no '+', ASCII)")
        if len(local) + 1 + VERP_TOKEN_LENGTH > 64:
            raise ValueError(f"the local part leaves no room for the {VERP_TOKEN_LENGTH}-character token "
                             "within the 64 characters an address's local part may have")
        return value.strip().lower()

    @field_validator("redis_url")
    @classmethod
    def _check_redis_url(cls, url: str) -> str:
        if is_sentinel(url):
            parse_sentinel(url)
        else:
            _check_url(url, _REDIS_SCHEMES, need_host=not url.startswith("unix:"))
        return url

    @field_validator("database_url")
    @classmethod
    def _check_database_url(cls, url: str | None) -> str | None:
        if not url:
            return None
        _check_url(url, {"postgresql", "postgres"}, need_host=False)
        return url

    @field_validator("smtp_url")
    @classmethod
    def _check_smtp_url(cls, url: str) -> str:
        _check_url(url, _SMTP_SCHEMES, need_host=True)
        return url

    @field_validator("public_url")
    @classmethod
    def _check_public_url(cls, url: str) -> str:
        _check_url(url, {"http", "https"}, need_host=True)
        return url.rstrip("/")

    @field_validator("mail_from")
    @classmethod
    def _check_mail_from(cls, value: str) -> str:
        if "\r" in value or "\n" in value:
            raise ValueError("must be a single line")
        name, addr = parseaddr(value)
        if "@" not in addr:
            raise ValueError("expected an address such as 'Acme <no-reply@acme.test>'")
        Address(display_name=name, addr_spec=addr)
        return value

    @field_validator("smtp_ca_file")
    @classmethod
    def _check_ca_file(cls, path: Path | None) -> Path | None:
        if path is not None and not path.is_file():
            raise ValueError(f"{path} is not a file")
        return path

    @field_validator("templates_dir")
    @classmethod
    def _check_templates_dir(cls, path: Path) -> Path:
        if not path.is_dir():
            raise ValueError(f"{path} is not a directory")
        return path

    @model_validator(mode="after")
    def _check_backoff(self) -> Settings:
        if self.retry_max_seconds < self.retry_base_seconds:
            raise ValueError("RETRY_MAX_SECONDS must be at least RETRY_BASE_SECONDS")
        if self.job_timeout_seconds <= self.smtp_timeout_seconds:
            raise ValueError("JOB_TIMEOUT_SECONDS must be longer than SMTP_TIMEOUT_SECONDS")
        if self.database_url and self.archive_after_seconds >= self.retention_seconds:
            raise ValueError("ARCHIVE_AFTER_SECONDS must be shorter than RETENTION_SECONDS "
                             "(a record would expire in Redis before it moved)")
        return self


def _check_url(url: str, schemes: set[str], *, need_host: bool) -> None:
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises on a non-numeric port
    except ValueError as exc:
        raise ValueError(f"not a valid URL ({exc})") from None
    if parts.scheme not in schemes:
        raise ValueError(f"scheme must be one of {', '.join(sorted(schemes))}")
    if need_host and not parts.hostname:
        raise ValueError("the URL has no host")


def load_settings(**overrides: object) -> Settings:
    """Read settings, or stop the process with one line naming the bad variable."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        raise SystemExit(f"herald: configuration error: {describe_error(exc)}") from None


def describe_error(exc: ValidationError) -> str:
    problems = []
    for err in exc.errors():
        field = ".".join(str(p) for p in err["loc"]) or "settings"
        problems.append(f"{field.upper()}: {err['msg']}")
    return "; ".join(problems)
