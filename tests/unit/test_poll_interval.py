"""Adaptive polling: short at first, longer as a training runs long, never past the ceiling;
with a usual duration from the run history, sparse early and dense around its end."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from korebot.watch.pace import dense_window, expected_end_interval, poll_interval


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


# -- the pace from the run history: sparse early, dense around the usual end ----------------

FIRST, CEILING = 30.0, 120.0
firsts = st.floats(min_value=0.1, max_value=600)
ceilings = st.floats(min_value=1.0, max_value=8.0)  # times the first interval
usuals = st.floats(min_value=1.0, max_value=8 * 3600)
ages = st.floats(min_value=0.0, max_value=12 * 3600)


def walk(usual: float | None, until: float) -> list[float]:
    """The poll times (seconds since the start, no jitter) of a run watched until ``until``."""
    times, elapsed = [], 0.0
    while elapsed < until:
        elapsed += expected_end_interval(elapsed, FIRST, CEILING, usual, jitter=exact)
        times.append(elapsed)
    return times


@given(ages, firsts, ceilings, usuals)
def test_never_above_the_ceiling_nor_below_the_first_interval(
    running_for: float, first: float, times: float, usual: float
) -> None:
    ceiling = first * times
    value = expected_end_interval(running_for, first, ceiling, usual, jitter=exact)
    assert first <= value <= ceiling
    jittered = expected_end_interval(running_for, first, ceiling, usual)
    assert 0.9 * first <= jittered <= ceiling


@given(st.floats(min_value=0.0, max_value=14.99), usuals)
def test_the_first_poll_after_a_start_is_unchanged(running_for: float, usual: float) -> None:
    assert expected_end_interval(running_for, FIRST, CEILING, usual, jitter=exact) == FIRST


@given(ages, firsts, ceilings)
def test_without_a_usual_duration_it_is_todays_backoff(
    running_for: float, first: float, times: float
) -> None:
    ceiling = first * times
    today = poll_interval(running_for, first, ceiling, jitter=exact)
    assert expected_end_interval(running_for, first, ceiling, None, jitter=exact) == today
    assert expected_end_interval(running_for, first, ceiling, 0.0, jitter=exact) == today


@given(
    firsts,
    ceilings,
    usuals,
    st.floats(min_value=0.0, max_value=3.0),
    st.floats(min_value=0.9, max_value=1.0),
)
def test_the_dense_window_start_is_never_overshot(
    first: float, times: float, usual: float, before: float, jitter: float
) -> None:
    # From up to three ceilings before the window opens: a poll due past its start is due
    # at most one first interval after the last, so a run ending as it opens is seen then.
    ceiling = first * times
    opens, _ = dense_window(usual, first)
    running_for = max(opens - before * ceiling, 0.0)
    value = expected_end_interval(running_for, first, ceiling, usual, lambda: jitter)
    if running_for < opens < running_for + value:
        assert value <= first


def test_the_approach_lands_on_the_window_then_polls_every_first_interval() -> None:
    usual = 40 * 60.0
    opens, closes = dense_window(usual, FIRST)
    assert (opens, closes) == (usual - 300, usual + 600)  # the lead is capped: ten intervals
    times = walk(usual, closes)
    assert times[0] == FIRST
    assert opens in times
    early = [b - a for a, b in itertools.pairwise(times) if b <= opens]
    assert all(CEILING / 2 < gap <= CEILING for gap in early)
    dense = [b - a for a, b in itertools.pairwise(times) if a >= opens]
    assert dense
    assert all(gap == FIRST for gap in dense)
    assert dense_window(8 * 60.0, FIRST) == (6 * 60.0, 12 * 60.0)  # a quarter of a short one


def test_after_the_window_it_is_todays_backoff_at_the_same_age() -> None:
    usual = 12 * 60.0
    _, closes = dense_window(usual, FIRST)
    assert expected_end_interval(closes - 1, FIRST, CEILING, usual, jitter=exact) == FIRST
    for age in range(int(closes), 6 * 3600, 7):
        paced = expected_end_interval(age, FIRST, CEILING, usual, jitter=exact)
        assert paced == poll_interval(age, FIRST, CEILING, jitter=exact) == CEILING


@pytest.mark.parametrize("minutes", [2, 12, 40])
def test_a_run_ending_at_its_usual_time_costs_fewer_calls_and_is_seen_sooner(
    minutes: int,
) -> None:
    usual = minutes * 60.0
    today, paced = walk(None, usual), walk(usual, usual)
    assert len(paced) <= len(today)
    assert paced[-1] - usual <= FIRST
    assert paced[-1] - usual <= today[-1] - usual
