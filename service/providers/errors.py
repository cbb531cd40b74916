"""How a provider's webhook request is refused: 401 when it is not the provider's, 400 when it is
signed but not a shape Herald reads."""

from __future__ import annotations


class Unverified(Exception):
    """The request does not prove it comes from the provider."""


class Malformed(Exception):
    """The request is not a webhook payload of the provider's."""
