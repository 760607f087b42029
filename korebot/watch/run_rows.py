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
from korebot.watch.runs import KEEP_RUNS, USUAL_OF, RunStart, usual
from korebot.watch.tables import Run, Target, insert_missing


def observe(session: Session, target: Target, result: TrainingStatus, moment: datetime) -> RunEvent:
    """Record a status on the target (``observe_status``) and in its run history."""
    since, run = target.running_since, kinds.spec(Kind(target.kind)).run_of(result)
    event = observe_status(target, result, moment)
    current = open_run(session, target)
    if result.status is Status.IN_PROGRESS:
        if current is None:
            # Started, or first seen running (a first poll, or history begun mid-run).
            _open(session, target, RunStart.FIRST_SEEN, target.running_since or moment, run=run)
        elif current.started_at is not None:
            # The run's own start (exact when it was started from Slack) paces the polls.
            target.running_since = current.started_at
        return event
    if result.status.is_final and event in (RunEvent.ENDED, RunEvent.RAN):
        if current is None:
            # Its start is known only if it was seen running (ENDED, history begun mid-run).
            seen = since if event is RunEvent.ENDED else None
            start = RunStart.FIRST_SEEN.value if seen else None
            current = Run(target_id=target.id, run=run, start=start, started_at=seen)
            session.add(current)
            _prune(session, target)
        _close(session, target, current, result, run, moment)
    return event


def asked(
    session: Session,
    target: Target,
    request: WatchRequest,
    status: TrainingStatus,
    moment: datetime,
) -> None:
    """What a new watch's status tells the history: the target's first status, if it has
    none; and the start of a training started from Slack (``Via.TRAIN``)."""
    if target.last_checked_at is None:
        observe(session, target, status, moment)
    if request.via is Via.TRAIN and status.status is Status.IN_PROGRESS:
        train_started(session, target, request.user_id, moment)


def train_started(session: Session, target: Target, user_id: str, moment: datetime) -> None:
    """A training was started from Slack now (its POST just answered): the run's start."""
    current = open_run(session, target)
    if current is None:
        _open(session, target, RunStart.STARTED, moment, started_by=user_id)
    elif current.start != RunStart.STARTED.value:
        current.start, current.started_at, current.started_by = RunStart.STARTED, moment, user_id
    target.running_since = moment


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
) -> None:
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
