"""One structured line per event: JSON in production, key=value text in development."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator

import pytest

from service import logs
from tests.conftest import AUTH, drain


class _Keep(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def _kept(name: str) -> Iterator[list[logging.LogRecord]]:
    """Every record the logger `name` emits while the fixture lasts."""
    keep = _Keep()
    logger = logging.getLogger(name)
    logger.addHandler(keep)
    try:
        yield keep.records
    finally:
        logger.removeHandler(keep)


@pytest.fixture
def deliveries() -> Iterator[list[logging.LogRecord]]:
    yield from _kept("herald.deliver")


@pytest.fixture
def http_lines() -> Iterator[list[logging.LogRecord]]:
    yield from _kept("herald.http")


def _record(fields: dict) -> logging.LogRecord:
    return logging.getLogger("herald.test").makeRecord(
        "herald.test", logging.INFO, __file__, 1, "notification.sent", (), None, extra={"fields": fields})


def test_json_lines_carry_the_event_and_its_fields():
    logs.configure("INFO", "json")
    try:
        line = json.loads(logging.getLogger("herald").handlers[0].format(_record({"id": "n1", "smtp_code": 250})))
    finally:
        logs.configure("INFO", "text")
    assert line["event"] == "notification.sent" and line["id"] == "n1" and line["smtp_code"] == 250
    assert line["level"] == "info" and line["at"].endswith("Z")


def test_text_lines_read_as_key_value():
    logs.configure("INFO", "text")
    text = logging.getLogger("herald").handlers[0].format(_record({"id": "n1", "attempt": 2}))
    assert text.endswith("herald.test: notification.sent id=n1 attempt=2")


async def test_each_delivery_outcome_is_one_event_without_the_address(client, settings, smtp, deliveries):
    smtp.script.rcpt["bob@example.com"].append("451 4.3.0 later")
    smtp.script.rcpt["eve@example.com"].append("550 5.1.1 <eve@example.com>: no such user")
    fast = settings.model_copy(update={"retry_base_seconds": 0.05, "retry_max_seconds": 0.1})
    for to in ("ada@example.com", "bob@example.com", "eve@example.com"):
        body = {"template": "user.welcome", "to": to, "context": {"name": "X"}}
        assert (await client.post("/v1/notifications", json=body, headers=AUTH)).status_code == 202
    await drain(fast)
    events = [(r.getMessage(), r.fields["outcome"], r.fields["smtp_code"]) for r in deliveries]
    assert sorted(events) == sorted([
        ("notification.sent", "sent", 250), ("notification.retry", "transient_failure", 451),
        ("notification.sent", "sent", 250), ("notification.bounced", "hard_bounce", 550),
    ])
    for r in deliveries:
        assert {"id", "template", "category", "attempt", "duration_ms"} <= set(r.fields)
        assert "@" not in json.dumps(r.fields)


async def test_every_request_has_an_id_and_one_line_without_the_url(client, http_lines):
    answer = await client.get("/v1/recipients/ada@example.com/preferences", headers=AUTH)
    assert answer.status_code == 200
    [line] = http_lines
    assert line.getMessage() == "http.request"
    assert line.fields["route"] == "/v1/recipients/{email}/preferences"  # the template, not the address
    assert line.fields["status"] == 200 and line.fields["actor"] == "test" and line.fields["method"] == "GET"
    assert len(answer.headers["X-Request-ID"]) == 32


async def test_a_given_request_id_is_kept_and_a_strange_one_replaced(client, http_lines):
    kept = await client.get("/v1/templates", headers=AUTH | {"X-Request-ID": "trace-42.a"})
    assert kept.headers["X-Request-ID"] == "trace-42.a"
    odd = await client.get("/v1/templates", headers=AUTH | {"X-Request-ID": "bad id\twith spaces"})
    assert odd.headers["X-Request-ID"] != "bad id\twith spaces" and len(odd.headers["X-Request-ID"]) == 32
    refused = await client.get("/v1/templates", headers={"Authorization": "Bearer wrong-key"})
    assert refused.status_code == 401 and refused.headers["X-Request-ID"]
    assert [r.fields["status"] for r in http_lines] == [200, 200, 401]


async def test_lines_logged_during_a_request_carry_its_id():
    seen = []
    logger = logging.getLogger("herald.test")

    class Spy(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            seen.append(logs._fields(record))

    spy = Spy()
    logger.addHandler(spy)
    token = logs.REQUEST_ID.set("r-1")
    try:
        logs.event(logger, "something.happened", n=1)
    finally:
        logs.REQUEST_ID.reset(token)
        logger.removeHandler(spy)
    assert seen == [{"n": 1, "request_id": "r-1"}]
