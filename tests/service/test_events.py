"""Delivery reports against a real redis-server: what a bounce, a complaint or a soft bounce does."""

from __future__ import annotations

from typing import Any

import pytest
from asgi_lifespan import LifespanManager

from service import verp
from service.factory import create_app
from service.reports import Report
from tests.conftest import drain, make_settings
from tests.support.smtp import ScriptedSMTP

WELCOME = {"template": "user.welcome", "to": "ada@example.com", "context": {"name": "Ada"}}
NEWSLETTER = {"template": "newsletter", "to": "ada@example.com", "context": {"headline": "News", "body": "Hi"}}
RESET = {"template": "user.password_reset", "to": "ada@example.com",
         "context": {"name": "Ada", "reset_url": "https://acme.test/r/1"}}


def bounce(**fields: Any) -> Report:
    values: dict[str, Any] = {"type": "bounced", "source": "dsn", "reference": "dsn-1|ada@example.com|bounced",
                              "email": "ada@example.com", "status": "5.1.1", "action": "failed",
                              "diagnostic": "550 5.1.1 user unknown"}
    return Report(**(values | fields))


async def sent(client, settings, body: dict = WELCOME) -> dict:
    response = await client.post("/v1/notifications", json=body)
    assert response.status_code == 202, response.text
    await drain(settings)
    got = (await client.get(f"/v1/notifications/{response.json()['id']}")).json()
    assert got["status"] == "sent"
    return got


async def test_a_hard_bounce_after_sent_makes_it_bounced_and_suppresses_the_address(client, app, settings, smtp):
    note = await sent(client, settings)
    assert await app.state.events.record([bounce(notification_id=note["id"])]) == ["recorded"]
    got = (await client.get(f"/v1/notifications/{note['id']}")).json()
    assert got["status"] == "bounced" and "5.1.1" in got["error"]
    [event] = got["events"]
    assert event["type"] == "bounced" and event["source"] == "dsn" and event["at"]
    assert event["detail"]["status"] == "5.1.1" and event["detail"]["matched_by"] == "notification id"
    [entry] = (await client.get("/v1/suppressions")).json()["items"]
    assert entry["email"] == "ada@example.com" and entry["reason"].startswith("bounce")
    assert "user unknown" in entry["reason"]
    listed = (await client.get("/v1/notifications", params={"status": "bounced"})).json()["items"]
    assert [n["id"] for n in listed] == [note["id"]]


async def test_the_same_report_twice_is_one_event(client, app, settings, smtp):
    note = await sent(client, settings)
    report = bounce(notification_id=note["id"])
    assert await app.state.events.record([report, report]) == ["recorded", "duplicate"]
    assert await app.state.events.record([report]) == ["duplicate"]
    assert len((await client.get(f"/v1/notifications/{note['id']}")).json()["events"]) == 1


async def test_a_report_finds_its_notification_by_the_message_id(client, app, settings, smtp):
    note = await sent(client, settings)
    await app.state.events.record([bounce(message_id=note["message_id"])])
    got = (await client.get(f"/v1/notifications/{note['id']}")).json()
    assert got["status"] == "bounced" and got["events"][0]["detail"]["matched_by"] == "message-id"


async def test_mail_goes_out_from_a_verp_address_whose_token_finds_the_notification(
        redis_url, smtp: ScriptedSMTP):
    settings = make_settings(redis_url=redis_url, smtp_url=smtp.url, bounce_address="bounces@bounce.acme.test")
    app = create_app(settings)
    async with LifespanManager(app):
        import httpx

        from tests.conftest import AUTH
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://h.test",
                                     headers=AUTH) as client:
            note = await sent(client, settings)
            [mail] = smtp.received
            token = verp.token_of("bounces@bounce.acme.test", mail.mail_from)
            assert token and len(mail.mail_from.partition("@")[0]) <= 64
            assert await app.state.events.record([bounce(token=token, email=None)]) == ["recorded"]
            got = (await client.get(f"/v1/notifications/{note['id']}")).json()
            assert got["status"] == "bounced" and got["events"][0]["detail"]["matched_by"] == "verp"
            forged = token[:-1] + ("a" if token[-1] != "a" else "b")
            assert await app.state.events.record([bounce(token=forged, email=None, reference="x")]) == ["unmatched"]


async def test_a_complaint_stops_optional_mail_but_not_a_password_reset(client, app, settings, smtp):
    note = await sent(client, settings, NEWSLETTER)
    complaint = Report(type="complained", source="arf", reference="arf-1", notification_id=note["id"],
                       email="ada@example.com", feedback_type="abuse")
    assert await app.state.events.record([complaint]) == ["recorded"]
    assert (await client.get(f"/v1/notifications/{note['id']}")).json()["status"] == "complained"
    [entry] = (await client.get("/v1/suppressions")).json()["items"]
    assert entry["reason"].startswith("complaint") and entry["scope"] == "optional"
    newsletter = (await client.post("/v1/notifications", json=NEWSLETTER)).json()
    reset = (await client.post("/v1/notifications", json=RESET)).json()
    assert newsletter["status"] == "suppressed" and reset["status"] == "queued"
    await drain(settings)
    assert (await client.get(f"/v1/notifications/{reset['id']}")).json()["status"] == "sent"


