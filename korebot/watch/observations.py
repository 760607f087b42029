"""The store's poll transactions: what a poll's answer (or failure) changes in the rows.

Called by ``Store.record_status`` and ``Store.record_failure`` inside the transaction
that also checks and releases the poll's lease; they touch only the rows of the target.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from korebot.kore import TrainingStatus
from korebot.watch.contract import Failed, Observed, Policy
from korebot.watch.model import Outcome, RunEvent, SubscriptionView, Via
from korebot.watch.rows import (
    live_subscriptions,
    new_watch,
    observe_status,
    schedule,
    sub_view,
    view,
    waiting_watches,
)
from korebot.watch.tables import Target, Watch

log = logging.getLogger(__name__)


def record_status(
    session: Session,
    policy: Policy,
    target: Target,
    result: TrainingStatus,
    timeout_reason: Callable[[str], str],
) -> Observed:
    moment = policy.clock()
    recovered = target.failing_since is not None
    event = observe_status(target, result, moment)
    # Most polls change no watch: load only those that end now (or all of them, to tell
    # them Kore.ai is back), not a popular training's thousands every time.
    everyone = result.status.is_final or recovered
    watches = waiting_watches(session, target.id, None if everyone else moment)
    for watch in watches:
        if result.status.is_final:
            watch.outcome = Outcome(result=result).dumps()
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
            sub.armed = True  # the first poll only records the current state
        elif event is not RunEvent.SAME and sub.channel_id not in watching:
            # Skipped if an ask created the channel's watch since `watching` was read.
            new_watch(
                session,
                policy,
                target,
                sub.team_id,
                sub.channel_id,
                Via.SUBSCRIPTION,
                moment,
                outcome=Outcome(result=result).dumps() if result.status.is_final else None,
            )
    schedule(session, policy, target, moment, polled=True)
    return Observed([view(w) for w in watches if w.outcome is None] if recovered else [])


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
