"""How long to wait before the next try."""

from __future__ import annotations

import random


def backoff_seconds(attempt: int, *, base: float, cap: float, rng: random.Random | None = None) -> float:
    """Exponential from `base`, capped at `cap`, with "equal jitter": half fixed, half random.

    The fixed half keeps a retry from coming back at once; the random half spreads a burst of
    retries (a mail server that said 421 to everyone) so they do not return together.
    """
    ceiling = min(cap, base * 2 ** min(max(attempt - 1, 0), 64))
    return ceiling / 2 + (rng or random).uniform(0, ceiling / 2)
