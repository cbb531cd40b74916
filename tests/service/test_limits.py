"""BodySizeLimit as an ASGI layer: what reaches the app, and when the client gets its 413."""

from __future__ import annotations

from typing import Any

from service.limits import BodySizeLimit


async def _run(headers: list[tuple[bytes, bytes]], chunks: list[bytes]) -> tuple[list[int], int]:
    """(statuses sent to the client, bytes the app read)."""
    sent: list[int] = []
    seen = 0
    queue = [{"type": "http.request", "body": c, "more_body": i < len(chunks) - 1} for i, c in enumerate(chunks)]

    async def receive() -> dict[str, Any]:
        return queue.pop(0) if queue else {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            sent.append(message["status"])

    async def app(scope: Any, receive: Any, send: Any) -> None:
        nonlocal seen
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return
            seen += len(message["body"])
            if not message.get("more_body"):
                break
        await send({"type": "http.response.start", "status": 202, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    scope = {"type": "http", "headers": headers}
    await BodySizeLimit(app, max_bytes=1024)(scope, receive, send)
    return sent, seen


async def test_a_declared_small_body_passes_untouched() -> None:
    assert await _run([(b"content-length", b"10")], [b"x" * 10]) == ([202], 10)


async def test_chunks_are_counted_even_when_a_content_length_is_also_given() -> None:
    """h11 reads the chunks of a request that has both headers: the small Content-Length is no bound."""
    headers = [(b"content-length", b"10"), (b"transfer-encoding", b"chunked")]
    statuses, seen = await _run(headers, [b"x" * 600, b"x" * 600, b"x" * 600])
    assert statuses == [413] and seen <= 1024


async def test_an_undeclared_body_is_cut_off_past_the_limit() -> None:
    statuses, seen = await _run([], [b"x" * 600] * 3)
    assert statuses == [413] and seen <= 1024
