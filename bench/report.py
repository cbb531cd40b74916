"""Small helpers for the printed figures."""

from __future__ import annotations

import math
import os
from collections import Counter

from bench.http import Sample


def percentile(sorted_values: list[float], p: float) -> float:
    """Nearest-rank percentile of an already sorted list."""
    rank = max(1, math.ceil(p / 100 * len(sorted_values)))
    return sorted_values[rank - 1]


def sustained_rate(arrivals: list[float]) -> float:
    """Messages a second between the 10th and 90th percentile of sorted arrival times: the
    steady state, without the ramp-up or the tail of retries."""
    if len(arrivals) < 10:
        return float("nan")
    low, high = len(arrivals) // 10, len(arrivals) * 9 // 10
    return (high - low) / max(arrivals[high] - arrivals[low], 1e-9)


def latency_line(samples: list[Sample]) -> str:
    answered = sorted(s.seconds * 1000 for s in samples if s.status is not None)
    if not answered:
        return "no answers"
    figures = [f"p{p} {percentile(answered, p):.1f}" for p in (50, 90, 99)]
    return "  ".join(figures + [f"max {answered[-1]:.1f}"])


def non_202(samples: list[Sample]) -> str:
    """'0', or the count followed by a breakdown such as '3 (500: 2, no answer: 1)'."""
    counts = Counter("no answer" if s.status is None else str(s.status) for s in samples if s.status != 202)
    total = sum(counts.values())
    if not total:
        return "0"
    return f"{total} (" + ", ".join(f"{what}: {n}" for what, n in counts.most_common()) + ")"


def first_errors(samples: list[Sample], limit: int = 3) -> list[str]:
    """A few examples of what went wrong, for the report."""
    examples = []
    for s in samples:
        if s.status != 202 and len(examples) < limit:
            examples.append(s.error or f"{s.status}: {s.body[:200].decode(errors='replace')}")
    return examples


def usage(figures: dict[str, float], cpu_seconds: float) -> str:
    return (f"RSS {figures.get('rss', 0):.1f} MiB now, {figures.get('peak', 0):.1f} MiB peak (VmHWM); "
            f"CPU {cpu_seconds:.1f} s")


def cpu_caveat() -> str:
    return (f"caveat: the load generator (and, in part 2, the SMTP server) run on the same machine as "
            f"Herald, {os.cpu_count()} CPUs (os.cpu_count()); the figures are for this shared box, "
            f"not a dedicated server")
