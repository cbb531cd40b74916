"""The one request every target gets, and the connections that send it."""

from __future__ import annotations

import json

from bench.http import HttpConnection, Request
from bench.http import welcome as welcome_item
from bench.peers.api import PATH
from bench.procs import API_SECRET

# Peers ignore the key; Herald needs it. Same bytes on the wire for every target.
HEADERS = {"Authorization": f"Bearer {API_SECRET}"}
CLIENTS = 50


def body(index: int) -> bytes:
    return json.dumps(welcome_item(index)).encode()


def welcome(index: int) -> Request:
    return "POST", PATH, body(index)


def connections(port: int, count: int = CLIENTS) -> list[HttpConnection]:
    return [HttpConnection(port, HEADERS) for _ in range(count)]


def close(conns: list[HttpConnection]) -> None:
    for conn in conns:
        conn.close()


def accepted_id(answer: bytes) -> str:
    """The id in a 202's JSON: Herald's notification id, or the id a peer put in its X-Bench-Id."""
    return str(json.loads(answer)["id"])
