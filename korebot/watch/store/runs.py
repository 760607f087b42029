"""``korebot_runs``: each training run korebot saw, and what they say of the next ones.

A run is what korebot saw of one training of a target, written in the transaction that
records a status (``observe``): a run in progress has one open row per target
(``open_key``, inserted or nothing, so that two recorders never open it twice), closed
when a poll sees it end; a run seen only finished (it fell between two polls) is a closed
row without a start. Polls of a target are serialised by its lease; the asks that record
a first status, and the starts from Slack, only ever insert the open row or nothing.

A target's *usual* length is the median of the last ``USUAL_OF`` successful runs whose
start is known, once there are ``USUAL_MIN``: failures are left out, because a training
refused or broken at once would make the usual look short, and the usual is what a
watcher waits for, a success. A run is *overdue* once it has taken more than
``OVERDUE_TIMES`` its usual and ``OVERDUE_MARGIN`` seconds more: both, so that neither a
short training's few seconds late nor a long one's small delay count. ``Runs`` answers
the contract's port of that name (korebot.watch.store.abc): the history, read back.
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from korebot.kore import JobStatus, Kind, Status, kinds
from korebot.registry import JobKey
from korebot.watch.store import abc, targets
from korebot.watch.store.database import Database
from korebot.watch.store.tables import Run, Target, insert_missing
from korebot.watch.types import RunEvent, RunStart, RunView, Via, WatchRequest

#: Runs kept per target (older ones are deleted when a new one is recorded).
KEEP_RUNS = 200
#: The usual length: the median of this many last successful runs, from this many.
USUAL_OF = 10
USUAL_MIN = 3
OVERDUE_TIMES = 2.0
OVERDUE_MARGIN = 300.0
#: Seconds a run opened by an ask or a start from Slack stays open whatever the polls
#: say: a poll under way at its start may have read the status from before.
SETTLE = 10.0
#: Seconds without a status after which an open run is not followed any more (polls are
#: minutes apart at most while anything watches): it ends unseen, outcome unknown.
GAP = 3600.0


@dataclass(frozen=True)
class Usual:
    """How long a target's successful runs usually take (seconds), from how many."""

    seconds: float
    runs: int


def usual(durations: Sequence[float]) -> Usual | None:
    """The usual length from successful runs' durations, newest first; None if too few."""
    recent = list(durations[:USUAL_OF])
    if len(recent) < USUAL_MIN:
        return None
    return Usual(statistics.median(recent), len(recent))


def overdue(running_for: float, usual_seconds: float) -> bool:
    """Whether a run going for ``running_for`` seconds is far past its usual length."""
    return running_for > max(usual_seconds * OVERDUE_TIMES, usual_seconds + OVERDUE_MARGIN)


def observe(
    session: Session, target: Target, result: JobStatus, moment: datetime
) -> tuple[RunEvent, float | None]:
    """Record a status on the target (``targets.observe_status``) and in its run history; what
    happened, and the seconds the run that ended now took (None: start unknown)."""
    since, run = target.running_since, kinds.spec(Kind(target.kind)).run_of(result)
    last = target.last_checked_at
    event = targets.observe_status(target, result, moment)
    current = _open_run(session, target)
    if current is not None and current.started_at is not None and last is not None:
        # An ask or a start from Slack opens a run without a poll: it was seen then too.
        last = max(last, current.started_at)
    if current is not None and last is not None and (moment - last).total_seconds() > GAP:
        # Nobody looked for a long while: the open run ended then (its length unknown),
        # or, if one runs now, ended unseen and this one is first seen now.
        final = result.status.is_final
        current.open_key, current.ended_at = None, moment if final else last
        current.outcome = (result.status if final else Status.UNKNOWN).value
        if final:
            return event, None
        current = None
        if result.status is Status.IN_PROGRESS:
            target.running_since = moment
    if result.status is Status.IN_PROGRESS:
        if current is None:
            # Started, or first seen running (a first poll, or history begun mid-run).
            _open(session, target, RunStart.FIRST_SEEN, target.running_since or moment, run=run)
        elif current.started_at is not None:
            # The run's own start (exact when it was started from Slack) paces the polls.
            target.running_since = current.started_at
        return event, None
    if not result.status.is_final:
        return event, None
    # A run an ask or a start opened (the target's last poll had it ended) ends with the
    # next final status, unless that may have been read before the run was seen.
    settled = current is not None and (
        current.started_at is None or (moment - current.started_at).total_seconds() > SETTLE
    )
    if event is RunEvent.RAN and not settled:
        current = None  # a run that ended before the open one began: a row of its own
    if event in (RunEvent.ENDED, RunEvent.RAN) or settled:
        if current is None:
            # Its start is known only if it was seen running (ENDED, history begun mid-run).
            seen = since if event is RunEvent.ENDED else None
            start = RunStart.FIRST_SEEN.value if seen else None
            current = Run(target_id=target.id, run=run, start=start, started_at=seen)
            session.add(current)
            _prune(session, target)
        return event, _close(session, target, current, result, run, moment)
    return event, None


