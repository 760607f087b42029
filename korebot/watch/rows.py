"""Helpers the store's transactions share: rows to views, get-or-creates, scheduling.

Each takes the caller's session and the store's ``Policy``; only korebot.watch.store
and korebot.watch.observations (the store's poll transactions) use them.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from korebot.errors import LimitReached
from korebot.kore import Kind, State, Status, TrainingStatus, kinds
from korebot.registry import TrainingKey
from korebot.watch.contract import Policy
from korebot.watch.model import Ended, RunEvent, SubscriptionView, Via, WatchView
from korebot.watch.tables import Subscription, Target, Watch, get_or_insert, insert_missing

# Get-or-creates are INSERT … ON CONFLICT DO NOTHING (tables.insert_missing): concurrent
# commands and polls creating the same row neither fail nor create it twice.


def target_for(session: Session, key: TrainingKey, bot_name: str) -> Target:
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
    )
    return target


def active_key(target_id: int, channel_id: str) -> str:
    return f"{target_id}|{channel_id}"


def new_watch(
    session: Session,
    policy: Policy,
    target: Target,
    team_id: str,
    channel_id: str,
    via: Via,
    moment: datetime,
    **values: Any,
) -> bool:
    """Create the channel's active watch of the target; False if it has one already."""
    return insert_missing(
        session,
        Watch,
        {"active_key": active_key(target.id, channel_id)},
        target_id=target.id,
        via=via.value,
        team_id=team_id,
        channel_id=channel_id,
        created_at=moment,
        deadline=moment + timedelta(seconds=policy.watch_timeout),
        **values,
    )


def check_limits(session: Session, policy: Policy, team_id: str, channel_id: str) -> None:
    """LimitReached if the channel or the workspace has as many active watches as allowed."""
    for column, value, limit, where in (
        (Watch.channel_id, channel_id, policy.max_watches_per_channel, "this channel"),
        (Watch.team_id, team_id, policy.max_watches_per_workspace, "this workspace"),
    ):
        active = session.scalar(
            select(func.count(Watch.id)).where(column == value, Watch.ended.is_(None))
        )
        if (active or 0) >= limit:
            raise LimitReached(
                f"{where.capitalize()} already has {limit} active watches, the most I keep. "
                "Stop one with `/faq-status stop BOT LANG` (see `/faq-status list`; "
                "`/ml-status` for ML trainings)."
            )


def end(watch: Watch, how: Ended, moment: datetime) -> None:
    watch.ended, watch.ended_at, watch.active_key = how.value, moment, None
    watch.lease_owner, watch.lease_until = None, None


def waiting_watches(
    session: Session, target_id: int, due_by: datetime | None = None
) -> list[Watch]:
    """Watches still waiting for their outcome (only those past their deadline by ``due_by``)."""
    query = select(Watch).where(
        Watch.target_id == target_id, Watch.ended.is_(None), Watch.outcome.is_(None)
    )
    if due_by is not None:
        query = query.where(Watch.deadline <= due_by)
    return list(session.scalars(query))


def live_subscriptions(session: Session, target_id: int) -> list[Subscription]:
    return list(
        session.scalars(
            select(Subscription).where(
                Subscription.target_id == target_id, Subscription.paused.is_(None)
            )
        )
    )


def schedule(
    session: Session, policy: Policy, target: Target, moment: datetime, *, polled: bool = False
) -> None:
    """Set when the target is next due, or None when nothing needs it any more.

    Right after a poll, one interval from now. Otherwise only ever sooner, so that a new
    watch cannot postpone a due poll.
    """
    session.flush()
    watched = _exists(
        session,
        select(Watch.id).where(
            Watch.target_id == target.id, Watch.ended.is_(None), Watch.outcome.is_(None)
        ),
    )
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


def was_running(target: Target) -> bool:
    """Whether the target's last recorded status (raw, in its kind's words) is in progress."""
    last = target.last_status
    return last is not None and kinds.spec(Kind(target.kind)).status_of(last) is Status.IN_PROGRESS


def observe_status(target: Target, result: TrainingStatus, moment: datetime) -> RunEvent:
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


def view(watch: Watch) -> WatchView:
    target = watch.target
    return WatchView(
        watch_id=watch.id,
        via=Via(watch.via),
        bot_name=target.bot_name,
        bot_id=target.bot_id,
        language=target.language,
        state=State(target.state),
        team_id=watch.team_id,
        channel_id=watch.channel_id,
        thread_channel=watch.thread_channel,
        thread_ts=watch.thread_ts,
        askers=tuple(asker.user_id for asker in watch.askers),
        started_at=watch.created_at,
        last_status=target.last_status,
        failing_since=target.failing_since,
        kind=Kind(target.kind),
    )


def sub_view(sub: Subscription) -> SubscriptionView:
    target = sub.target
    return SubscriptionView(
        subscription_id=sub.id,
        bot_name=target.bot_name,
        bot_id=target.bot_id,
        language=target.language,
        state=State(target.state),
        team_id=sub.team_id,
        channel_id=sub.channel_id,
        paused=sub.paused,
        last_status=target.last_status,
        kind=Kind(target.kind),
    )
