"""The run history's rows, written in the transaction that records a status.

``observe`` is ``rows.observe_status`` plus the history: a run in progress has one open
row per target (``open_key``, inserted or nothing, so that two recorders never open it
twice), closed when a poll sees it end; a run seen only finished (it fell between two
polls) is a closed row without a start. Polls of a target are serialised by its lease;
the asks that record a first status, and the starts from Slack, only ever insert the
open row or nothing.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from korebot.kore import Kind, Status, TrainingStatus, kinds
from korebot.watch.model import RunEvent, Via, WatchRequest
from korebot.watch.rows import observe_status
from korebot.watch.runs import GAP, KEEP_RUNS, SETTLE, USUAL_OF, RunStart, overdue, usual
from korebot.watch.tables import Run, Target, Watch, insert_missing


def observe(
    session: Session, target: Target, result: TrainingStatus, moment: datetime
) -> tuple[RunEvent, float | None]:
    """Record a status on the target (``observe_status``) and in its run history; what
    happened, and the seconds the run that ended now took (None: start unknown)."""
    since, run = target.running_since, kinds.spec(Kind(target.kind)).run_of(result)
    last = target.last_checked_at
    event = observe_status(target, result, moment)
    current = open_run(session, target)
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
    status: TrainingStatus,
    moment: datetime,
) -> None:
    """What a new watch's status tells the history: the target's first status, if it has
    none; a run in progress, first seen now unless it is open already; and the exact start
    of a training started from Slack (``Via.TRAIN``)."""
    if target.last_checked_at is None:
        observe(session, target, status, moment)
    if status.status is not Status.IN_PROGRESS:
        return
    if request.via is Via.TRAIN:
        train_started(session, target, request.user_id, moment)
    elif not _polling(target, moment) and open_run(session, target) is None:
        # Seen running before any poll saw it. (A poll under way records it itself: an
        # insert here would only wait for that poll's transaction.)
        _open(session, target, RunStart.FIRST_SEEN, moment)
        target.running_since = moment


def train_started(session: Session, target: Target, user_id: str, moment: datetime) -> None:
    """A training was started from Slack now (its POST just answered): the run's start."""
    current = open_run(session, target)
    if current is None:
        _open(session, target, RunStart.STARTED, moment, started_by=user_id)
    elif current.start != RunStart.STARTED.value:
        current.start, current.started_at, current.started_by = RunStart.STARTED, moment, user_id
    target.running_since = moment


def _polling(target: Target, moment: datetime) -> bool:
    return target.lease_until is not None and target.lease_until >= moment


def open_run(session: Session, target: Target) -> Run | None:
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
    result: TrainingStatus,
    run: str | None,
    moment: datetime,
) -> float | None:
    row.open_key, row.ended_at, row.outcome = None, moment, result.status.value
    row.run = run or row.run
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


def mark_overdue(
    session: Session, target: Target, result: TrainingStatus, moment: datetime
) -> list[Watch]:
    """Mark the watches of a run far longer than usual (``runs.overdue``), each once: the
    marked ones are left out next time, and the target's polls are serialised by its lease."""
    since, usual_seconds = target.running_since, target.usual_seconds
    if result.status is not Status.IN_PROGRESS or since is None or usual_seconds is None:
        return []
    if not overdue((moment - since).total_seconds(), usual_seconds):
        return []
    watches = list(
        session.scalars(
            select(Watch).where(
                Watch.target_id == target.id,
                Watch.ended.is_(None),
                Watch.outcome.is_(None),
                Watch.overdue_at.is_(None),
            )
        )
    )
    for watch in watches:
        watch.overdue_at = moment
    return watches


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
