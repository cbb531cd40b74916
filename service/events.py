"""What a delivery report does: to the notification, the suppression list and the webhooks.

(Being written: the interface is fixed, the body lands next.)
"""

from __future__ import annotations

from collections.abc import Sequence

from service.reports import Report
from service.settings import Settings
from service.store import Store


class Events:
    """Records reports as notification events; one instance per process, built at start-up."""

    def __init__(self, store: Store, settings: Settings) -> None:
        self.store = store
        self.settings = settings

    async def record(self, reports: Sequence[Report]) -> list[str]:
        """Apply each report; per report "recorded", "duplicate" or "unmatched" (no notification
        found: the address it names is still suppressed where the report says so)."""
        raise NotImplementedError