async def test_a_hard_bounce_widens_a_complaints_suppression_and_a_complaint_never_narrows_a_bounces(
        client, app, settings, smtp):
    complaint = Report(type="complained", source="arf", reference="arf-2", email="ada@example.com")
    await app.state.events.record([complaint])
    await app.state.events.record([bounce()])
    [entry] = (await client.get("/v1/suppressions")).json()["items"]
    assert entry["reason"].startswith("bounce") and "scope" not in entry
    await app.state.events.record([Report(type="complained", source="arf", reference="arf-3", email="ada@example.com")])
    [entry] = (await client.get("/v1/suppressions")).json()["items"]
    assert entry["reason"].startswith("bounce")
    reset = (await client.post("/v1/notifications", json=RESET)).json()
    assert reset["status"] == "suppressed"


async def test_a_report_for_an_unknown_notification_still_suppresses_and_is_kept(client, app, settings, smtp):
    report = bounce(notification_id="gone-long-ago", message_id="<00000000000000000000000000000000@acme.test>")
    assert await app.state.events.record([report]) == ["unmatched"]
    [entry] = (await client.get("/v1/suppressions")).json()["items"]
    assert entry["email"] == "ada@example.com"
    [(_, fields)] = await app.state.store.redis.xrange("herald:reports:unmatched")
    assert b"gone-long-ago" in fields[b"report"]


@pytest.mark.parametrize(("days", "suppressed"), [(0, True), (3, False)])
async def test_soft_bounces_suppress_only_when_repeated_over_days(redis_url, smtp, days, suppressed):
    settings = make_settings(redis_url=redis_url, smtp_url=smtp.url, soft_bounce_limit=3, soft_bounce_days=days)
    app = create_app(settings)
    async with LifespanManager(app):
        for n in range(3):
            soft = Report(type="soft_bounce", source="dsn", reference=f"soft-{n}", email="ada@example.com",
                          status="4.2.2", diagnostic="mailbox full")
            assert await app.state.events.record([soft]) == ["unmatched"]
        entry = await app.state.store.redis.hget("herald:suppressed", "ada@example.com")
        assert (entry is not None) is suppressed
        if suppressed:
            assert b"bounce (soft, repeated)" in entry and b"mailbox full" in entry


async def test_a_delay_is_recorded_without_changing_the_status_or_suppressing(client, app, settings, smtp):
    note = await sent(client, settings)
    delayed = Report(type="delayed", source="dsn", reference="d-1", notification_id=note["id"],
                     email="ada@example.com", status="4.4.7", action="delayed")
    await app.state.events.record([delayed])
    got = (await client.get(f"/v1/notifications/{note['id']}")).json()
    assert got["status"] == "sent" and [e["type"] for e in got["events"]] == ["delayed"]
    assert (await client.get("/v1/suppressions")).json()["items"] == []


async def test_status_changes_reach_the_outbox_only_while_a_webhook_is_registered(client, app, settings, smtp):
    redis = app.state.store.redis
    quiet = await sent(client, settings)
    assert await redis.xlen("herald:outbox") == 0
    await redis.hset("herald:webhooks", "wh_test", "{}")
    note = await sent(client, settings)
    await app.state.events.record([bounce(notification_id=note["id"])])
    entries = [{k.decode(): v.decode() for k, v in f.items()} for _, f in await redis.xrange("herald:outbox")]
    assert [(e["type"], e["id"]) for e in entries] == [("notification.sent", note["id"]),
                                                      ("notification.bounced", note["id"])]
    assert all(e["at"].endswith("Z") and len(e["at"]) == 24 for e in entries)
    assert quiet["id"] not in {e["id"] for e in entries}


async def test_events_show_in_metrics_the_dashboard_page_and_the_overview_chart(client, app, settings, smtp):
    from tests.dashboard.test_pages import _browser, login

    note = await sent(client, settings)
    await app.state.events.record([bounce(notification_id=note["id"]),
                                   Report(type="complained", source="ses", reference="c-1", email="bob@example.com")])
    metrics = (await client.get("/metrics")).text
    assert 'herald_events_total{source="dsn",type="bounced"} 1.0' in metrics
    assert 'herald_events_total{source="ses",type="complained"} 1.0' in metrics
    async with await _browser(app) as browser:
        await login(browser)
        page = (await browser.get(f"/dashboard/notifications/{note['id']}")).text
        assert 'id="events"' in page and "status-bounced" in page and "user unknown" in page
        overview = (await browser.get("/dashboard")).text
        assert "bounced 1, complained 1" in overview


async def test_unmatched_reports_are_listed_newest_first_with_a_cursor(client, app, settings, smtp):
    for n in range(3):
        await app.state.events.record([bounce(reference=f"u-{n}", email=f"u{n}@example.com")])
    first = (await client.get("/v1/reports/unmatched", params={"limit": 2})).json()
    assert [r["email"] for r in first["items"]] == ["u2@example.com", "u1@example.com"]
    rest = (await client.get("/v1/reports/unmatched", params={"cursor": first["next_cursor"]})).json()
    assert [r["email"] for r in rest["items"]] == ["u0@example.com"] and rest["next_cursor"] is None
    assert (await client.get("/v1/reports/unmatched", params={"cursor": "bm9wZQ"})).status_code == 422
    from tests.dashboard.test_pages import _browser, login

    async with await _browser(app) as browser:
        await login(browser)
        page = (await browser.get("/dashboard/reports")).text
        assert "u0@example.com" in page and "user unknown" in page
