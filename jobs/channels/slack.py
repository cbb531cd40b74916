"""The slack channel: an incoming webhook, or chat.postMessage with SLACK_BOT_TOKEN.

Slack answers an incoming webhook with a status and a word (`ok`, `invalid_payload`,
`channel_not_found`...) and the Web API with 200 and `{"ok": false, "error": ...}`; both answer
429 with Retry-After when rate limited. Rate limits and Slack's own outages are tried again;
a bad token, a missing or archived channel, a payload Slack refuses are not: they will not
change by waiting.
"""

from __future__ import annotations

from typing import Any

import httpx

from jobs.channels import web
from jobs.smtp import Outcome
from service import jsonio
from service.channels import render_payload

TRANSIENT_ERRORS = frozenset({"rate_limited", "ratelimited", "internal_error", "fatal_error", "service_unavailable",
                              "request_timeout", "team_added_to_org"})


def render(ctx: dict[str, Any], record: dict[str, Any]) -> Any:
    return render_payload(ctx["catalog"], record["template"], record["locale"], "slack",
                          jsonio.loads(record["context"]), notification_id=record["id"])


async def send(ctx: dict[str, Any], record: dict[str, Any], payload: Any) -> Outcome:
    address = jsonio.loads(record["address"])
    if "webhook_url" in address:
        answer = await web.post(ctx, address["webhook_url"], jsonio.dumps(payload).encode(), {})
        return answer if isinstance(answer, Outcome) else _webhook_answer(answer)
    token = ctx["settings"].slack_bot_token
    if not token:
        return Outcome("rejected", None, "a Slack channel id needs SLACK_BOT_TOKEN (or give a webhook_url)",
                       smtp=False)
    body = jsonio.dumps(payload | {"channel": address["channel"]}).encode()
    answer = await web.post(ctx, f"{ctx['settings'].slack_api_url.rstrip('/')}/chat.postMessage", body,
                            {"authorization": f"Bearer {token}"}, checked=False)
    return answer if isinstance(answer, Outcome) else _api_answer(answer)


def _webhook_answer(response: httpx.Response) -> Outcome:
    word = response.text.strip()[:200]
    if response.status_code == 200:
        return Outcome("sent", 200, word, smtp=False)
    if word in TRANSIENT_ERRORS:
        return Outcome("transient", response.status_code, f"{response.status_code} {word}", smtp=False,
                       retry_after=web.wait(response))
    return web.by_status(response)


def _api_answer(response: httpx.Response) -> Outcome:
    if response.status_code != 200:
        return web.by_status(response)
    try:
        answer = response.json()
    except ValueError:
        return Outcome("transient", 200, f"200 but not JSON: {response.text[:200]}", smtp=False)
    if answer.get("ok") is True:
        return Outcome("sent", 200, f"ok ts={answer.get('ts', '')}".strip(), smtp=False)
    error = str(answer.get("error") or "unknown_error")
    if error in TRANSIENT_ERRORS:
        return Outcome("transient", 200, error, smtp=False, retry_after=web.wait(response))
    return Outcome("rejected", 200, error, smtp=False)
