"""The Store's Lua scripts over fakeredis: create, transition, attempts, TTLs, suppression."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import fakeredis.aioredis
import pytest

from service import recipients
from service.keys import PENDING_KEY, attempts_key, record_key
from service.store import Created, NewRecord, Store


@pytest.fixture
async def redis() -> AsyncIterator[fakeredis.aioredis.FakeRedis]:
    client = fakeredis.aioredis.FakeRedis()
    yield client
    await client.aclose()


@pytest.fixture
def store(redis) -> Store:
    return Store(redis, retention_seconds=3600)


def record(nid: str = "n1", **fields: Any) -> dict[str, Any]:
    return {"id": nid, "status": "queued", "fingerprint": "fp-1", "to": {"email": "ada@example.com"}, "to_email": "ada@example.com",
            "template": "user.welcome", "created_ms": 1_000, "error": None} | fields


async def pending(redis) -> dict[str, float]:
    return {k.decode(): v for k, v in await redis.zrange(PENDING_KEY, 0, -1, withscores=True)}


async def test_create_writes_record_and_pending_entry(store, redis):
    assert await store.create(NewRecord(record(), ttl=600, due_ms=1_000)) == Created(True, None, None)
    raw = await redis.hgetall(record_key("n1"))
    assert raw[b"id"] == b"n1" and raw[b"status"] == b"queued" and raw[b"fingerprint"] == b"fp-1"
    assert raw[b"to"] == b'{"email":"ada@example.com"}' and raw[b"error"] == b""
    assert await pending(redis) == {"n1": 1_000}
    assert 595 <= await redis.ttl(record_key("n1")) <= 600


async def test_create_without_due_time_adds_no_pending_entry(store, redis):
    assert (await store.create(NewRecord(record(status="suppressed"), ttl=600, due_ms=None))).created
    assert await redis.exists(record_key("n1")) == 1
    assert await pending(redis) == {}


async def test_second_create_returns_stored_fingerprint_and_changes_nothing(store, redis):
    await store.create(NewRecord(record(), ttl=600, due_ms=1_000))
    before = await redis.hgetall(record_key("n1"))
    again = await store.create(NewRecord(record(status="sent", fingerprint="fp-2"), ttl=10, due_ms=5))
    assert again == Created(False, "fp-1", None)
    assert await redis.hgetall(record_key("n1")) == before
    assert await pending(redis) == {"n1": 1_000}
    assert await redis.ttl(record_key("n1")) > 10


async def test_get_decodes_the_record_with_its_attempts(store):
    await store.create(NewRecord(record(), ttl=600, due_ms=1_000))
    await store.transition("n1", allowed=None, attempt={"n": 1, "outcome": "sent"})
    got = await store.get("n1")
    assert got["status"] == "queued" and got["attempt_count"] == "1"
    assert got["attempts"] == [{"n": 1, "outcome": "sent"}]
    assert await store.get("missing") is None


async def test_transition_applies_fields_when_status_allowed(store, redis):
    await store.create(NewRecord(record(), ttl=600, due_ms=1_000))
    assert await store.transition("n1", allowed=["queued", "retrying"], fields={"status": "sending"}) == (True, "queued")
    assert await redis.hget(record_key("n1"), "status") == b"sending"
    assert await pending(redis) == {"n1": 1_000}


async def test_transition_refused_when_status_not_allowed(store, redis):
    await store.create(NewRecord(record(), ttl=600, due_ms=1_000))
    applied = await store.transition("n1", allowed=["sending"], fields={"status": "sent"}, pending=None,
                                     attempt={"n": 1}, ttl=5)
    assert applied == (False, "queued")
    assert await redis.hget(record_key("n1"), "status") == b"queued"
    assert await pending(redis) == {"n1": 1_000}
    assert await redis.exists(attempts_key("n1")) == 0
    assert await redis.ttl(record_key("n1")) > 5


async def test_allowed_matches_whole_status_names_only(store):
    await store.create(NewRecord(record(status="sending"), ttl=600, due_ms=1_000))
    assert await store.transition("n1", allowed=["send", "ending"], fields={"status": "x"}) == (False, "sending")


async def test_transition_on_missing_record_returns_none(store, redis):
    assert await store.transition("ghost", allowed=None, fields={"status": "sent"}, attempt={"n": 1}) == (False, None)
    assert await redis.exists(record_key("ghost"), attempts_key("ghost")) == 0


async def test_transition_allowed_none_means_any_status(store):
    await store.create(NewRecord(record(status="cancelled"), ttl=600, due_ms=None))
    assert await store.transition("n1", allowed=None, fields={"status": "sent"}) == (True, "cancelled")


async def test_pending_none_removes_the_pending_entry(store, redis):
    await store.create(NewRecord(record(), ttl=600, due_ms=1_000))
    await store.create(NewRecord(record("n2"), ttl=600, due_ms=2_000))
    await store.transition("n1", allowed=None, fields={"status": "sent"}, pending=None)
    assert await pending(redis) == {"n2": 2_000}


async def test_pending_int_rescores_the_entry(store, redis):
    await store.create(NewRecord(record(), ttl=600, due_ms=1_000))
    await store.transition("n1", allowed=None, fields={"status": "retrying"}, pending=9_000)
    assert await pending(redis) == {"n1": 9_000}
    assert await store.due_pending(before_ms=8_999) == []
    assert await store.due_pending(before_ms=9_000) == ["n1"]


async def test_attempts_are_appended_and_counted(store, redis):
    await store.create(NewRecord(record(attempt_count=0), ttl=600, due_ms=1_000))
    await store.transition("n1", allowed=None, attempt={"n": 1, "outcome": "transient_failure", "smtp_code": 451})
    await store.transition("n1", allowed=None, attempt={"n": 2, "outcome": "sent", "smtp_code": 250})
    got = await store.get("n1")
    assert got["attempt_count"] == "2"
    assert [(a["n"], a["outcome"], a["smtp_code"]) for a in got["attempts"]] == [
        (1, "transient_failure", 451), (2, "sent", 250)]


async def test_transition_without_attempt_leaves_count_alone(store, redis):
    await store.create(NewRecord(record(attempt_count=0), ttl=600, due_ms=1_000))
    await store.transition("n1", allowed=None, fields={"status": "sending"})
    assert await redis.hget(record_key("n1"), "attempt_count") == b"0"
    assert await redis.exists(attempts_key("n1")) == 0


async def test_ttl_is_set_and_attempts_list_follows_the_record(store, redis):
    await store.create(NewRecord(record(), ttl=600, due_ms=1_000))
    await store.transition("n1", allowed=None, attempt={"n": 1})
    assert abs(await redis.pttl(attempts_key("n1")) - await redis.pttl(record_key("n1"))) <= 20
    await store.transition("n1", allowed=None, fields={"status": "sent"}, ttl=50)
    record_ms = await redis.pttl(record_key("n1"))
    assert 49_000 <= record_ms <= 50_000
    assert abs(await redis.pttl(attempts_key("n1")) - record_ms) <= 20


async def test_ttl_none_keeps_the_existing_expiry(store, redis):
    await store.create(NewRecord(record(), ttl=600, due_ms=1_000))
    await store.transition("n1", allowed=None, fields={"status": "sending"}, attempt={"n": 1})
    assert 595 <= await redis.ttl(record_key("n1")) <= 600
    assert 595 <= await redis.ttl(attempts_key("n1")) <= 600


async def test_fields_are_encoded_none_as_empty_and_objects_as_json(store, redis):
    await store.create(NewRecord(record(), ttl=600, due_ms=1_000))
    await store.transition("n1", allowed=None, fields={"error": "boom", "sent_at": None, "meta": {"b": 1, "a": 2}})
    raw = await redis.hgetall(record_key("n1"))
    assert raw[b"error"] == b"boom" and raw[b"sent_at"] == b"" and raw[b"meta"] == b'{"a":2,"b":1}'


async def test_suppression_round_trip_is_case_insensitive(redis):
    assert await recipients.suppression(redis, "ada@example.com") is None
    await recipients.suppress(redis, "Ada@Example.COM", reason="hard bounce: 550", at="2026-01-01T00:00:00.000Z")
    expected = {"reason": "hard bounce: 550", "at": "2026-01-01T00:00:00.000Z"}
    assert await recipients.suppression(redis, "ada@example.com") == expected
    assert await recipients.suppression(redis, "ADA@EXAMPLE.COM") == expected
    assert await recipients.suppression(redis, "bob@example.com") is None


async def test_create_for_a_suppressed_recipient_writes_it_suppressed_without_pending(store, redis):
    await recipients.suppress(redis, "Ada@Example.com", reason="hard bounce: 550 5.1.1", at="2026-01-01T00:00:00.000Z")
    result = await store.create(NewRecord(record(), ttl=600, due_ms=1_000))
    assert result.created and result.refusal == "suppressed"
    assert await redis.hget(record_key("n1"), "status") == b"suppressed"
    assert await pending(redis) == {}


async def test_create_for_another_recipient_is_not_suppressed(store, redis):
    await recipients.suppress(redis, "bob@example.com", reason="unsubscribed", at="2026-01-01T00:00:00.000Z")
    result = await store.create(NewRecord(record(), ttl=600, due_ms=1_000))
    assert result == Created(True, None, None)
    assert await pending(redis) == {"n1": 1_000}
