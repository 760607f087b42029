"""Group commit: the rows that threads ask to insert at one moment, in one transaction.

``GroupCommit.submit`` returns only once its row is committed (or raises what the
transaction raised), as one insert of its own would. While one caller writes a batch,
the callers that arrive meanwhile queue; when it is done, one of them (the leader)
inserts all that queued, up to ``limit``, in one transaction, and wakes the others with
their results. A burst of concurrent inserts is so a few transactions instead of one
each: on SQLite, whose writers take turns, the waiting callers are woken by the leader
at once rather than sleeping in SQLite's busy handler; on PostgreSQL it saves round
trips. No thread of its own: the leader is one of the callers. A failed transaction
fails every row of its batch with the same error.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar, cast

T = TypeVar("T")


@dataclass
class _Pending(Generic[T]):
    row: dict[str, Any]
    done: bool = False
    result: T | None = None
    error: BaseException | None = None


class GroupCommit(Generic[T]):
    def __init__(self, insert: Callable[[Sequence[dict[str, Any]]], list[T]], limit: int) -> None:
        """``insert`` writes rows in one transaction and returns their results in order."""
        self._insert, self._limit = insert, limit
        self._queue: list[_Pending[T]] = []
        self._writing = False
        self._changed = threading.Condition()

    def submit(self, row: dict[str, Any]) -> T:
        """Insert the row with those queued beside it; its result once committed."""
        mine: _Pending[T] = _Pending(row)
        with self._changed:
            self._queue.append(mine)
            while self._writing and not mine.done:
                self._changed.wait()
            if not mine.done:
                self._lead(mine)
        if mine.error is not None:
            raise mine.error
        return cast(T, mine.result)  # done without an error: its result is set

    def _lead(self, mine: _Pending[T]) -> None:
        """Write batches, oldest rows first, until ``mine`` is; called holding the lock."""
        self._writing = True
        try:
            while not mine.done:
                batch, self._queue = self._queue[: self._limit], self._queue[self._limit :]
                self._changed.release()  # others queue while this batch is written
                try:
                    results: list[T | None] = list(self._insert([p.row for p in batch]))
                    error = None
                except BaseException as failure:  # every caller of the batch gets it
                    results, error = [None] * len(batch), failure
                finally:
                    self._changed.acquire()
                for pending, result in zip(batch, results, strict=True):
                    pending.done, pending.result, pending.error = True, result, error
                self._changed.notify_all()
        finally:
            self._writing = False
            self._changed.notify_all()  # one of those still queued leads next
