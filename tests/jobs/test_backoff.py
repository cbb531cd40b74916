"""backoff_seconds: exponential from base, capped, with equal jitter."""

from __future__ import annotations

import random

import pytest

from jobs.backoff import backoff_seconds


@pytest.mark.parametrize(
    ("attempt", "ceiling"),
    [(0, 30), (1, 30), (2, 60), (3, 120), (4, 240), (7, 1920), (8, 3600), (9, 3600), (100, 3600)],
)
def test_delay_is_between_half_ceiling_and_ceiling(attempt, ceiling):
    rng = random.Random(attempt)
    delays = [backoff_seconds(attempt, base=30, cap=3600, rng=rng) for _ in range(200)]
    assert all(ceiling / 2 <= d <= ceiling for d in delays)
    # the draws really spread over the allowed half-interval
    assert min(delays) < ceiling * 0.6 and max(delays) > ceiling * 0.9


def test_ceiling_doubles_per_attempt_until_the_cap():
    # an rng that always draws the top of the interval exposes the ceiling itself
    class Top(random.Random):
        def uniform(self, a: float, b: float) -> float:
            return b

    ceilings = [backoff_seconds(n, base=0.5, cap=10, rng=Top()) for n in range(1, 8)]
    assert ceilings == [0.5, 1, 2, 4, 8, 10, 10]


def test_jitter_varies_across_draws():
    rng = random.Random(1234)
    delays = {backoff_seconds(3, base=30, cap=3600, rng=rng) for _ in range(20)}
    assert len(delays) == 20


def test_same_seed_gives_the_same_delays():
    first = [backoff_seconds(n, base=30, cap=3600, rng=random.Random(7)) for n in range(1, 6)]
    second = [backoff_seconds(n, base=30, cap=3600, rng=random.Random(7)) for n in range(1, 6)]
    assert first == second


def test_cap_below_base_wins():
    rng = random.Random(0)
    assert all(5 <= backoff_seconds(n, base=60, cap=10, rng=rng) <= 10 for n in range(1, 6))
