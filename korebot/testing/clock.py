"""A clock the test moves: the one stand-in for time in korebot's tests.

korebot reads two clocks: wall time (``datetime``, UTC) in the watch engine and the
database budget, and a monotonic one (seconds) in the status gateway. This holds both
and moves them together, so a test says "30 s pass" once and every part agrees. The
fake Kore.ai reads wall time as seconds since the epoch (``time()``, as ``time.time``).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

START = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


class Clock:
    def __init__(self, start: datetime = START, monotonic: float = 1000.0) -> None:
        self._wall = start
        self._monotonic = monotonic

    def now(self) -> datetime:
        """Wall time, for ``WatchEngine(clock=…)`` and ``DatabaseBudget(clock=…)``."""
        return self._wall

    def monotonic(self) -> float:
        """Seconds, for ``StatusGateway(clock=…)`` and ``LocalBudget(clock=…)``."""
        return self._monotonic

    def time(self) -> float:
        """Wall time in seconds since the epoch, for ``FakeKore(clock=…)``."""
        return self._wall.timestamp()

    def advance(self, seconds: float) -> None:
        self._wall += timedelta(seconds=seconds)
        self._monotonic += seconds
