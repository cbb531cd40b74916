"""POST /v1/notifications reads its body by hand: it must refuse exactly what FastAPI would."""

from __future__ import annotations

import pytest

WELCOME = b'{"template": "user.welcome", "to": "ada@example.com", "context": {"name": "Ada"}}'


@pytest.mark.parametrize("content_type", ["application/json", "application/json; charset=utf-8",
                                          "application/vnd.acme+json"])
async def test_json_content_types_are_read(client, content_type) -> None:
    response = await client.post("/v1/notifications", content=WELCOME, headers={"Content-Type": content_type})
    assert response.status_code == 202, response.text


@pytest.mark.parametrize(("body", "content_type", "loc"), [
    (WELCOME, None, ["body"]),
    (WELCOME, "text/plain", ["body"]),
    (WELCOME, "multipart/form-data; boundary=x", ["body"]),
    (b"", "application/json", ["body"]),
    (b"{", "application/json", ["body"]),
    (b"\xff\xfe{}", "application/json", ["body"]),
    (b"[]", "application/json", ["body"]),
    (b'{"template": "user.welcome", "to": "nobody"}', "application/json", ["body", "to"]),
    (WELCOME[:-1] + b', "extra": 1}', "application/json", ["body", "extra"]),
])
async def test_unreadable_bodies_are_422_naming_the_body(client, app, body, content_type, loc) -> None:
    headers = {} if content_type is None else {"Content-Type": content_type}
    response = await client.post("/v1/notifications", content=body, headers=headers)
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"][:len(loc)] == loc
    assert await app.state.queue.zcard("arq:queue") == 0


async def test_a_malformed_idempotency_header_is_422(client, app) -> None:
    response = await client.post("/v1/notifications", content=WELCOME,
                                 headers={"Content-Type": "application/json", "Idempotency-Key": "no spaces"})
    assert response.status_code == 422 and response.json()["detail"][0]["loc"] == ["header", "Idempotency-Key"]
    assert await app.state.queue.zcard("arq:queue") == 0


async def test_the_body_and_header_are_still_documented(client) -> None:
    operation = (await client.get("/openapi.json")).json()["paths"]["/v1/notifications"]["post"]
    body = operation["requestBody"]["content"]["application/json"]["schema"]
    assert body == {"$ref": "#/components/schemas/NotificationIn"}
    assert [p["name"] for p in operation["parameters"]] == ["Idempotency-Key"]
