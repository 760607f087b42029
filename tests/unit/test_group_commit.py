"""Group commit (korebot.watch.store.group_commit): rows submitted while a batch is written go
together in the next, up to the limit; each caller gets its own result or its batch's error.

The store's use of it, on real databases, is in tests/test_store_contract.py.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import pytest

from korebot.errors import DatabaseUnavailable
from korebot.watch.store.group_commit import GroupCommit


class Insert:
    """An insert whose first batch is held until released; it fails the batches after the
    first if told to."""

    def __init__(self, *, fail_after_first: bool = False) -> None:
        self.batches: list[list[int]] = []
        self.first_started, self.release = threading.Event(), threading.Event()
        self.fail_after_first = fail_after_first

    def __call__(self, rows: Sequence[dict[str, Any]]) -> list[int]:
        self.batches.append([row["n"] for row in rows])
        if len(self.batches) == 1:
            self.first_started.set()
            self.release.wait(10)
        elif self.fail_after_first:
            raise DatabaseUnavailable(OSError("connection refused"))
        return [row["n"] * 10 for row in rows]


@contextmanager
def held_first_batch(
    insert: Insert, group: GroupCommit[int], others: int
) -> Iterator[dict[int, int | BaseException]]:
    """Row 0 is being written, rows 1..others queued behind it; released on exit."""
    outcomes: dict[int, int | BaseException] = {}

    def submit(n: int) -> None:
        try:
            outcomes[n] = group.submit({"n": n})
        except DatabaseUnavailable as error:
            outcomes[n] = error

    threads = [threading.Thread(target=submit, args=(0,))]
    threads[0].start()
    assert insert.first_started.wait(10)
    threads += [threading.Thread(target=submit, args=(n,)) for n in range(1, others + 1)]
    for thread in threads[1:]:
        thread.start()
    deadline = time.monotonic() + 10
    while len(group._queue) < others and time.monotonic() < deadline:
        time.sleep(0.001)  # polls a condition (all queued), with a deadline
    assert len(group._queue) == others
    insert.release.set()
    yield outcomes
    for thread in threads:
        thread.join(10)
    assert len(outcomes) == others + 1


def test_rows_queued_during_a_batch_are_written_together_up_to_the_limit() -> None:
    insert = Insert()
    group = GroupCommit(insert, limit=3)
    with held_first_batch(insert, group, others=5) as outcomes:
        pass
    assert insert.batches[0] == [0]
    assert [len(batch) for batch in insert.batches[1:]] == [3, 2]  # the oldest first
    assert sorted(n for batch in insert.batches[1:] for n in batch) == [1, 2, 3, 4, 5]
    assert outcomes == {n: n * 10 for n in range(6)}  # each its own result
    assert group.submit({"n": 7}) == 70  # and the next caller leads at once


def test_a_failed_batch_fails_each_of_its_callers() -> None:
    insert = Insert(fail_after_first=True)
    group = GroupCommit(insert, limit=10)
    with held_first_batch(insert, group, others=5) as outcomes:
        pass
    assert [len(batch) for batch in insert.batches[1:]] == [5]  # one batch of the five
    assert outcomes[0] == 0
    errors = [outcomes[n] for n in range(1, 6)]
    assert all(isinstance(error, DatabaseUnavailable) for error in errors)
    insert.fail_after_first = False
    assert group.submit({"n": 7}) == 70  # the failure left no caller waiting


def test_an_error_of_a_lone_caller_is_raised_to_it() -> None:
    def insert(rows: Sequence[dict[str, Any]]) -> list[int]:
        raise DatabaseUnavailable(OSError("connection refused"))

    group = GroupCommit(insert, limit=10)
    with pytest.raises(DatabaseUnavailable):
        group.submit({"n": 1})
