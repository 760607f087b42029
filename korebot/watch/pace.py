"""How long to wait before the next poll of a running training: its pace.

Two schedules, one job (the interval from how long the run has been going):

- ``poll_interval``: today's adaptive backoff, for a training nothing is known about.
- ``expected_end_interval``: the same, bent around the training's usual duration (the
  median of its past runs, from the run history): sparse while the run is far from its
  usual end, dense around and after it.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable


def _jitter() -> float:
    return random.uniform(0.9, 1.0)  # noqa: S311  (spreading polls, not secrecy)


def poll_interval(
    running_for: float,
    first: float,
    ceiling: float,
    jitter: Callable[[], float] = _jitter,
) -> float:
    """Seconds to the next poll of a training running for ``running_for`` seconds.

    ``first`` at first (a training is often short), doubling after every ten
    intervals up to ``ceiling``; jitter (up to 10 % shorter) keeps many watches from
    polling in step. A result is still seen within one current interval.
    """
    steps = min(int(max(running_for, 0.0) / (10 * first)), 16)
    return min(first * float(2**steps), ceiling) * jitter()


def dense_window(usual: float, first: float) -> tuple[float, float]:
    """Where polls are dense (every ``first`` seconds), for a run that usually lasts ``usual``.

    It opens a quarter of the usual duration before it (runs vary; that covers a run
    that went a quarter faster than usual), but at most ten first intervals before: a
    second of dense lead costs ``1/first - 1/ceiling`` polls more than the sparse
    approach, and on a long run the approach saves about ten polls against today's
    (today makes fifteen in its first twenty intervals, the approach five or six); with
    a lead of ten intervals (7.5 polls at the default 4x ceiling), a run ending at its
    usual time still costs fewer calls than today. It stays open twice the lead after
    the usual end: a training is seldom much faster than usual but can be much slower
    (a queue, more FAQs). After that a run is late, and polled as without history.
    """
    lead = min(usual / 4, 10 * first)
    return usual - lead, usual + 2 * lead


def expected_end_interval(
    running_for: float,
    first: float,
    ceiling: float,
    usual: float | None,
    jitter: Callable[[], float] = _jitter,
) -> float:
    """Seconds to the next poll, given how long runs of this training usually take.

    Without a usual duration (``None``, or not positive): exactly ``poll_interval``.
    With one:

    - the first poll after a start comes after ``first``, as today (a run may fail or
      end at once, whatever its history). "After a start" is the first half interval
      of the run: the poll that saw the start plans it (at 0 s), and the next poll, a
      jittered interval later, is past it;
    - then, until the dense window opens, evenly spaced polls at most ``ceiling`` apart
      that land on the window's start, never past it (jitter only shortens): so a run
      that ends as the window opens is seen within one ``first``;
    - inside the window, every ``first``: a run ending at its usual time is seen within
      one first interval, where today's backoff has reached its ceiling on long runs;
    - after the window, today's backoff at the run's age (on a long training, its
      ceiling): a run stuck well past its usual end is not polled densely for long.

    Never above ``ceiling`` nor below ``first`` (before jitter).
    """
    if usual is None or usual <= 0 or running_for < first / 2:
        return poll_interval(running_for, first, ceiling, jitter)
    opens, closes = dense_window(usual, first)
    if running_for >= closes:
        return poll_interval(running_for, first, ceiling, jitter)
    if running_for >= opens:
        return first * jitter()
    left = opens - running_for
    # Equal steps that end on the window's start; none shorter than ``first`` (if the
    # start is less than one first interval away, that is the window already).
    steps = math.ceil(left / ceiling)
    return max(first, left / steps) * jitter()
