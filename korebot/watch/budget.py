"""Kore.ai's per-bot rate budget kept in the database, so several processes share it."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import delete, select, text
from sqlalchemy.exc import InterfaceError, OperationalError

from korebot.gateway import Limits, LocalBudget
from korebot.ratelimit import SlidingWindows
from korebot.watch.store import KoreCall, Store, now

# Rows older than the longest window are deleted now and then, not on every call.
_PRUNE_EVERY = 100

log = logging.getLogger(__name__)


class DatabaseBudget:
    """The gateway's ``Budget`` for processes sharing one database.

    Each allowed call is a row; the check and the insert run in one transaction,
    serialised per bot with a PostgreSQL advisory lock (SQLite serialises writers).
    """

    def __init__(self, store: Store, limits: Limits, clock: Callable[[], datetime] = now) -> None:
        self.store = store
        self.limits = limits
        self.clock = clock
        self._calls = 0
        # While the database is unreachable, this process counts alone: asks are still
        # answered, and Kore.ai's own 429s are ridden out if the processes overspend.
        self._fallback = LocalBudget(limits)

    def acquire(self, bot: tuple[str, str]) -> float:
        try:
            return self._shared(bot)
        except (OperationalError, InterfaceError) as error:
            log.warning("Database unavailable; Kore.ai's budget is counted here: %s", error.orig)
            return self._fallback.acquire(bot)

    def _shared(self, bot: tuple[str, str]) -> float:
        key = "|".join(bot)
        moment = self.clock()
        horizon = moment - timedelta(seconds=max(self.limits.windows))
        with self.store.session.begin() as session:
            if session.bind is not None and session.bind.dialect.name == "postgresql":
                session.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": _lock_id(key)})
            recent = session.scalars(
                select(KoreCall.at)
                .where(KoreCall.bot == key, KoreCall.at > horizon)
                .order_by(KoreCall.at)
            ).all()
            windows = SlidingWindows(self.limits.windows)
            windows.events.extend(at.timestamp() for at in recent)
            wait = windows.wait(moment.timestamp())
            if wait == 0:
                session.add(KoreCall(bot=key, at=moment))
                self._calls += 1
                if self._calls % _PRUNE_EVERY == 0:
                    session.execute(delete(KoreCall).where(KoreCall.at <= horizon))
        return wait


def _lock_id(key: str) -> int:
    """A stable signed 64-bit number for pg_advisory_xact_lock."""
    return int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big", signed=True)
