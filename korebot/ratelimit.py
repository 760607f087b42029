"""Sliding-window counters: Kore.ai's per-bot budget and the per-user command limit."""

from __future__ import annotations

import threading
from collections import defaultdict, deque
from collections.abc import Hashable, Mapping


class SlidingWindows:
    """Allows at most ``limits[w]`` events in any ``w`` seconds, for each window w.

    Not thread-safe on its own; ``KeyedWindows`` adds the lock.
    """

    def __init__(self, limits: Mapping[float, int]) -> None:
        self.limits = dict(limits)
        self.longest = max(self.limits)
        self.events: deque[float] = deque()

    def wait(self, moment: float) -> float:
        """Seconds until one more event is allowed (0: now)."""
        while self.events and self.events[0] <= moment - self.longest:
            self.events.popleft()
        waits = [0.0]
        for window, limit in self.limits.items():
            inside = [t for t in self.events if t > moment - window]
            if len(inside) >= limit:
                waits.append(inside[-limit] + window - moment)
        return max(waits)

    def add(self, moment: float) -> None:
        self.events.append(moment)


class KeyedWindows:
    """One ``SlidingWindows`` per key (a bot, a user), created on first use."""

    def __init__(self, limits: Mapping[float, int]) -> None:
        self._windows: defaultdict[Hashable, SlidingWindows] = defaultdict(
            lambda: SlidingWindows(limits)
        )
        self._lock = threading.Lock()

    def acquire(self, key: Hashable, moment: float) -> float:
        """Count an event for ``key`` if allowed and return 0; else the seconds to wait."""
        with self._lock:
            windows = self._windows[key]
            wait = windows.wait(moment)
            if wait == 0:
                windows.add(moment)
            return wait
