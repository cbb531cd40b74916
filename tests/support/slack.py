"""A local Slack: answers incoming webhooks and chat.postMessage the way Slack's API does.

Incoming webhook (`webhook_url`): 200 `ok`; 400 `invalid_payload` / `no_text`; 404 `no_service`
for an unknown hook; 410 `channel_is_archived`. Web API (`api_url` + `/chat.postMessage`): 200
with `{"ok": true, "ts": ...}` or `{"ok": false, "error": "invalid_auth" | "channel_not_found" |
"no_text"}`. Both answer 429 with Retry-After for the next `limited` requests. `latency` is how
long every answer takes (the benchmark uses 100 ms).
"""

from __future__ import annotations

import json
import threading

from tests.support.receiver import Answer, Receiver

_HOOK_PATH = "/services/T0HERALD/B0HERALD/local"
_API = {"content-type": "application/json; charset=utf-8"}


class SlackServer(Receiver):
    def __init__(self, *, token: str = "xoxb-herald-test", channels: tuple[str, ...] = ("C0ALERTS",),
                 latency: float = 0.0) -> None:
        super().__init__()
        base = f"http://127.0.0.1:{self.port}"
        self.webhook_url = base + _HOOK_PATH
        self.api_url = base + "/api"
        self.token = token
        self.channels = set(channels)
        self.latency = latency
        self.limited = 0  # the next `limited` requests are rate limited
        self.retry_after = 1
        self.archived = False  # the incoming webhook's channel was archived
        self._slack_lock = threading.Lock()
        self._ts = 0
        self._accepted: list[dict[str, object]] = []

    def posted(self) -> list[dict[str, object]]:
        """Every message this Slack accepted, as sent."""
        with self._slack_lock:
            return list(self._accepted)

    def _answer(self, path: str, headers: dict[str, str], body: bytes) -> Answer:
        with self._slack_lock:
            if self.script:
                return self.script.pop(0)
            if self.limited > 0:
                self.limited -= 1
                error = "rate_limited" if path == _HOOK_PATH else '{"ok":false,"error":"ratelimited"}'
                return Answer(429, {"retry-after": str(self.retry_after)} | ({} if path == _HOOK_PATH else _API),
                              self.latency, error)
            self._ts += 1
            ts = self._ts
        try:
            message = json.loads(body)
        except ValueError:
            message = None
        if path.startswith("/services/"):
            return self._hook(path, message)
        if path == "/api/chat.postMessage":
            return self._post_message(headers, message, ts)
        return Answer(404, {}, self.latency, "not found")

    def _hook(self, path: str, message: object) -> Answer:
        if path != _HOOK_PATH:
            return Answer(404, {}, self.latency, "no_service")
        if self.archived:
            return Answer(410, {}, self.latency, "channel_is_archived")
        if not isinstance(message, dict):
            return Answer(400, {}, self.latency, "invalid_payload")
        if not ({"text", "blocks", "attachments"} & set(message)):
            return Answer(400, {}, self.latency, "no_text")
        self._accept(message)
        return Answer(200, {"content-type": "text/html"}, self.latency, "ok")

    def _post_message(self, headers: dict[str, str], message: object, ts: int) -> Answer:
        def api(answer: dict[str, object]) -> Answer:
            return Answer(200, _API, self.latency, json.dumps(answer))
        if headers.get("authorization") != f"Bearer {self.token}":
            return api({"ok": False, "error": "invalid_auth"})
        if not isinstance(message, dict):
            return api({"ok": False, "error": "invalid_json"})
        if message.get("channel") not in self.channels:
            return api({"ok": False, "error": "channel_not_found"})
        if not ({"text", "blocks", "attachments"} & set(message)):
            return api({"ok": False, "error": "no_text"})
        self._accept(message)
        return api({"ok": True, "channel": message["channel"], "ts": f"1700000000.{ts:06d}"})

    def _accept(self, message: dict[str, object]) -> None:
        with self._slack_lock:
            self._accepted.append(message)
