"""The store's poll transactions: what a poll's answer (or failure) changes in the rows.

Called by ``Store.record_status`` and ``Store.record_failure`` inside the transaction
that also checks and releases the poll's lease; they touch only the rows of the target.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from korebot.kore import TrainingStatus
from korebot.watch.contract import Failed, Observed, Policy
from korebot.watch.model import Outcome, RunEvent, SubscriptionView, Via
from korebot.watch.rows import (
    live_subscriptions,
    new_watch,
    schedule,
    sub_view,
    view,
    waiting_watches,
    was_running,
)
from korebot.watch.run_rows import mark_overdue, observe
from korebot.watch.tables import Subscription, Target, Watch

log = logging.getLogger(__name__)


def record_status(
    session: Session,
    policy: Policy,
    target: Target,
    result: TrainingStatus,
    timeout_reason: Callable[[str], str],
) -> Observed:
    moment = policy.clock()
    recovered, usual = target.failing_since is not None, target.usual_seconds
    event, took = observe(session, target, result, moment)
    # The final word says how long the run took against the usual before it.
    final = Outcome(result=result, took=took, usual=usual).dumps()
    # Most polls change no watch: load only those that end now (or all of them, to tell
    # them Kore.ai is back), not a popular training's thousands every time.
    everyone = result.status.is_final or recovered
    watches = waiting_watches(session, target.id, None if everyone else moment)
    for watch in watches:
        if result.status.is_final:
            watch.outcome = final
        elif watch.deadline <= moment:
            watch.outcome = Outcome(reason=timeout_reason(result.raw_status)).dumps()
    subscriptions = live_subscriptions(session, target.id)
    # Channels with any unfinished watch, including one whose result is still being
    # posted: a second active watch there would break the one-per-channel rule.
    watching: set[str] = set()
    if event is not RunEvent.SAME and subscriptions:
        watching = set(
            session.scalars(
                select(Watch.channel_id).where(Watch.target_id == target.id, Watch.ended.is_(None))
            )
        )
    for sub in subscriptions:
        if not sub.armed:
            arm(session, policy, target, sub, moment)
        elif event is not RunEvent.SAME and sub.channel_id not in watching:
            outcome = final if result.status.is_final else None
            follow(session, policy, target, sub, moment, outcome)
    schedule(session, policy, target, moment, polled=True)
    overdue = [view(w) for w in mark_overdue(session, target, result, moment)]
    recovered_views = [view(w) for w in watches if w.outcome is None] if recovered else []
    return Observed(recovered_views, overdue, event)


def arm(
    session: Session, policy: Policy, target: Target, sub: Subscription, moment: datetime
) -> None:
    """Start a subscription from the target's current state.

    A run that ended before is not news; one in progress gets the channel's watch, so that
    its end is reported as that of a run the subscription saw start.
    """
    sub.armed = True
    if was_running(target):
        follow(session, policy, target, sub, moment)


def running_now(policy: Policy, target: Target, moment: datetime) -> bool:
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


def follow(
    session: Session,
    policy: Policy,
    target: Target,
    sub: Subscription,
    moment: datetime,
    outcome: str | None = None,
) -> None:
    """The subscribed channel's watch of the target's run, unless the channel has one."""
    new_watch(
        session,
        policy,
        target,
        sub.team_id,
        sub.channel_id,
        Via.SUBSCRIPTION,
        moment,
        outcome=outcome,
    )


def record_failure(
    session: Session,
    policy: Policy,
    target: Target,
    error: str,
    *,
    permanent: bool,
    retry_after: float | None,
    timeout_reason: Callable[[str | None, str], str],
) -> Failed:
    moment = policy.clock()
    target.last_error, target.last_checked_at = error, moment
    newly_failing = target.failing_since is None
    if newly_failing:
        target.failing_since = moment
    everyone = permanent or newly_failing
    watches = waiting_watches(session, target.id, None if everyone else moment)
    paused: list[SubscriptionView] = []
    if permanent:
        log.error("Watching %s (%s) failed for good: %s", target.bot_name, target.language, error)
        for watch in watches:
            watch.outcome = Outcome(reason=f"Kore.ai answered: {error}").dumps()
        for sub in live_subscriptions(session, target.id):
            sub.paused = error
            paused.append(sub_view(sub))
    else:
        log.warning("Could not poll %s (%s): %s", target.bot_name, target.language, error)
        for watch in watches:
            if watch.deadline <= moment:
                watch.outcome = Outcome(reason=timeout_reason(target.last_status, error)).dumps()
    schedule(session, policy, target, moment, polled=True)
    if retry_after and target.next_poll_at is not None:
        # Kore.ai said when to ask again (Retry-After): not sooner.
        later = moment + timedelta(seconds=retry_after)
        target.next_poll_at = max(target.next_poll_at, later)
    failing = [view(w) for w in watches if w.outcome is None] if newly_failing else []
    return Failed(target.failing_since, failing, paused)


def defer(policy: Policy, target: Target, seconds: float) -> None:
    """The bot's rate budget is spent: poll again when it allows."""
    target.next_poll_at = policy.clock() + timedelta(seconds=seconds)
