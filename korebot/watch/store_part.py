"""What every part of ``korebot.watch.store.Store`` mixed in from its own module needs.

``Store`` is assembled from one mixin per kind of transaction (subscription_log,
command_log, train_requests, run_log, homes); each runs on the store's sessions.
"""

from __future__ import annotations

from abc import abstractmethod
from contextlib import AbstractContextManager

from sqlalchemy.orm import Session

from korebot.watch.contract import WatchStore


class StorePart(WatchStore):
    @abstractmethod
    def _begin(self, *, urgent: bool = False) -> AbstractContextManager[Session]:
        """A transaction (unless ``urgent``, after the commands being recorded: see
        korebot.watch.command_log); the driver's connection errors are DatabaseUnavailable."""
