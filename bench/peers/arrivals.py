"""What reached the shared SMTP server, by notification id: each message's arrival time(s)."""

from __future__ import annotations

from collections import defaultdict
from contextlib import ExitStack

from bench.delivery import SMTP_DELAY, TRANSIENT_RATIO, start_smtp
from bench.peers.mail import ID_HEADER
from bench.peers.targets import HERALD_HEADER


class Arrivals:
    """Reads the accepted messages of the benchmark's SMTP sink (a process of its own) incrementally;
    `reset` gives every target the same start."""

    def __init__(self, stack: ExitStack) -> None:
        self.smtp, self.replies = start_smtp(stack)
        self.url = self.smtp.url
        self.seen = 0
        self.times: dict[str, list[float]] = defaultdict(list)

    def reset(self) -> None:
        # A fresh script re-seeds the 451 draw: each target meets the same sequence of refusals.
        self.smtp.reset()
        self.smtp.script.delay = SMTP_DELAY
        self.smtp.script.transient_ratio = TRANSIENT_RATIO
        self.replies.codes.clear()
        self.replies.last_ok = None
        self.seen = 0
        self.times = defaultdict(list)

    def update(self) -> dict[str, list[float]]:
        """Every id seen since the last reset, with the time.monotonic() of each copy accepted."""
        new = self.smtp.received[self.seen:]
        self.seen += len(new)
        for received in new:
            nid = received.message[ID_HEADER] or received.message[HERALD_HEADER]
            self.times[str(nid)].append(received.at)
        return self.times

    def first(self, nid: str) -> float | None:
        copies = self.update().get(nid)
        return copies[0] if copies else None

    def refusals(self) -> int:
        """451s the server answered since the last reset."""
        return self.replies.codes["451"]
