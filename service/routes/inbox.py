"""The in-app inbox: read and mark a recipient's items, and follow them live (SSE).

Two doors to the same inbox: `/v1/recipients/{id}/inbox...` with the API key, for the product's
backend; `/v1/inbox...` with a recipient token (POST /v1/recipients/{id}/inbox-token), for the
product's page in a browser, which must never hold an API key.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, HTTPException, Path, Query, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from service import cursors, inbox, inbox_tokens, jsonio
from service.deps import ActorDep, QueueDep, SettingsDep, StoreDep
from service.errors import V1_RESPONSES, unprocessable
from service.queue import drop_job
from service.routes.profiles import RecipientPath
from service.store import Store

router = APIRouter(tags=["inbox"], responses=V1_RESPONSES)
HEARTBEAT_SECONDS = 15.0


class InboxTokenIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    ttl: Annotated[int, Field(ge=60, le=86400, strict=True)] = 900


class MarkIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    read: bool | None = None
    seen: bool | None = None
    archived: bool | None = None


class MarkAllIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    state: inbox.State = "read"


async def _token(
    settings: SettingsDep,
    token: Annotated[str | None, Query(max_length=400)] = None,
    x_herald_inbox_token: Annotated[str | None, Header(max_length=400)] = None,
) -> tuple[str, int]:
    given = x_herald_inbox_token or token
    if not given:
        raise HTTPException(401, "missing recipient token (X-Herald-Inbox-Token or ?token=)")
    try:
        return inbox_tokens.read(settings.secret_key, given)
    except inbox_tokens.InvalidToken as exc:
        raise HTTPException(401, f"invalid recipient token: {exc}") from None


async def _token_owner(token: Annotated[tuple[str, int], Depends(_token)]) -> str:
    return token[0]


TokenDep = Annotated[tuple[str, int], Depends(_token)]
TokenOwner = Annotated[str, Depends(_token_owner)]


@router.post("/v1/recipients/{recipient_id}/inbox-token")
async def make_token(recipient_id: RecipientPath, _: ActorDep, settings: SettingsDep,
                     body: InboxTokenIn | None = None) -> dict[str, Any]:
    """A token for this recipient's page: it reads and marks their inbox, and nothing else."""
    expires_at = int(time.time()) + (body or InboxTokenIn()).ttl
    token = inbox_tokens.make(settings.secret_key, recipient_id, expires_at=expires_at)
    return {"token": token, "recipient": recipient_id,
            "expires_at": datetime.fromtimestamp(expires_at, UTC).isoformat().replace("+00:00", "Z"),
            "stream_url": f"{settings.public_url}/v1/inbox/stream?token={token}"}


async def _list(store: Store, recipient: str, *, archived: bool, limit: int, cursor: str | None) -> dict[str, Any]:
    try:
        before = _position(cursors.decode(cursor)) if cursor else None
    except (cursors.BadCursor, ValueError):
        raise unprocessable(["query", "cursor"], "invalid cursor") from None
    ids, last = await inbox.page(store.redis, recipient, archived=archived, before=before, limit=limit)
    records = await store.get_many(ids, attempts=False)
    counts = await inbox.counts(store.redis, recipient, retention=store.retention)
    return {"recipient": recipient, "items": [inbox.item(r) for r in records if r is not None],
            "next_cursor": cursors.encode(f"{last[0]}:{last[1]}") if last else None} | counts


def _position(text: str) -> tuple[int, str]:
    score, _, item_id = text.partition(":")
    return int(score), item_id


async def _mark(store: Store, queue: Any, recipient: str, ids: list[str], body: MarkIn) -> list[str]:
    found: list[str] = []
    for state in inbox.STATES:
        if (on := getattr(body, state)) is not None:
            found = await inbox.mark(store.redis, recipient, ids, state, on) or found
            if state == "read" and on:
                await _cancel_fallbacks(store, queue, found)
    return found


async def _cancel_fallbacks(store: Store, queue: Any, ids: list[str]) -> None:
    """Read in the app: the email (or other fallback) waiting behind it is not needed."""
    for record in await store.get_many(ids, attempts=False):
        if record and (fallback := record.get("fallback")):
            applied, _ = await store.transition(fallback, allowed=["scheduled"], pending=None, ttl=store.retention,
                                                fields={"status": "cancelled", "error": "read in the inbox first"})
            if applied:
                await drop_job(queue, fallback)


def _changes(body: MarkIn) -> MarkIn:
    if body.read is None and body.seen is None and body.archived is None:
        raise unprocessable(["body"], "give read, seen or archived")
    return body


Limit = Annotated[int, Query(ge=1, le=100)]
ItemPath = Annotated[str, Path(max_length=300, pattern=r"^[A-Za-z0-9._:~-]+$")]
Cursor = Annotated[str | None, Query(max_length=300)]


@router.get("/v1/recipients/{recipient_id}/inbox")
async def list_inbox(recipient_id: RecipientPath, _: ActorDep, store: StoreDep, limit: Limit = 20,
                     cursor: Cursor = None, archived: bool = False) -> dict[str, Any]:
    """Newest first, with the unread and unseen counts."""
    return await _list(store, recipient_id, archived=archived, limit=limit, cursor=cursor)


@router.get("/v1/inbox")
async def list_my_inbox(recipient: TokenOwner, store: StoreDep, limit: Limit = 20, cursor: Cursor = None,
                        archived: bool = False) -> dict[str, Any]:
    return await _list(store, recipient, archived=archived, limit=limit, cursor=cursor)