def asked(
    session: Session,
    target: Target,
    request: WatchRequest,
    status: JobStatus,
    moment: datetime,
) -> RunEvent:
    """What a new watch's status tells the target and its history; what happened.

    The target's first status, if it has none. A job started from Slack (``Via.TRAIN``):
    the start's answer is the newest word on the target (a batch test run is followed by
    the ID it names) and the run's exact start. Else a run in progress, first seen now
    unless it is open already.
    """
    event = RunEvent.SAME
    if target.last_checked_at is None or request.via is Via.TRAIN:
        event, _ = observe(session, target, status, moment)
    if status.status is not Status.IN_PROGRESS:
        return event
    if request.via is Via.TRAIN:
        _train_started(session, target, request.user_id, moment)
    elif not _polling(target, moment) and _open_run(session, target) is None:
        # Seen running before any poll saw it. (A poll under way records it itself: an
        # insert here would only wait for that poll's transaction.)
        _open(session, target, RunStart.FIRST_SEEN, moment)
        target.running_since = moment
    return event


def _train_started(session: Session, target: Target, user_id: str, moment: datetime) -> None:
    """A training was started from Slack now (its POST just answered): the run's start."""
    current = _open_run(session, target)
    if current is None:
        _open(session, target, RunStart.STARTED, moment, started_by=user_id)
    elif current.start != RunStart.STARTED.value:
        current.start, current.started_at, current.started_by = RunStart.STARTED, moment, user_id
    target.running_since = moment


def _polling(target: Target, moment: datetime) -> bool:
    return target.lease_until is not None and target.lease_until >= moment


def _open_run(session: Session, target: Target) -> Run | None:
    return session.scalars(select(Run).where(Run.open_key == str(target.id))).first()


def _open(
    session: Session,
    target: Target,
    start: RunStart,
    at: datetime,
    *,
    run: str | None = None,
    started_by: str | None = None,
) -> None:
    inserted = insert_missing(
        session,
        Run,
        {"open_key": str(target.id)},
        target_id=target.id,
        run=run,
        start=start.value,
        started_at=at,
        started_by=started_by,
    )
    if inserted:
        _prune(session, target)


def _close(
    session: Session,
    target: Target,
    row: Run,
    result: JobStatus,
    run: str | None,
    moment: datetime,
) -> float | None:
    row.open_key, row.ended_at, row.outcome = None, moment, result.status.value
    row.run, row.result = run or row.run, json.dumps(result.as_json())
    if row.started_at is not None:
        row.duration = max((moment - row.started_at).total_seconds(), 0.0)
    if result.status is Status.SUCCESS and row.duration is not None:
        session.flush()
        durations = session.scalars(
            select(Run.duration)
            .where(
                Run.target_id == target.id,
                Run.outcome == Status.SUCCESS.value,
                Run.duration.is_not(None),
            )
            .order_by(Run.id.desc())
            .limit(USUAL_OF)
        ).all()
        found = usual([d for d in durations if d is not None])
        target.usual_seconds = found.seconds if found else None
        target.usual_runs = found.runs if found else 0
    return row.duration


def _prune(session: Session, target: Target) -> None:
    """Keep the target's last ``KEEP_RUNS`` runs (the open one always)."""
    session.flush()
    oldest_kept = session.scalar(
        select(Run.id)
        .where(Run.target_id == target.id)
        .order_by(Run.id.desc())
        .offset(KEEP_RUNS - 1)
        .limit(1)
    )
    if oldest_kept is not None:
        session.execute(
            delete(Run).where(
                Run.target_id == target.id, Run.id < oldest_kept, Run.open_key.is_(None)
            )
        )


def _view(row: Run, kind: Kind) -> RunView:
    return RunView(
        run_id=row.id,
        kind=kind,
        outcome=Status(row.outcome) if row.outcome is not None else None,
        start=RunStart(row.start) if row.start is not None else None,
        started_at=row.started_at,
        ended_at=row.ended_at,
        duration=row.duration,
        started_by=row.started_by,
        result=None if row.result is None else JobStatus.from_json(json.loads(row.result), kind),
    )


class Runs(abc.Runs):
    def __init__(self, db: Database) -> None:
        self.db = db

    def runs(self, key: JobKey, limit: int = abc.SHOWN_RUNS) -> list[RunView]:
        with self.db.begin() as session:
            rows = session.execute(
                select(Run, Target.kind)
                .join(Target, Run.target_id == Target.id)
                .where(Target.key == str(key))
                .order_by(Run.id.desc())
                .limit(limit)
            ).all()
            return [_view(row, Kind(kind)) for row, kind in rows]
