"""``korebot_kore_calls``: Kore.ai's per-bot rate budget in the database, shared by processes.

``KoreCalls`` answers the contract's port of that name (korebot.watch.store.abc): each
allowed call is a row; the check and the insert run in one transaction, serialised per
bot with a PostgreSQL advisory lock (SQLite serialises writers). ``DatabaseBudget`` is
the gateway's ``Budget`` on it.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import delete, select, text
from sqlalchemy.exc import InterfaceError, OperationalError

from korebot.gateway import Limits, LocalBudget
from korebot.ratelimit import SlidingWindows
from korebot.watch.store import abc
from korebot.watch.store.database import Database
from korebot.watch.store.tables import KoreCall
from korebot.watch.types import now

# Rows older than the longest window are deleted now and then, not on every call.
_PRUNE_EVERY = 100

log = logging.getLogger(__name__)


class KoreCalls(abc.KoreCalls):
    def __init__(self, db: Database) -> None:
        self.db = db
        self._calls = 0

    def take(self, bot: str, limits: Limits, moment: datetime) -> float:
        horizon = moment - timedelta(seconds=max(limits.windows))
        # Not Database.begin: the budget's caller tells a lost database from a spent budget.
        with self.db.session.begin() as session:
            if session.bind is not None and session.bind.dialect.name == "postgresql":
                session.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": _lock_id(bot)})
            recent = session.scalars(
                select(KoreCall.at)
                .where(KoreCall.bot == bot, KoreCall.at > horizon)
                .order_by(KoreCall.at)
            ).all()
            windows = SlidingWindows(limits.windows)
            windows.events.extend(at.timestamp() for at in recent)
            wait = windows.wait(moment.timestamp())
            if wait == 0:
                session.add(KoreCall(bot=bot, at=moment))
                self._calls += 1
                if self._calls % _PRUNE_EVERY == 0:
                    session.execute(delete(KoreCall).where(KoreCall.at <= horizon))
        return wait


class DatabaseBudget:
    """The gateway's ``Budget`` for processes sharing one database (``KoreCalls``)."""

    def __init__(
        self, calls: abc.KoreCalls, limits: Limits, clock: Callable[[], datetime] = now
    ) -> None:
        self.calls = calls
        self.limits = limits
        self.clock = clock
        # While the database is unreachable, this process counts alone: asks are still
        # answered, and Kore.ai's own 429s are ridden out if the processes overspend.
        self._fallback = LocalBudget(limits)

    def acquire(self, bot: tuple[str, str]) -> float:
        try:
            return self.calls.take("|".join(bot), self.limits, self.clock())
        except (OperationalError, InterfaceError) as error:
            log.warning("Database unavailable; Kore.ai's budget is counted here: %s", error.orig)
            return self._fallback.acquire(bot)


def _lock_id(key: str) -> int:
    """A stable signed 64-bit number for pg_advisory_xact_lock."""
    return int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big", signed=True)
