"""Adaptive polling: short at first, longer as a training runs long, never past the ceiling."""

from __future__ import annotations

import pytest

from korebot.watch.engine import poll_interval


def exact() -> float:
    return 1.0


@pytest.mark.parametrize(
    ("running_for", "expected"),
    [(0, 30), (299, 30), (300, 60), (599, 60), (600, 120), (3600, 120), (10**9, 120)],
)
def test_doubles_every_ten_intervals_up_to_the_ceiling(running_for: float, expected: float) -> None:
    assert poll_interval(running_for, 30, 120, jitter=exact) == expected


def test_jitter_only_shortens() -> None:
    values = {poll_interval(0, 30, 120) for _ in range(200)}
    assert all(27 <= value <= 30 for value in values)
    assert len(values) > 1


def test_a_two_hour_training_costs_far_fewer_calls_than_fixed_polling() -> None:
    # Walk a 2-hour run with the real schedule (no jitter): calls made vs every 5 s.
    elapsed, calls = 0.0, 0
    while elapsed < 2 * 3600:
        elapsed += poll_interval(elapsed, 5, 120, jitter=exact)
        calls += 1
    assert calls < 2 * 3600 / 5 / 10
    # The result is seen within one current interval: never more than the ceiling late.
    assert poll_interval(elapsed, 5, 120, jitter=exact) <= 120
