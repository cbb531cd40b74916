"""POST/GET/DELETE /v1/notifications against a real redis-server."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest

from service.keys import PENDING_KEY

WELCOME = {"template": "user.welcome", "to": "ada@example.com", "context": {"name": "Ada"}}


async def queued_jobs(app) -> list[bytes]:
    return await app.state.queue.zrange("arq:queue", 0, -1)


async def test_accept_answers_202_with_location_and_queues_one_job(client, app):
    response = await client.post("/v1/notifications", json=WELCOME)
    assert response.status_code == 202
    body = response.json()
    assert response.headers["Location"] == f"/v1/notifications/{body['id']}"
    assert body["status"] == "queued" and body["actor"] == "test"
    assert body["category"] == "transactional" and body["locale"] == "en" and body["template_version"] == 1
    assert body["message_id"].startswith("<") and body["message_id"].endswith("@acme.test>")
    assert await queued_jobs(app) == [body["id"].encode()]
    assert (await client.get(response.headers["Location"])).json() == body


async def test_recipient_object_and_locale_fallback(client):
    response = await client.post(
        "/v1/notifications", json=WELCOME | {"to": {"email": "ada@example.com", "name": "Ada L."}, "locale": "fr-CA"}
    )
    assert response.status_code == 202
    assert response.json()["to_name"] == "Ada L." and response.json()["locale"] == "fr"
    other = await client.post("/v1/notifications", json=WELCOME | {"locale": "pt-BR"})
    assert other.json()["locale"] == "en"


@pytest.mark.parametrize(
    ("change", "needle"),
    [
        ({"template": "no.such"}, "unknown template"),
        ({"context": {}}, "name"),
        ({"to": "not-an-address"}, "email"),
        ({"to": {"email": "ada@example.com", "name": "Ada\r\nBcc: x@evil.test"}}, "single line"),
        ({"delay": 10, "send_at": "2099-01-01T00:00:00Z"}, "not both"),
        ({"delay": -5}, "greater than 0"),
        ({"send_at": "2001-01-01T00:00:00+00:00"}, "future"),
        ({"send_at": "2099-01-01T00:00:00"}, "timezone"),
        ({"idempotency_key": "has spaces"}, "pattern"),
        ({"idempotency_key": "x" * 129}, "pattern"),
        ({"locale": "../../etc"}, "pattern"),
        ({"unknown_field": 1}, "Extra inputs"),
        ({"context": {"name": "x" * 70000}}, "larger than"),
    ],
)
async def test_bad_input_is_a_clear_422_that_changes_nothing(client, app, change, needle):
    response = await client.post("/v1/notifications", json=WELCOME | change)
    assert response.status_code == 422, response.text
    assert needle in response.text
    assert await queued_jobs(app) == []
    assert await app.state.queue.zcard(PENDING_KEY) == 0


async def test_missing_variable_is_named(client):
    response = await client.post(
        "/v1/notifications", json={"template": "user.password_reset", "to": "ada@example.com", "context": {}}
    )
    assert response.status_code == 422
    assert {d["loc"][-1] for d in response.json()["detail"]} == {"name", "reset_url"}


async def test_context_the_template_cannot_use_is_422_not_a_worker_failure(client):
    response = await client.post(
        "/v1/notifications", json={"template": "digest.daily", "to": "ada@example.com", "context": {"items": 5}}
    )
    assert response.status_code == 422
    assert "cannot render" in response.text


@pytest.mark.parametrize(
    "raw", [b"{", b"[]", b"null", b'"x"', b'{"template": 5}', "{\"to\": \"\udcff\"}".encode("utf-8", "surrogatepass")]
)
async def test_malformed_bodies_never_500(client, raw):
    response = await client.post("/v1/notifications", content=raw, headers={"Content-Type": "application/json"})
    assert response.status_code == 422


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic dGVzdA=="}])
async def test_every_v1_call_needs_a_valid_key(app, headers):
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://herald.test", headers=headers) as anon:
        for method, path in [("POST", "/v1/notifications"), ("GET", "/v1/notifications/x"),
                             ("DELETE", "/v1/notifications/x"), ("GET", "/v1/templates")]:
            response = await anon.request(method, path, json=WELCOME)
            assert response.status_code == 401, (method, path)
            assert response.headers["WWW-Authenticate"] == "Bearer"
    assert await queued_jobs(app) == []


async def test_second_key_is_recorded_as_actor(client):
    response = await client.post("/v1/notifications", json=WELCOME,
                                 headers={"Authorization": "Bearer other-secret-0123"})
    assert response.json()["actor"] == "other"


async def test_idempotency_key_is_the_id_and_the_job_id(client, app):
    first = await client.post("/v1/notifications", json=WELCOME | {"idempotency_key": "signup-42"})
    assert first.status_code == 202 and first.json()["id"] == "signup-42"
    again = await client.post("/v1/notifications", json=WELCOME | {"idempotency_key": "signup-42"})
    assert again.status_code == 200 and again.json() == first.json()
    assert await queued_jobs(app) == [b"signup-42"]
    other = await client.post("/v1/notifications",
                              json=WELCOME | {"idempotency_key": "signup-42", "context": {"name": "Bob"}})
    assert other.status_code == 409
    assert (await client.get("/v1/notifications/signup-42")).json()["status"] == "queued"


async def test_idempotency_key_header(client):
    first = await client.post("/v1/notifications", json=WELCOME, headers={"Idempotency-Key": "hdr:1"})
    assert first.status_code == 202 and first.json()["id"] == "hdr:1"
    assert first.json()["idempotency_key"] == "hdr:1"
    same_in_body = await client.post("/v1/notifications", json=WELCOME | {"idempotency_key": "hdr:1"})
    assert same_in_body.status_code == 200
    clash = await client.post("/v1/notifications", json=WELCOME | {"idempotency_key": "a"},
                              headers={"Idempotency-Key": "b"})
    assert clash.status_code == 422
    bad = await client.post("/v1/notifications", json=WELCOME, headers={"Idempotency-Key": "no spaces"})
    assert bad.status_code == 422


async def test_idempotency_outlives_arq_job_and_result(client, app, settings):
    from tests.conftest import drain

    first = await client.post("/v1/notifications", json=WELCOME | {"idempotency_key": "once"})
    await drain(settings)
    assert not await app.state.queue.exists("arq:job:once", "arq:result:once")
    again = await client.post("/v1/notifications", json=WELCOME | {"idempotency_key": "once"})
    assert again.status_code == 200 and again.json()["status"] == "sent"
    assert again.json()["id"] == first.json()["id"]
    assert await queued_jobs(app) == []


async def test_record_ttl_is_the_retention(client, app, settings):
    created = (await client.post("/v1/notifications", json=WELCOME | {"delay": 100})).json()
    ttl = await app.state.queue.ttl(f"herald:n:{created['id']}")
    assert settings.retention_seconds + 90 < ttl <= settings.retention_seconds + 100


async def test_scheduling_with_delay_and_send_at(client, app):
    before = datetime.now(UTC)
    delayed = (await client.post("/v1/notifications", json=WELCOME | {"delay": 3600})).json()
    assert delayed["status"] == "scheduled"
    due = datetime.fromisoformat(delayed["send_at"])
    assert timedelta(seconds=3599) < due - before < timedelta(seconds=3601)
    at = (before + timedelta(days=1)).replace(microsecond=0)
    pinned = (await client.post("/v1/notifications", json=WELCOME | {"send_at": at.isoformat()})).json()
    assert datetime.fromisoformat(pinned["send_at"]) == at
    score = await app.state.queue.zscore("arq:queue", pinned["id"])
    assert score == at.timestamp() * 1000


async def test_cancel_rules(client, settings):
    from tests.conftest import drain

    scheduled = (await client.post("/v1/notifications", json=WELCOME | {"delay": 60})).json()
    response = await client.delete(f"/v1/notifications/{scheduled['id']}")
    assert response.status_code == 200 and response.json()["status"] == "cancelled"
    assert (await client.delete(f"/v1/notifications/{scheduled['id']}")).status_code == 409
    sent = (await client.post("/v1/notifications", json=WELCOME)).json()
    await drain(settings)
    assert (await client.delete(f"/v1/notifications/{sent['id']}")).status_code == 409
    assert (await client.delete("/v1/notifications/nope")).status_code == 404
    assert (await client.get("/v1/notifications/nope")).status_code == 404


async def test_redis_down_is_503_with_retry_after(redis_url, smtp):
    from asgi_lifespan import LifespanManager

    from service.embedded import free_port
    from service.factory import create_app
    from tests.conftest import AUTH, make_settings

    app = create_app(make_settings(redis_url=f"redis://127.0.0.1:{free_port()}/0", smtp_url=smtp.url))
    async with LifespanManager(app) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://herald.test", headers=AUTH) as c:
            for response in (await c.post("/v1/notifications", json=WELCOME), await c.get("/v1/notifications/x")):
                assert response.status_code == 503
                assert response.headers["Retry-After"]
                assert "unavailable" in response.json()["detail"]
            ready = await c.get("/readyz")
            assert ready.status_code == 503


async def test_ids_with_colons_never_share_keys(client, settings, smtp):
    from tests.conftest import drain

    for key in ("x", "x:attempts", "a:x", "n:x"):
        response = await client.post("/v1/notifications", json=WELCOME | {"idempotency_key": key})
        assert response.status_code == 202, response.text
    await drain(settings)
    for key in ("x", "x:attempts", "a:x", "n:x"):
        got = await client.get(f"/v1/notifications/{key}")
        assert got.status_code == 200 and got.json()["status"] == "sent", got.text
        assert len(got.json()["attempts"]) == 1
    assert sorted(smtp.notification_ids()) == sorted(["x", "x:attempts", "a:x", "n:x"])


@pytest.mark.parametrize(
    "change",
    [
        {"send_at": "9999-12-31T23:59:59-14:00"},
        {"send_at": "0001-01-01T00:00:00+14:00"},
        {"context": {"name": "Ada", "deep": __import__("functools").reduce(lambda acc, _: [acc], range(600), [])}},
        {"delay": True},
        {"delay": float("inf")},
    ],
)
async def test_edge_values_are_422_not_500(client, app, change):
    import json

    raw = json.dumps(WELCOME | change, allow_nan=True)
    response = await client.post("/v1/notifications", content=raw, headers={"Content-Type": "application/json"})
    assert response.status_code == 422, response.text
    assert await queued_jobs(app) == []


@pytest.mark.parametrize("path", ["/v1/notifications", "/v1/templates/user.welcome/preview"])
async def test_lone_surrogates_in_context_are_422(client, app, path):
    raw = b'{"template": "user.welcome", "to": "ada@example.com", "context": {"name": "\\ud800"}}'
    if "preview" in path:
        raw = b'{"context": {"name": "\\ud800"}}'
    response = await client.post(path, content=raw, headers={"Content-Type": "application/json"})
    assert response.status_code == 422, response.text
    assert await queued_jobs(app) == []


async def test_repeat_of_a_send_at_request_after_its_time_is_still_a_repeat(client):
    import asyncio

    at = (datetime.now(UTC) + timedelta(seconds=0.5)).isoformat()
    body = WELCOME | {"send_at": at, "idempotency_key": "sa-1"}
    first = await client.post("/v1/notifications", json=body)
    assert first.status_code == 202
    await asyncio.sleep(0.6)
    again = await client.post("/v1/notifications", json=body)
    assert again.status_code == 200 and again.json()["id"] == "sa-1"
    stranger = await client.post("/v1/notifications", json=body | {"idempotency_key": "sa-2"})
    assert stranger.status_code == 422


async def test_without_a_key_malformed_json_is_still_401(app):
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://herald.test") as anon:
        response = await anon.post("/v1/notifications", content=b"{", headers={"Content-Type": "application/json"})
    assert response.status_code == 401


async def test_oversized_bodies_are_413_and_change_nothing(redis_url, smtp):
    from asgi_lifespan import LifespanManager

    from service.factory import create_app
    from tests.conftest import AUTH, make_settings

    app = create_app(make_settings(redis_url=redis_url, smtp_url=smtp.url, max_body_bytes=4096))
    async with LifespanManager(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://herald.test", headers=AUTH) as c:
            big = WELCOME | {"context": {"name": "x" * 5000}}
            assert (await c.post("/v1/notifications", json=big)).status_code == 413

            async def chunks():
                yield b'{"template": "user.welcome", "to": "ada@example.com", "context": {"name": "'
                for _ in range(10):
                    yield b"x" * 1000
                yield b'"}}'

            chunked = await c.post("/v1/notifications", content=chunks(), headers={"Content-Type": "application/json"})
            assert chunked.status_code == 413
            assert (await c.post("/v1/notifications", json=WELCOME)).status_code == 202
        assert await app.state.queue.zcard("arq:queue") == 1


async def test_a_key_rotates_without_downtime_and_each_key_is_rate_limited(redis_url, smtp):
    from asgi_lifespan import LifespanManager

    from service.factory import create_app
    from tests.conftest import make_settings

    keys = "ops:old-secret-1234,ops:new-secret-5678,other:other-secret-9"
    app = create_app(make_settings(redis_url=redis_url, smtp_url=smtp.url, api_keys=keys, rate_limit_per_second=3))
    async with LifespanManager(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://herald.test") as c:
            old = {"Authorization": "Bearer old-secret-1234"}
            new = {"Authorization": "Bearer new-secret-5678"}
            assert (await c.post("/v1/notifications", json=WELCOME, headers=old)).json()["actor"] == "ops"
            assert (await c.post("/v1/notifications", json=WELCOME, headers=new)).json()["actor"] == "ops"
            answers = [await c.get("/v1/templates", headers=new) for _ in range(5)]
            limited = [r for r in answers if r.status_code == 429]
            assert limited and int(limited[0].headers["Retry-After"]) >= 1
            other = await c.get("/v1/templates", headers={"Authorization": "Bearer other-secret-9"})
            assert other.status_code == 200  # one key's limit is not another's



async def test_a_context_that_makes_the_output_explode_is_refused(redis_url, smtp, tmp_path):
    from asgi_lifespan import LifespanManager

    from service.factory import create_app
    from service.templates import Catalog
    from tests.conftest import AUTH, make_settings

    folder = tmp_path / "loop.repeat" / "en"
    folder.mkdir(parents=True)
    (folder.parent / "template.toml").write_text('category = "internal"\n')
    (folder / "subject.j2").write_text("Repeat")
    (folder / "text.j2").write_text("{% for i in range(times) %}{{ word }}{% endfor %}")
    app = create_app(make_settings(redis_url=redis_url, smtp_url=smtp.url), catalog=Catalog(tmp_path))
    async with LifespanManager(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://herald.test", headers=AUTH) as c:
            def body(times: int) -> dict:
                return {"template": "loop.repeat", "to": "ada@example.com",
                        "context": {"times": times, "word": "w" * 100}}

            assert (await c.post("/v1/notifications", json=body(10))).status_code == 202
            huge = await c.post("/v1/notifications", json=body(50_000))  # 5 million characters
            assert huge.status_code == 422 and "limit" in huge.text
            beyond = await c.post("/v1/notifications", json=body(10**9))  # the sandbox refuses the range
            assert beyond.status_code == 422
        assert await app.state.queue.zcard("arq:queue") == 1
