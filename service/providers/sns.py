"""Amazon SNS, which carries SES's bounce and complaint notifications: its message signature
(SignatureVersion 1, SHA1withRSA, and 2, SHA256withRSA) and the subscription handshake.

The signing certificate is fetched from the message's SigningCertURL only when that URL is
https on an SNS host (`sns.<region>.amazonaws.com`), so a forged message cannot name a
certificate of its own. Certificates are cached per URL for the life of the process.
"""

from __future__ import annotations

import base64
import re
from typing import Any, Protocol
from urllib.parse import urlsplit

import httpx
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from service.providers.errors import Malformed, Unverified

_SNS_HOST = re.compile(r"^sns\.[a-z0-9-]+\.amazonaws\.com(\.cn)?$")
_MAX_CERTIFICATES = 32
_HASHES = {"1": hashes.SHA1, "2": hashes.SHA256}
# The fields each message type signs, in the order AWS documents them.
_SIGNED = {
    "Notification": ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"),
    "SubscriptionConfirmation": ("Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type"),
    "UnsubscribeConfirmation": ("Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type"),
}


class SnsClient(Protocol):
    """What verification and the handshake ask of the network; tests hand in their own."""

    async def certificate(self, url: str) -> bytes: ...

    async def confirm(self, url: str) -> None: ...


class HttpSnsClient:
    def __init__(self, *, timeout: float = 10) -> None:
        self._timeout = timeout
        self._certificates: dict[str, bytes] = {}

    async def certificate(self, url: str) -> bytes:
        if url not in self._certificates:
            if len(self._certificates) >= _MAX_CERTIFICATES:  # AWS rotates them rarely; a flood of URLs is not that
                self._certificates.clear()
            self._certificates[url] = await self._get(url)
        return self._certificates[url]

    async def confirm(self, url: str) -> None:
        await self._get(url)

    async def _get(self, url: str) -> bytes:
        try:
            async with httpx.AsyncClient(timeout=self._timeout, follow_redirects=False) as client:
                response = await client.get(url)
                response.raise_for_status()
                return response.content
        except httpx.HTTPError as exc:
            raise Unverified(f"could not fetch {url}: {exc}") from exc


def sns_url(url: object) -> str:
    """`url` if it is https on an SNS host; raises Unverified otherwise."""
    parts = urlsplit(url if isinstance(url, str) else "")
    if parts.scheme != "https" or not _SNS_HOST.match(parts.hostname or "") or parts.port not in (None, 443):
        raise Unverified("the SNS message names a URL outside amazonaws.com")
    return str(url)


def string_to_sign(message: dict[str, Any]) -> bytes:
    fields = _SIGNED.get(message.get("Type", ""))
    if fields is None:
        raise Malformed(f"unknown SNS message type {message.get('Type')!r}")
    lines = []
    for name in fields:
        value = message.get(name)
        if value is None and name == "Subject":
            continue
        if not isinstance(value, str):
            raise Malformed(f"the SNS message has no {name}")
        lines += [name, value]
    return ("\n".join(lines) + "\n").encode()


async def verify(message: dict[str, Any], client: SnsClient) -> None:
    """Raises Unverified unless `message` carries a valid SNS signature."""
    algorithm = _HASHES.get(str(message.get("SignatureVersion")))
    if algorithm is None:
        raise Unverified("unknown SNS SignatureVersion")
    try:
        signature = base64.b64decode(str(message.get("Signature", "")), validate=True)
    except ValueError as exc:
        raise Unverified("the SNS signature is not base64") from exc
    signed = string_to_sign(message)
    pem = await client.certificate(sns_url(message.get("SigningCertURL")))
    try:
        key = x509.load_pem_x509_certificate(pem).public_key()
    except ValueError as exc:
        raise Unverified("the SNS signing certificate does not load") from exc
    if not isinstance(key, rsa.RSAPublicKey):
        raise Unverified("the SNS signing certificate is not RSA")
    try:
        key.verify(signature, signed, padding.PKCS1v15(), algorithm())
    except InvalidSignature as exc:
        raise Unverified("the SNS signature does not verify") from exc
