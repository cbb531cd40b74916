"""What the HTTP channels (slack, http) share: one POST, and the reading of its answer."""

from __future__ import annotations

from typing import Any

import httpx

from jobs.retry_after import retry_after
from jobs.smtp import Outcome
from service import ssrf

MAX_RETRY_AFTER = 86400
_DETAIL_CHARS = 500


async def post(ctx: dict[str, Any], url: str, body: bytes, headers: dict[str, str], *,
               checked: bool = True) -> httpx.Response | Outcome:
    """The response, or the Outcome of an attempt that got none. `checked`: the URL came from a
    caller, so it may not point into Herald's own network (WEBHOOK_ALLOW_PRIVATE lifts that)."""
    if checked and (reason := await ssrf.refusal(url, allow_private=ctx["settings"].webhook_allow_private)):
        return Outcome("rejected", None, f"not sent: {reason}", smtp=False)
    try:
        return await ctx["channel_http"].post(url, content=body, headers={"content-type": "application/json"} | headers)
    except httpx.HTTPError as exc:
        return Outcome("transient", None, f"{type(exc).__name__}: {exc}".strip(": "), smtp=False)


def by_status(response: httpx.Response) -> Outcome:
    """2xx sent; 408, 425, 429 and 5xx are worth another try (after Retry-After, when given);
    a redirect is not followed; the other 4xx will not change by trying again."""
    code = response.status_code
    text = f"{code} {response.text[:_DETAIL_CHARS]}".strip()
    if 200 <= code < 300:
        return Outcome("sent", code, text, smtp=False)
    if 300 <= code < 400:
        return Outcome("rejected", code, f"{code} redirect to {response.headers.get('location', '?')} (not followed)",
                       smtp=False)
    if code in (408, 425, 429) or code >= 500:
        return Outcome("transient", code, text, smtp=False, retry_after=wait(response))
    return Outcome("rejected", code, text, smtp=False)


def wait(response: httpx.Response) -> float | None:
    found = retry_after(response.headers.get("retry-after"))
    return None if found is None else min(found, MAX_RETRY_AFTER)
