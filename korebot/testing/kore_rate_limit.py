"""The fake Kore.ai's rate limits: calls per bot per minute and per hour, one budget for both
kinds of training (Kore.ai counts training calls by bot). Over either limit a call gets
Kore.ai's 429, with a Retry-After header if asked for.
"""

from __future__ import annotations

import math

from korebot.testing.kore_checks import Refused
from korebot.testing.kore_http import Answer, error

__all__ = ["RateLimiter"]

_MINUTE, _HOUR = 60.0, 3600.0
_RATE_LIMIT_MSG = "Rate limit for this API has been reached. Please try again later"


class RateLimiter:
    """Counts each bot's calls; ``limits`` is (per minute, per hour). Not thread-safe."""

    def __init__(self, limits: tuple[int, int], *, retry_after: bool) -> None:
        if min(limits) < 1:
            raise ValueError("rate limits must be positive")
        self._limits = limits
        self._retry_after = retry_after
        self._calls: dict[str, list[float]] = {}

    def check(self, bot_id: str, now: float) -> None:
        """Count a call of the bot now; raises Refused (429) if over a limit."""
        calls = [t for t in self._calls.get(bot_id, []) if t > now - _HOUR]
        self._calls[bot_id] = calls
        waits: list[float] = []
        for window, limit in zip((_MINUTE, _HOUR), self._limits, strict=True):
            inside = [t for t in calls if t > now - window]
            if len(inside) >= limit:
                waits.append(inside[len(inside) - limit] + window - now)
        if waits:
            answer = error(429, _RATE_LIMIT_MSG)
            if self._retry_after:
                retry = str(max(1, math.ceil(max(waits))))
                answer = Answer(429, answer.body, headers=(("Retry-After", retry),))
            raise Refused(answer)
        calls.append(now)
