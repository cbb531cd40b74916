"""The inbox's Server-Sent Events stream, read by a real HTTP client from the Procfile's web
process while its worker files the items (real uvicorn, real ARQ worker, real Redis)."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import httpx

from service import inbox_tokens
from tests.support.herald import AUTH, Herald

MENTION = {"template": "comment.mention", "recipient": "user_9",
           "context": {"name": "Ada", "author": "Grace", "excerpt": "look"}}


def _read_events(response: httpx.Response, into: list[dict[str, Any]], stop: threading.Event) -> None:
    event: dict[str, Any] = {}
    try:
        _parse(response, into, stop, event)
    except httpx.HTTPError:
        if not stop.is_set():  # the test closing the stream ends it; anything else is a failure
            raise


def _parse(response: httpx.Response, into: list[dict[str, Any]], stop: threading.Event,
           event: dict[str, Any]) -> None:
    for line in response.iter_lines():
        if stop.is_set():
            return
        if not line:
            if event:
                into.append(event | {"at": time.monotonic()})
            event = {}
        elif line.startswith("event: "):
            event["event"] = line[7:]
        elif line.startswith("data: "):
            event["data"] = json.loads(line[6:])
        elif line.startswith("id: "):
            event["id"] = line[4:]


def _wait(events: list[dict[str, Any]], name: str, timeout: float = 15) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = [e for e in events if e.get("event") == name]
        if found:
            return found[-1]
        time.sleep(0.01)
    raise AssertionError(f"no {name} event in {events}")


def test_a_browser_token_streams_new_items_and_changes(herald: Herald) -> None:
    herald.start("worker")
    with httpx.Client(base_url=herald.base, headers=AUTH, timeout=10) as api:
        token = api.post("/v1/recipients/user_9/inbox-token").json()["token"]
        events: list[dict[str, Any]] = []
        stop = threading.Event()
        with httpx.Client(base_url=herald.base, timeout=httpx.Timeout(10, read=30)) as browser, \
                browser.stream("GET", "/v1/inbox/stream", params={"token": token}) as response:
            assert response.status_code == 200
            assert response.headers["content-type"].startswith("text/event-stream")
            reader = threading.Thread(target=_read_events, args=(response, events, stop), daemon=True)
            reader.start()
            assert _wait(events, "inbox.counts")["data"]["unread"] == 0
            sent = api.post("/v1/notifications", json=MENTION)
            assert sent.status_code == 202
            item = _wait(events, "inbox.item")
            assert item["id"] == sent.json()["id"] and item["data"]["title"] == "Grace mentioned you"
            assert item["data"]["counts"]["unread"] == 1
            assert api.patch(f"/v1/recipients/user_9/inbox/{item['id']}", json={"read": True}).status_code == 200
            updated = _wait(events, "inbox.updated")
            assert updated["data"]["ids"] == [item["id"]] and updated["data"]["counts"]["unread"] == 0
            stop.set()
    refused = httpx.get(f"{herald.base}/v1/inbox/stream", params={"token": "nope.nope"})
    assert refused.status_code == 401


def test_a_browser_stream_ends_when_its_token_expires(herald: Herald) -> None:
    token = inbox_tokens.make(herald.env["SECRET_KEY"], "user_9", expires_at=int(time.time()) + 2)
    started = time.monotonic()
    with httpx.stream("GET", f"{herald.base}/v1/inbox/stream", params={"token": token},
                      timeout=httpx.Timeout(10, read=20)) as response:
        assert response.status_code == 200
        lines = list(response.iter_lines())  # returns once the server ends the stream
    assert "event: inbox.counts" in lines and time.monotonic() - started < 15
    again = httpx.get(f"{herald.base}/v1/inbox/stream", params={"token": token}, timeout=10)
    assert again.status_code == 401 and "expired" in again.text


def test_a_stream_reopened_with_last_event_id_gets_what_it_missed(herald: Herald) -> None:
    herald.start("worker")
    with httpx.Client(base_url=herald.base, headers=AUTH, timeout=10) as api:
        ids = []
        for n in range(3):
            ids.append(api.post("/v1/notifications", json=MENTION | {"idempotency_key": f"missed-{n}"}).json()["id"])
            deadline = time.monotonic() + 15
            while not any(i["id"] == ids[-1] for i in api.get("/v1/recipients/user_9/inbox").json()["items"]):
                assert time.monotonic() < deadline, "the item was not filed"
                time.sleep(0.02)
        events: list[dict[str, Any]] = []
        stop = threading.Event()
        with api.stream("GET", "/v1/recipients/user_9/inbox/stream", headers={"last-event-id": ids[0]},
                        timeout=httpx.Timeout(10, read=30)) as response:
            reader = threading.Thread(target=_read_events, args=(response, events, stop), daemon=True)
            reader.start()
            deadline = time.monotonic() + 10
            while len([e for e in events if e.get("event") == "inbox.item"]) < 2 and time.monotonic() < deadline:
                time.sleep(0.01)
            stop.set()
    assert [e["id"] for e in events if e.get("event") == "inbox.item"] == ids[1:]
