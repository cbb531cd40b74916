"""Preferences and the suppression list through the API."""

from __future__ import annotations

import json

import pytest


async def test_preferences_default_to_everything_and_merge(client):
    prefs = (await client.get("/v1/recipients/ada@example.com/preferences")).json()
    assert all(prefs["categories"].values()) and prefs["suppressed"] is None
    await client.put("/v1/recipients/ada@example.com/preferences", json={"categories": {"marketing": False}})
    after = await client.put("/v1/recipients/ADA@example.com/preferences", json={"categories": {"digest": False}})
    categories = after.json()["categories"]
    assert categories["marketing"] is False and categories["digest"] is False and categories["internal"] is True


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        ({"categories": {"transactional": False}}, "always sent"),
        ({"categories": {"security": False}}, "always sent"),
        ({"categories": {"spam": False}}, "unknown categories"),
        ({"categories": {"marketing": "nope"}}, "bool"),
        ({"prefs": {}}, "Extra inputs"),
    ],
)
async def test_bad_preferences_are_422_and_change_nothing(client, app, body, needle):
    response = await client.put("/v1/recipients/ada@example.com/preferences", json=body)
    assert response.status_code == 422 and needle in response.text
    assert not await app.state.queue.exists("herald:prefs:ada@example.com")


async def test_invalid_email_in_path_is_422(client):
    assert (await client.get("/v1/recipients/not-an-email/preferences")).status_code == 422  # nor a profile
    assert (await client.get("/v1/recipients/nobody@/preferences")).status_code == 422
    assert (await client.delete("/v1/suppressions/not-an-email")).status_code == 422


async def test_preference_update_is_audited(client, app):
    await client.put("/v1/recipients/ada@example.com/preferences", json={"categories": {"marketing": False}})
    [(_, fields)] = await app.state.queue.xrange("herald:audit")
    entry = json.loads(fields[b"entry"])
    assert entry["actor"] == "test" and entry["action"] == "preferences.update"
    assert entry["target"] == "ada@example.com" and entry["detail"] == {"categories": {"marketing": False}}


async def test_suppression_list_pages_and_removal(client, app):
    from service import recipients

    for n in range(25):
        await recipients.suppress(app.state.queue, f"u{n}@example.com", reason="hard bounce: 550 5.1.1", at="t")
    seen, cursor = [], None
    for _ in range(50):
        page = (await client.get("/v1/suppressions", params={"limit": 10} | ({"cursor": cursor} if cursor else {})))
        body = page.json()
        seen += [i["email"] for i in body["items"]]
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert sorted(seen) == sorted(f"u{n}@example.com" for n in range(25))
    assert (await client.delete("/v1/suppressions/u3@example.com")).json() == {"email": "u3@example.com",
                                                                               "removed": True}
    assert (await client.delete("/v1/suppressions/u3@example.com")).status_code == 404
    welcome = await client.post("/v1/notifications",
                                json={"template": "user.welcome", "to": "u3@example.com", "context": {"name": "U"}})
    assert welcome.json()["status"] == "queued"
    assert (await client.get("/v1/suppressions", params={"cursor": "%%%"})).status_code == 422
