"""Acks before answers: the work after an ack waits for the requests that came in before it.

Slack allows 3 seconds for an ack and far longer for the answer. In CPython, the threads
doing the work after an ack (the database, Block Kit, the Web API) hold the GIL that the
threads acking later requests need, so in a burst of commands they slow those acks down.
Here that work first waits, up to ``patience`` seconds, until every request that had
arrived by then has been answered; requests arriving later do not extend the wait, so a
steady stream of commands delays the work by about one request's time, not forever.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from typing import ParamSpec, TypeVar

P = ParamSpec("P")
T = TypeVar("T")


class AckFirst:
    """Counts the Slack requests being handled; lets later work wait for them."""

    def __init__(self, patience: float = 2.0) -> None:
        self.patience = patience
        self._numbers = itertools.count(1)
        self._arrived = 0
        self._open: set[int] = set()
        self._changed = threading.Condition()

    @contextmanager
    def request(self) -> Iterator[None]:
        """Around the handling of one request, up to its response."""
        with self._changed:
            number = self._arrived = next(self._numbers)
            self._open.add(number)
        try:
            yield
        finally:
            with self._changed:
                self._open.discard(number)
                self._changed.notify_all()

    def arrived(self) -> int:
        """The number of the last request that has arrived."""
        with self._changed:
            return self._arrived

    def pending(self, horizon: int) -> bool:
        """Whether a request numbered ``horizon`` or lower is still being handled."""
        with self._changed:
            return self._pending(horizon)

    def _pending(self, horizon: int) -> bool:
        return bool(self._open) and min(self._open) <= horizon

    def wait_turn(self) -> None:
        """Wait until the requests that have arrived so far are answered (or patience ends)."""
        with self._changed:
            horizon = self._arrived
            self._changed.wait_for(lambda: not self._pending(horizon), timeout=self.patience)


class AckFirstExecutor(ThreadPoolExecutor):
    """Bolt's listener executor, whose tasks (the lazy listeners) wait their turn first."""

    def __init__(self, acks: AckFirst, max_workers: int, thread_name_prefix: str) -> None:
        super().__init__(max_workers=max_workers, thread_name_prefix=thread_name_prefix)
        self.acks = acks

    def submit(self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> Future[T]:
        def after_acks() -> T:
            self.acks.wait_turn()
            return fn(*args, **kwargs)

        return super().submit(after_acks)
