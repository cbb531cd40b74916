"""Webhook endpoints may not point into Herald's own network (server-side request forgery).

An endpoint whose host is, or resolves to, a loopback, private, link-local (the cloud metadata
service at 169.254.169.254), multicast, reserved or unspecified address is refused, at
registration and again before each attempt, since DNS may answer differently later.
WEBHOOK_ALLOW_PRIVATE lifts the rule for deployments whose product lives on the same network.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from urllib.parse import urlsplit


async def refusal(url: str, *, allow_private: bool) -> str | None:
    """Why a webhook may not be sent to `url`, or None when it may."""
    try:
        parts = urlsplit(url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        return "not a valid URL"
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return "the URL must be http(s)://host/..."
    if parts.username or parts.password:
        return "credentials do not belong in the URL (verify the signature instead)"
    if allow_private:
        return None
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(parts.hostname, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        return f"the host {parts.hostname} does not resolve"
    for *_, sockaddr in infos:
        if reason := _private(str(sockaddr[0])):
            return f"the host {parts.hostname} resolves to {reason} (set WEBHOOK_ALLOW_PRIVATE=true to allow)"
    return None


def _private(address: str) -> str | None:
    ip = ipaddress.ip_address(address.split("%")[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    for kind in ("loopback", "private", "link_local", "multicast", "reserved", "unspecified"):
        if getattr(ip, f"is_{kind}"):
            return f"a {kind.replace('_', '-')} address ({ip})"
    if not ip.is_global:
        return f"a non-public address ({ip})"
    return None
