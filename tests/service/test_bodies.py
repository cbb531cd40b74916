"""POST /v1/notifications reads its body by hand: it must refuse exactly what FastAPI would."""

from __future__ import annotations

import pytest

WELCOME = b'{"template": "user.welcome", "to": "ada@example.com", "context": {"name": "Ada"}}'


@pytest.mark.parametrize("content_type", ["application/json", "application/json; charset=utf-8",
                                          "application/vnd.acme+json", "Application/JSON"])
async def test_json_content_types_are_read(client, content_type) -> None:
    response = await client.post("/v1/notifications", content=WELCOME, headers={"Content-Type": content_type})
    assert response.status_code == 202, response.text


@pytest.mark.parametrize("body", [b"\xef\xbb\xbf" + WELCOME, WELCOME.decode().encode("utf-16"),
                                  WELCOME.decode().encode("utf-32-le")])
async def test_what_json_loads_reads_is_still_read(client, body) -> None:
    """FastAPI read bodies with json.loads, which skips a UTF-8 byte-order mark and detects UTF-16/32."""
    response = await client.post("/v1/notifications", content=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 202, response.text


async def test_a_body_that_is_not_text_is_400(client, app) -> None:
    response = await client.post("/v1/notifications", content=b'{"template": "\xff\xfe\xfd"}',
                                 headers={"Content-Type": "application/json"})
    assert response.status_code == 400
    assert await app.state.queue.zcard("arq:queue") == 0


@pytest.mark.parametrize(("body", "content_type", "loc"), [
    (WELCOME, None, ["body"]),
    (WELCOME, "text/plain", ["body"]),
    (WELCOME, "multipart/form-data; boundary=x", ["body"]),
    (WELCOME, "application/json-seq", ["body"]),
    (WELCOME, "application/jsonpatch", ["body"]),
    (b"", "application/json", ["body"]),
    (b"{", "application/json", ["body", 1]),
    (b"\xff\xfe{}", "application/json", ["body"]),
    (b"null", "application/json", ["body"]),
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
    assert response.status_code == 422
    [error] = response.json()["detail"]
    assert (error["loc"], error["type"]) == (["header", "Idempotency-Key"], "string_pattern_mismatch")
    # With a bad body as well, both are reported, as FastAPI did.
    both = await client.post("/v1/notifications", content=b"[]",
                             headers={"Content-Type": "application/json", "Idempotency-Key": "no spaces"})
    assert [e["loc"][0] for e in both.json()["detail"]] == ["header", "body"]
    assert await app.state.queue.zcard("arq:queue") == 0


async def test_the_body_and_header_are_still_documented(client) -> None:
    operation = (await client.get("/openapi.json")).json()["paths"]["/v1/notifications"]["post"]
    body = operation["requestBody"]["content"]["application/json"]["schema"]
    assert body == {"$ref": "#/components/schemas/NotificationIn"}
    assert [p["name"] for p in operation["parameters"]] == ["Idempotency-Key"]
    schemas = (await client.get("/openapi.json")).json()["components"]["schemas"]
    assert {"NotificationIn", "Recipient"} <= set(schemas)  # no dangling reference
    assert schemas["NotificationIn"]["properties"]["to"]["anyOf"][1] == {"$ref": "#/components/schemas/Recipient"}
    assert "description" not in operation or "FastAPI" not in operation["description"]
