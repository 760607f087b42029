"""``korebot_targets``: one row per training, polled once for every watch and subscription.

``Targets`` answers the contract's port of that name (korebot.watch.store.abc). A poll's
transaction holds the target's lease and writes everything its answer changes: the
target's last status, the outcome of the watches waiting for it, the watches its
subscriptions get, its run history (korebot.watch.store.runs) and its next poll.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from korebot.kore import JobStatus, Kind, State, Status, kinds
from korebot.registry import JobKey
from korebot.watch.store import abc, leases, runs, subscriptions, watches
from korebot.watch.store.database import Database
from korebot.watch.store.tables import Subscription, Target, Watch, get_or_insert
from korebot.watch.types import (
    Failed,
    Lease,
    Observed,
    Outcome,
    PollClaim,
    RunEvent,
    SubscriptionView,
    TargetState,
)

log = logging.getLogger(__name__)


def target_for(session: Session, key: JobKey, bot_name: str) -> Target:
    """The training's target, inserted if missing (safe when others insert it at once)."""
    target, _ = get_or_insert(
        session,
        Target,
        {"key": str(key)},
        host=key.host,
        bot_id=key.bot_id,
        bot_name=bot_name,
        language=key.language,
        state=key.state.value,
        kind=key.kind.value,
        subject=key.subject,
    )
    return target


def was_running(target: Target) -> bool:
    """Whether the target's last recorded status (raw, in its kind's words) is in progress."""
    last = target.last_status
    return last is not None and kinds.spec(Kind(target.kind)).status_of(last) is Status.IN_PROGRESS


def last_result(target: Target) -> JobStatus | None:
    """The target's last answer, parsed (None before its first)."""
    if target.last_result is None:
        return None
    return JobStatus.from_json(json.loads(target.last_result), Kind(target.kind))


def running_now(policy: abc.Policy, target: Target, moment: datetime) -> bool:
    """Whether the target's last poll saw a run in progress, and is recent enough to stand:
    within one poll interval (and a lease, for a late tick or a poll under way), not failing."""
    if (
        not was_running(target)
        or target.last_checked_at is None
        or target.failing_since is not None
        or target.next_poll_at is None  # not polled any more: the status is history
    ):
        return False
    since = target.running_since or target.last_checked_at
    # Paced by a usual duration, the interval shrinks as the run nears its usual end: the
    # one planned at the last poll stands as well as the current one.
    interval = policy.poll_lease + max(
        policy.pace((at - since).total_seconds(), True, target.usual_seconds)
        for at in (moment, target.last_checked_at)
    )
    return moment - target.last_checked_at <= timedelta(seconds=interval)


def schedule(
    session: Session, policy: abc.Policy, target: Target, moment: datetime, *, polled: bool = False
) -> None:
    """Set when the target is next due, or None when nothing needs it any more.

    Right after a poll, one interval from now. Otherwise only ever sooner, so that a new
    watch cannot postpone a due poll.
    """
    session.flush()
    watched = _exists(session, select(Watch.id).where(Watch.target_id == target.id, Watch.waiting))
    subscribed = _exists(
        session,
        select(Subscription.id).where(
            Subscription.target_id == target.id, Subscription.paused.is_(None)
        ),
    )
    if not (watched or subscribed):
        target.next_poll_at = None
        return
    running_for = (
        None if target.running_since is None else (moment - target.running_since).total_seconds()
    )
    due = moment + timedelta(seconds=policy.pace(running_for, watched, target.usual_seconds))
    if polled or target.next_poll_at is None or target.next_poll_at > due:
        target.next_poll_at = due


def _exists(session: Session, query: Select[Any]) -> bool:
    return session.scalars(query.limit(1)).first() is not None


def observe_status(target: Target, result: JobStatus, moment: datetime) -> RunEvent:
    """Record a status on the target and say what happened since the previous one.

    In progress after a final status is a start; final after in progress is an end;
    final after final, of another run (as the kind's module identifies runs: FAQ by
    ``modifiedOn``, ML by ``trainVersion``), is a whole run that fell between two polls.
    """
    spec = kinds.spec(Kind(target.kind))
    run = spec.run_of(result)
    before, before_run = target.last_status, target.last_run
    running, ran_before = result.status is Status.IN_PROGRESS, was_running(target)
    event = RunEvent.SAME
    if before is not None:
        if running and not ran_before:
            event = RunEvent.STARTED
        elif result.status.is_final and ran_before:
            event = RunEvent.ENDED
        elif result.status.is_final and spec.new_run(before_run, run):
            event = RunEvent.RAN
    target.last_status, target.last_result = result.raw_status, json.dumps(result.as_json())
    target.last_run, target.last_checked_at = run, moment
    target.last_error, target.failing_since = None, None
    if running:
        target.running_since = target.running_since if ran_before else moment
    else:
        target.running_since = None
    return event


