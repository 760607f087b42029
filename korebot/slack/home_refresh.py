"""Republishing open Home tabs when a training they show changes.

The engine says a bot's training changed (``Notifier.training_changed``: a poll's run
started or ended, a watch started or ended); ``changed`` only queues the users whose tab
is open (opened within ``OPEN_FOR``, as the database records it for every process) and
who may see the bot, and returns. ``flush``, on the engine's scheduler every second,
publishes each queued user once however many changes came (coalesced), at most
``PER_MINUTE`` tabs a minute per process (views.publish is Tier 4, 100+ a minute); the
rest wait for the next flush. Never inside a database transaction.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta

from korebot.errors import DatabaseUnavailable
from korebot.kore import InvalidInput
from korebot.ratelimit import KeyedWindows
from korebot.registry import BotRegistry

log = logging.getLogger(__name__)

#: Seconds after its opening a tab counts as open (Slack never says it was closed).
OPEN_FOR = 600.0
#: Tabs published a minute at most by one process's refreshes.
PER_MINUTE = 60


class HomeRefresher:
    def __init__(
        self,
        open_homes: Callable[[datetime], list[tuple[str, str]]],
        registry: BotRegistry,
        publish: Callable[[str, str], object],
        clock: Callable[[], datetime],
        *,
        open_for: float = OPEN_FOR,
        per_minute: int = PER_MINUTE,
    ) -> None:
        self.open_homes, self.registry, self.publish = open_homes, registry, publish
        self.clock = clock
        self.open_for = timedelta(seconds=open_for)
        self._budget = KeyedWindows({60: per_minute})
        self._lock = threading.Lock()
        self._changed: set[str] = set()  # bot names changed since the last flush
        self._queued: dict[tuple[str, str], None] = {}  # (team, user), in order

    def changed(self, bot_name: str) -> None:
        """Queue a refresh of the tabs showing the bot (returns at once)."""
        with self._lock:
            self._changed.add(bot_name)

    def flush(self) -> None:
        """Publish each queued tab once, within the per-minute cap."""
        with self._lock:
            changed, self._changed = self._changed, set()
        if changed:
            try:
                opened = self.open_homes(self.clock() - self.open_for)
            except DatabaseUnavailable as error:
                log.warning("Database unavailable, Home tabs not refreshed: %s", error.orig)
                opened = []
            users = [(team, user) for team, user in opened if self._sees(changed, user)]
            with self._lock:
                self._queued.update(dict.fromkeys(users))
        while True:
            with self._lock:
                if not self._queued:
                    return
                if self._budget.acquire("publish", time.monotonic()) > 0:
                    return  # the rest stay queued for the next flush
                team, user = next(iter(self._queued))
                del self._queued[team, user]
            self.publish(team, user)

    def _sees(self, changed: set[str], user: str) -> bool:
        for name in changed:
            try:
                bot = self.registry.resolve(name, allow_raw_id=True)
            except InvalidInput:  # no longer configured: refresh, it costs one view
                return True
            if not bot.users or user in bot.users:
                return True
        return False