async def _mark_one(store: Store, queue: Any, recipient: str, item_id: str, body: MarkIn) -> dict[str, Any]:
    if not await _mark(store, queue, recipient, [item_id], _changes(body)):
        raise HTTPException(404, f"no item {item_id!r} in {recipient!r}'s inbox")
    record = await store.get(item_id)
    return inbox.item(record or {"id": item_id})


@router.patch("/v1/recipients/{recipient_id}/inbox/{item_id}")
async def mark_item(recipient_id: RecipientPath, item_id: ItemPath, body: MarkIn, _: ActorDep, store: StoreDep,
                    queue: QueueDep) -> dict[str, Any]:
    return await _mark_one(store, queue, recipient_id, item_id, body)


@router.patch("/v1/inbox/items/{item_id}")
async def mark_my_item(item_id: ItemPath, body: MarkIn, recipient: TokenOwner, store: StoreDep,
                       queue: QueueDep) -> dict[str, Any]:
    return await _mark_one(store, queue, recipient, item_id, body)


async def _mark_all(store: Store, queue: Any, recipient: str, body: MarkAllIn) -> dict[str, Any]:
    ids = await inbox.all_ids(store.redis, recipient, body.state)
    changed = await _mark(store, queue, recipient, ids, MarkIn(**{body.state: True})) if ids else []
    return {"recipient": recipient, "state": body.state, "changed": len(changed)} | \
        await inbox.counts(store.redis, recipient, retention=store.retention)


@router.post("/v1/recipients/{recipient_id}/inbox/mark-all")
async def mark_all(recipient_id: RecipientPath, _: ActorDep, store: StoreDep, queue: QueueDep,
                   body: MarkAllIn | None = None) -> dict[str, Any]:
    """Everything read (the default), seen, or archived at once."""
    return await _mark_all(store, queue, recipient_id, body or MarkAllIn())


@router.post("/v1/inbox/mark-all")
async def mark_all_mine(recipient: TokenOwner, store: StoreDep, queue: QueueDep,
                        body: MarkAllIn | None = None) -> dict[str, Any]:
    return await _mark_all(store, queue, recipient, body or MarkAllIn())


def _sse(event: str, data: dict[str, Any], event_id: str | None = None) -> bytes:
    head = f"id: {event_id}\n" if event_id else ""
    return f"{head}event: {event}\ndata: {jsonio.dumps(data)}\n\n".encode()


async def _events(request: Request, store: Store, recipient: str, until: float) -> AsyncIterator[bytes]:
    async with request.app.state.inbox_hub.listen(recipient) as changes:
        counts = await inbox.counts(store.redis, recipient, retention=store.retention)
        yield b"retry: 2000\n\n" + _sse("inbox.counts", counts)
        # A browser reconnecting names the last item it got: send what it missed (an item may
        # come twice, here and from the subscription; its id tells them apart).
        if last := request.headers.get("last-event-id", "")[:300]:
            missed = await store.get_many(await inbox.since(store.redis, recipient, last), attempts=False)
            for record in filter(None, missed):
                yield _sse("inbox.item", inbox.item(record) | {"counts": counts}, record["id"])
        while (left := until - time.time()) > 0:
            try:
                change = await asyncio.wait_for(changes.get(), timeout=min(HEARTBEAT_SECONDS, left))
            except TimeoutError:
                yield b": keep-alive\n\n"  # proxies close a silent connection
                continue
            counts = await inbox.counts(store.redis, recipient, retention=store.retention)
            if change["event"] == "inbox.item" and (record := await store.get(change["id"])) is not None:
                yield _sse("inbox.item", inbox.item(record) | {"counts": counts}, change["id"])
            elif change["event"] == "inbox.updated":
                yield _sse("inbox.updated", change | {"counts": counts})


def _stream(request: Request, store: Store, recipient: str, *, until: float = math.inf) -> StreamingResponse:
    """`until`: a recipient token's expiry, when the stream ends (the page asks for a new token)."""
    return StreamingResponse(_events(request, store, recipient, until), media_type="text/event-stream",
                             headers={"cache-control": "no-store", "x-accel-buffering": "no"})


_SSE = {200: {"description": "Server-Sent Events, until the client closes the stream",
              "content": {"text/event-stream": {"schema": {
                  "type": "object", "required": ["event", "data"],
                  "properties": {"event": {"enum": ["inbox.counts", "inbox.item", "inbox.updated"]},
                                 "data": {"type": "string", "description": "JSON"}, "id": {"type": "string"}}}}}}}


@router.get("/v1/recipients/{recipient_id}/inbox/stream", response_class=StreamingResponse, responses=_SSE)
async def stream_inbox(recipient_id: RecipientPath, request: Request, _: ActorDep,
                       store: StoreDep) -> StreamingResponse:
    """Server-Sent Events: `inbox.item` for each new item, `inbox.updated` when items are marked."""
    return _stream(request, store, recipient_id)


@router.get("/v1/inbox/stream", response_class=StreamingResponse, responses=_SSE)
async def stream_my_inbox(request: Request, token: TokenDep, store: StoreDep) -> StreamingResponse:
    """The same stream for a browser: `new EventSource('/v1/inbox/stream?token=...')`. It ends
    when the token expires."""
    recipient, expires_at = token
    return _stream(request, store, recipient, until=expires_at)
