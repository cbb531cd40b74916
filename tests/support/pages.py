"""Walking a cursor-paged list (history, audit) to its end."""

from __future__ import annotations

from typing import Any

import httpx

MAX_PAGES = 50


async def every_page(client: httpx.AsyncClient, path: str, **params: Any) -> list[dict[str, Any]]:
    """Every item of every page, in order; fails if the pages do not end."""
    items: list[dict[str, Any]] = []
    cursor = None
    for _ in range(MAX_PAGES):
        response = await client.get(path, params=params | ({"cursor": cursor} if cursor else {}))
        assert response.status_code == 200, response.text
        body = response.json()
        items += body["items"]
        cursor = body["next_cursor"]
        if not cursor:
            return items
    raise AssertionError(f"the pages of {path} never ended")
