"""GET /v1/templates, GET /v1/templates/{key}, POST /v1/templates/{key}/preview."""

from __future__ import annotations

import pytest

CONTRACT = {"user.welcome", "user.password_reset", "reminder", "newsletter", "digest.daily", "digest.weekly"}


async def test_list_has_the_contract_templates(client):
    response = await client.get("/v1/templates")
    assert response.status_code == 200
    items = {t["key"]: t for t in response.json()["items"]}
    assert CONTRACT <= set(items)
    assert items["user.welcome"]["locales"] == ["en", "fr"]
    assert items["user.password_reset"]["category"] == "security"
    assert items["newsletter"]["category"] == "marketing"
    assert items["reminder"]["variables"] == ["name", "title"]
    assert items["reminder"]["optional_variables"] == ["due_at"]


async def test_get_one_and_404(client):
    one = await client.get("/v1/templates/user.password_reset")
    assert one.json()["variables"] == ["name", "reset_url"] and one.json()["version"] == 1
    assert (await client.get("/v1/templates/nope")).status_code == 404


async def test_preview_renders_and_sends_nothing(client, app):
    response = await client.post("/v1/templates/user.welcome/preview",
                                 json={"context": {"name": "<Zoé>"}, "locale": "fr-BE"})
    assert response.status_code == 200
    body = response.json()
    assert body["locale"] == "fr" and body["subject"] == "Bienvenue chez Acme, <Zoé> !"
    assert "Bonjour <Zoé>" in body["text"]
    assert "&lt;Zoé&gt;" in body["html"] and "<Zoé>" not in body["html"]
    assert await app.state.queue.dbsize() == 0


async def test_preview_of_marketing_shows_the_unsubscribe_footer(client):
    body = (await client.post("/v1/templates/newsletter/preview",
                              json={"context": {"headline": "H", "body": "B"}})).json()
    assert "/u/" in body["text"] and "Unsubscribe" in body["html"]


@pytest.mark.parametrize(
    ("key", "payload", "status"),
    [
        ("user.welcome", {"context": {}}, 422),
        ("digest.daily", {"context": {"items": 3}}, 422),
        ("user.welcome", {"context": {"name": "x"}, "locale": "<script>"}, 422),
        ("user.welcome", {"context": "nope"}, 422),
        ("nope", {"context": {}}, 404),
    ],
)
async def test_preview_bad_input(client, key, payload, status):
    response = await client.post(f"/v1/templates/{key}/preview", json=payload)
    assert response.status_code == status
    assert "detail" in response.json()


async def test_preview_shows_each_channels_payload(client) -> None:
    context = {"name": "Grace", "email": "g@example.com", "message": "hi <!here>"}
    response = await client.post("/v1/templates/ops.inquiry/preview", json={"context": context})
    assert response.status_code == 200, response.text
    shown = response.json()
    assert shown["subject"] == "New inquiry from Grace"
    assert shown["channels"]["slack"]["text"] == "New inquiry from Grace"
    assert shown["channels"]["http"]["message"] == "hi <!here>"
    missing = await client.post("/v1/templates/ops.inquiry/preview", json={"context": {"name": "G"}})
    assert missing.status_code == 422
