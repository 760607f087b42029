"""The store's contract for the App Home: what one user's tab shows, and who has it open.

Part of ``WatchStore`` (korebot.watch.contract); ``korebot.watch.homes.HomeLog`` answers it
in SQL. Reads only what earlier polls and commands recorded: opening a tab never costs a
Kore.ai call. Slack does not say when a tab is closed, so "open" means "opened in the
last few minutes", recorded in the database so that every process sharing it knows.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable
from datetime import datetime

from korebot.watch.model import HomeActivity


class HomeStore(ABC):
    @abstractmethod
    def home_activity(self, user_id: str, bots: Iterable[tuple[str, str]]) -> HomeActivity:
        """What the store knows for the user's tab: every target of these (host, bot ID)
        (any language, state and kind; a training never asked about has none), the
        active watches the user is an asker of, and the subscriptions they created or of
        channels where they have a watch."""

    @abstractmethod
    def record_home_opened(self, team_id: str, user_id: str) -> None:
        """Record that the user opened (or was just shown) their tab, now; committed on
        return. One row per user, its time moved forward."""

    @abstractmethod
    def open_homes(self, opened_since: datetime) -> list[tuple[str, str]]:
        """The (team, user) of every tab opened since ``opened_since``, oldest first."""
