"""Providers' event webhooks (POST /v1/inbound/{provider}), each read into the same `Report`s
as the inbound SMTP server's DSNs. A reader verifies the request its provider's way (raising
Unverified) and maps its events (raising Malformed when the payload is not the provider's)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping

from service.providers import mailgun, postmark, sendgrid, ses
from service.providers.errors import Malformed, Unverified
from service.providers.sns import HttpSnsClient, SnsClient
from service.reports import Report
from service.settings import Settings

Reader = Callable[[bytes, Mapping[str, str], Settings, SnsClient], Awaitable[list[Report]]]
READERS: dict[str, Reader] = {"ses": ses.read, "postmark": postmark.read, "sendgrid": sendgrid.read,
                              "mailgun": mailgun.read}

__all__ = ["READERS", "HttpSnsClient", "Malformed", "Reader", "SnsClient", "Unverified"]