class Targets(abc.Targets):
    def __init__(self, db: Database) -> None:
        self.db = db

    def acquire_polls(self, limit: int, target_id: int | None = None) -> list[PollClaim]:
        policy = self.db.policy
        moment, lease = policy.clock(), Lease("poll", 0, uuid.uuid4().hex)
        which = Target.next_poll_at <= moment if target_id is None else Target.id == target_id
        with self.db.begin() as session:
            ids = session.scalars(
                select(Target.id)
                .where(which, leases.free(Target, moment))
                .order_by(Target.next_poll_at)
                .limit(limit)
                .with_for_update(skip_locked=True)
            ).all()
            if not ids:
                return []
            leases.take(session, lease, ids, policy, moment)
            taken = session.scalars(
                select(Target)
                .where(Target.id.in_(ids), Target.lease_owner == lease.owner)
                .order_by(Target.next_poll_at)
            )
            return [
                PollClaim(
                    Lease("poll", target.id, lease.owner),
                    target.bot_name,
                    target.language,
                    State(target.state),
                    Kind(target.kind),
                    target.subject,
                    last_result(target),
                    target.last_checked_at,
                )
                for target in taken
            ]

    def record_status(
        self,
        lease: Lease,
        status: JobStatus,
        timeout_reason: Callable[[str], str],
        *,
        read_after: datetime | None = None,
    ) -> Observed | None:
        policy = self.db.policy
        moment = policy.clock()
        with self.db.begin() as session:
            target: Target | None = leases.held(session, lease)
            if target is None:
                return None
            seen = target.last_checked_at
            if read_after is not None and seen is not None and seen > read_after:
                schedule(session, policy, target, moment, polled=True)
                leases.clear(target)
                return Observed([])
            recovered, usual = target.failing_since is not None, target.usual_seconds
            event, took = runs.observe(session, target, status, moment)
            # The final word says how long the run took against the usual before it.
            final = Outcome(result=status, took=took, usual=usual).dumps()
            # Most polls change no watch: load only those that end now (or all of them, to
            # tell them Kore.ai is back), not a popular training's thousands every time.
            everyone = status.status.is_final or recovered
            waiting = watches.waiting_for(session, target.id, None if everyone else moment)
            for watch in waiting:
                if status.status.is_final:
                    watch.outcome = final
                elif watch.deadline <= moment:
                    watch.outcome = Outcome(reason=timeout_reason(status.raw_status)).dumps()
            ended = final if status.status.is_final else None
            subscriptions.heard(session, policy, target, event, ended, moment)
            schedule(session, policy, target, moment, polled=True)
            overdue = [
                watches.view(w) for w in watches.mark_overdue(session, target, status, moment)
            ]
            leases.clear(target)
            still = [watches.view(w) for w in waiting if w.outcome is None] if recovered else []
            return Observed(still, overdue, event)

    def record_failure(
        self,
        lease: Lease,
        error: str,
        *,
        permanent: bool,
        retry_after: float | None,
        timeout_reason: Callable[[str | None, str], str],
    ) -> Failed | None:
        policy = self.db.policy
        moment = policy.clock()
        with self.db.begin() as session:
            target: Target | None = leases.held(session, lease)
            if target is None:
                return None
            target.last_error, target.last_checked_at = error, moment
            newly_failing = target.failing_since is None
            if newly_failing:
                target.failing_since = moment
            everyone = permanent or newly_failing
            waiting = watches.waiting_for(session, target.id, None if everyone else moment)
            paused: list[SubscriptionView] = []
            if permanent:
                log.error(
                    "Watching %s (%s) failed for good: %s", target.bot_name, target.language, error
                )
                for watch in waiting:
                    watch.outcome = Outcome(reason=f"Kore.ai answered: {error}").dumps()
                paused = subscriptions.pause(session, target, error)
            else:
                log.warning("Could not poll %s (%s): %s", target.bot_name, target.language, error)
                for watch in waiting:
                    if watch.deadline <= moment:
                        reason = timeout_reason(target.last_status, error)
                        watch.outcome = Outcome(reason=reason).dumps()
            schedule(session, policy, target, moment, polled=True)
            if retry_after and target.next_poll_at is not None:
                # Kore.ai said when to ask again (Retry-After): not sooner.
                later = moment + timedelta(seconds=retry_after)
                target.next_poll_at = max(target.next_poll_at, later)
            leases.clear(target)
            failing = [watches.view(w) for w in waiting if w.outcome is None]
            return Failed(target.failing_since, failing if newly_failing else [], paused)

    def defer(self, lease: Lease, seconds: float) -> bool:
        with self.db.begin() as session:
            target: Target | None = leases.held(session, lease)
            if target is None:
                return False
            # The bot's rate budget is spent: poll again when it allows.
            target.next_poll_at = self.db.policy.clock() + timedelta(seconds=seconds)
            leases.clear(target)
            return True

    def target_state(self, key: JobKey) -> TargetState | None:
        moment = self.db.policy.clock()
        with self.db.begin() as session:
            target = session.scalars(select(Target).where(Target.key == str(key))).first()
        if target is None:
            return None
        status = last_result(target) if was_running(target) else None
        return TargetState(
            status=status,
            last_status=target.last_status,
            checked_at=target.last_checked_at,
            next_poll_at=target.next_poll_at,
            polling=target.lease_until is not None and target.lease_until >= moment,
            failing=target.failing_since is not None,
        )

    def active_count(self) -> int:
        with self.db.begin() as session:
            count = session.scalar(
                select(func.count(Target.id)).where(Target.next_poll_at.is_not(None))
            )
            return count or 0
