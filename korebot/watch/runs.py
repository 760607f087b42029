"""Run history: what a run's row says, the usual length of a run, and the store's part.

A run is what korebot saw of one training of a target (korebot.watch.run_rows records
them in the poll's transaction). Its *usual* length is the median of the last
``USUAL_OF`` successful runs whose start is known, once there are ``USUAL_MIN``: failures
are left out, because a training refused or broken at once would make the usual look
short, and the usual is what a watcher waits for, a success. A run is *overdue* once it
has taken more than ``OVERDUE_TIMES`` its usual and ``OVERDUE_MARGIN`` seconds more: both,
so that neither a short training's few seconds late nor a long one's small delay count.
"""

from __future__ import annotations

import statistics
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from korebot.kore import Kind, Status
from korebot.registry import TrainingKey

#: Runs kept per target (older ones are deleted when a new one is recorded).
KEEP_RUNS = 200
#: The usual length: the median of this many last successful runs, from this many.
USUAL_OF = 10
USUAL_MIN = 3
OVERDUE_TIMES = 2.0
OVERDUE_MARGIN = 300.0


class RunStart(StrEnum):
    """How a run's start is known."""

    STARTED = "started"  # started from Slack: the time of the train request's POST
    FIRST_SEEN = "first seen"  # the first poll (or ask) that saw it in progress


@dataclass(frozen=True)
class Usual:
    """How long a target's successful runs usually take (seconds), from how many."""

    seconds: float
    runs: int


@dataclass(frozen=True)
class RunView:
    """One run as recorded, for the history."""

    run_id: int
    kind: Kind
    #: None while it runs.
    outcome: Status | None
    #: None when it was seen only finished (it ran between two polls).
    start: RunStart | None
    started_at: datetime | None
    ended_at: datetime | None
    #: Seconds; None when the start is unknown (or it still runs).
    duration: float | None
    started_by: str | None


def usual(durations: Sequence[float]) -> Usual | None:
    """The usual length from successful runs' durations, newest first; None if too few."""
    recent = list(durations[:USUAL_OF])
    if len(recent) < USUAL_MIN:
        return None
    return Usual(statistics.median(recent), len(recent))


def overdue(running_for: float, usual_seconds: float) -> bool:
    """Whether a run going for ``running_for`` seconds is far past its usual length."""
    return running_for > max(usual_seconds * OVERDUE_TIMES, usual_seconds + OVERDUE_MARGIN)


class RunHistory(ABC):
    """The store contract's part for run history and the pruning of old watches."""

    @abstractmethod
    def runs(self, key: TrainingKey, limit: int = USUAL_OF) -> list[RunView]:
        """The training's last ``limit`` runs, newest first (none if it has no target)."""

    @abstractmethod
    def prune_watches(self, ended_before: datetime) -> int:
        """Delete the watches (with their askers) that ended before ``ended_before``; how
        many. Train requests keep their audit without the watch; runs are kept."""
