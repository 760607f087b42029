"""``korebot_watches`` and ``korebot_askers``: channels waiting for a run's end, and their posts.

``Watches`` answers the contract's port of that name (korebot.watch.store.abc): asks
create and join watches, delivery leases the watches that owe a post (their states are
named on ``tables.Watch``) and closes them. The functions below are what the other
tables' transactions do to watches: a poll's (``waiting_for``, ``mark_overdue``), a
subscription's (``insert``).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import case, delete, func, select, update
from sqlalchemy.orm import Session

from korebot.errors import LimitReached, Undeliverable
from korebot.kore import JobStatus, Kind, State, Status
from korebot.registry import JobKey
from korebot.watch.store import abc, leases, runs, subscriptions, targets
from korebot.watch.store.database import Database
from korebot.watch.store.tables import Asker, StartRequest, Target, Watch, insert_missing
from korebot.watch.types import (
    DeliveryClaim,
    Ended,
    Joined,
    Lease,
    Outcome,
    RunEvent,
    Via,
    WatchRequest,
    WatchView,
)

#: Watches deleted per statement at most (a first prune may find a long history).
PRUNE_BATCH = 500


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
        subject=target.subject,
        usual_seconds=target.usual_seconds,
        usual_runs=target.usual_runs,
        run_started_at=target.running_since,
        overdue=watch.overdue_at is not None,
    )


def _active_key(target_id: int, channel_id: str) -> str:
    """One active watch per channel and target: the unique key it holds while active."""
    return f"{target_id}|{channel_id}"


def insert(
    session: Session,
    policy: abc.Policy,
    target: Target,
    team_id: str,
    channel_id: str,
    via: Via,
    moment: datetime,
    **values: Any,
) -> bool:
    """Create the channel's active watch of the target; False if it has one already
    (``INSERT … ON CONFLICT DO NOTHING`` on its active key: safe when others insert it)."""
    return insert_missing(
        session,
        Watch,
        {"active_key": _active_key(target.id, channel_id)},
        target_id=target.id,
        via=via.value,
        team_id=team_id,
        channel_id=channel_id,
        created_at=moment,
        deadline=moment + timedelta(seconds=policy.watch_timeout),
        **values,
    )


def _check_limits(session: Session, policy: abc.Policy, team_id: str, channel_id: str) -> None:
    """LimitReached if the channel or the workspace has as many active watches as allowed."""
    for column, value, limit, where in (
        (Watch.channel_id, channel_id, policy.max_watches_per_channel, "this channel"),
        (Watch.team_id, team_id, policy.max_watches_per_workspace, "this workspace"),
    ):
        active = session.scalar(select(func.count(Watch.id)).where(column == value, Watch.active))
        if (active or 0) >= limit:
            raise LimitReached(
                f"{where.capitalize()} already has {limit} active watches, the most I keep. "
                "Stop one with `/faq-status stop BOT LANG` (see `/faq-status list`; "
                "`/ml-status` for ML trainings)."
            )


def waiting_for(session: Session, target_id: int, due_by: datetime | None = None) -> list[Watch]:
    """The target's watches waiting for their outcome (only those past their deadline by
    ``due_by``)."""
    query = select(Watch).where(Watch.target_id == target_id, Watch.waiting)
    if due_by is not None:
        query = query.where(Watch.deadline <= due_by)
    return list(session.scalars(query))


def mark_overdue(
    session: Session, target: Target, result: JobStatus, moment: datetime
) -> list[Watch]:
    """Mark the watches of a run far longer than usual (``runs.overdue``), each once: the
    marked ones are left out next time, and the target's polls are serialised by its lease."""
    since, usual_seconds = target.running_since, target.usual_seconds
    if result.status is not Status.IN_PROGRESS or since is None or usual_seconds is None:
        return []
    if not runs.overdue((moment - since).total_seconds(), usual_seconds):
        return []
    marked = list(
        session.scalars(
            select(Watch).where(
                Watch.target_id == target.id, Watch.waiting, Watch.overdue_at.is_(None)
            )
        )
    )
    for watch in marked:
        watch.overdue_at = moment
    return marked


def _round_robin(watches: Iterable[Watch]) -> list[Watch]:
    """Oldest first, taking turns between trainings (the order they are posted in)."""
    turns: dict[int, int] = {}
    ranked = []
    for watch in watches:
        turns[watch.target_id] = turns.get(watch.target_id, 0) + 1
        ranked.append((turns[watch.target_id], watch.id, watch))
    return [watch for _, _, watch in sorted(ranked, key=lambda item: item[:2])]


class Watches(abc.Watches):
    def __init__(self, db: Database) -> None:
        self.db = db

    def join_watch(self, request: WatchRequest, status: JobStatus) -> Joined:
        policy = self.db.policy
        moment = policy.clock()
        with self.db.begin() as session:
            target = targets.target_for(session, request.key, request.bot.name)
            event = runs.asked(session, target, request, status, moment)
            mine = select(Watch).filter_by(active_key=_active_key(target.id, request.channel_id))
            watch = session.scalars(mine).first()
            lease = None
            if watch is None:
                _check_limits(session, policy, request.team_id, request.channel_id)
                owner = uuid.uuid4().hex
                # False if a concurrent ask created it since the select: then this one joins it.
                created = insert(
                    session,
                    policy,
                    target,
                    request.team_id,
                    request.channel_id,
                    request.via,
                    moment,
                    lease_owner=owner,
                    lease_until=moment + leases.duration(policy, "delivery"),
                    announce_attempts=1,
                )
                watch = session.scalars(mine).one()
                lease = Lease("delivery", watch.id, owner) if created else None
            insert_missing(session, Asker, {"watch_id": watch.id, "user_id": request.user_id})
            if event is not RunEvent.SAME:
                # A start from Slack is news for subscribed channels now, not at the next poll.
                subscriptions.heard(session, policy, target, event, None, moment)
            targets.schedule(session, policy, target, moment)
            session.flush()
            return Joined(view(watch), lease)

    def find_watch(self, key: JobKey, channel_id: str) -> int | None:
        with self.db.begin() as session:
            return session.scalars(
                select(Watch.id)
                .join(Target)
                .where(Target.key == str(key), Watch.channel_id == channel_id, Watch.active)
            ).first()

    def stop_watch(self, watch_id: int, channel_id: str) -> WatchView | None:
        with self.db.begin() as session:
            watch = session.get(Watch, watch_id)
            if watch is None or not watch.waiting:
                return None
            if channel_id not in (watch.channel_id, watch.thread_channel):
                return None
            watch.end(Ended.STOPPED, self.db.policy.clock())
            return view(watch)

    def watches_in(self, channel_id: str) -> list[WatchView]:
        with self.db.begin() as session:
            found = session.scalars(
                select(Watch).where(Watch.channel_id == channel_id, Watch.active).order_by(Watch.id)
            )
            return [view(watch) for watch in found]

    def acquire_deliveries(self, limit: int, target_id: int | None = None) -> list[DeliveryClaim]:
        policy = self.db.policy
        moment, lease = policy.clock(), Lease("delivery", 0, uuid.uuid4().hex)
        with self.db.begin() as session:
            # Round-robin across trainings: each one's oldest owed post, then each one's
            # second, … so a training watched by one channel does not wait behind one
            # watched by thousands.
            turn = func.row_number().over(partition_by=Watch.target_id, order_by=Watch.id)
            owed = select(Watch.id, turn.label("turn")).where(
                Watch.owes_post, leases.free(Watch, moment)
            )
            if target_id is not None:
                owed = owed.where(Watch.target_id == target_id)
            ranked = owed.subquery()
            chosen = select(ranked.c.id).order_by(ranked.c.turn, ranked.c.id).limit(limit)
            # PostgreSQL locks no rows of a window function's query: lock the chosen ones
            # outside it.
            ids = session.scalars(
                select(Watch.id).where(Watch.id.in_(chosen)).with_for_update(skip_locked=True)
            ).all()
            if not ids:
                return []
            leases.take(
                session,
                lease,
                ids,
                policy,
                moment,
                # The attempt is counted before the post: after a crash, it says "look".
                announce_attempts=Watch.announce_attempts + case((Watch.owes_message, 1), else_=0),
                outcome_attempts=Watch.outcome_attempts + case((Watch.owes_outcome, 1), else_=0),
            )
            taken = session.scalars(
                select(Watch)
                .where(Watch.id.in_(ids), Watch.lease_owner == lease.owner)
                .order_by(Watch.id)
            ).unique()
            claims = []
            for watch in _round_robin(taken):  # read in this transaction: what was owed was counted
                outcome = Outcome.loads(watch.outcome) if watch.outcome else None
                announcing = watch.owes_message
                claims.append(
                    DeliveryClaim(
                        Lease("delivery", watch.id, lease.owner),
                        view(watch),
                        outcome,
                        watch.announce_attempts - announcing,
                        watch.outcome_attempts - (outcome is not None),
                    )
                )
            return claims

    def record_thread(
        self, lease: Lease, where: tuple[str, str], *, release: bool = False
    ) -> WatchView:
        with self.db.begin() as session:
            watch = session.get_one(Watch, lease.id)
            watch.thread_channel, watch.thread_ts = where
            if release and watch.lease_owner == lease.owner:
                leases.clear(watch)
            return view(watch)

    def release_delivery(self, lease: Lease, retry_at: datetime | None) -> bool:
        with self.db.begin() as session:
            return leases.release(session, lease, lease_until=retry_at)

    def close_delivery(self, lease: Lease, how: Ended) -> bool:
        # The target was rescheduled when the outcome was recorded: only the watch changes.
        with self.db.begin() as session:
            watch: Watch | None = leases.held(session, lease)
            if watch is None or not watch.active:
                return False
            watch.end(how, self.db.policy.clock())
            return True

    def give_up(self, lease: Lease, error: Undeliverable) -> None:
        policy = self.db.policy
        moment = policy.clock()
        with self.db.begin() as session:
            watch = session.get_one(Watch, lease.id)
            team, channel = watch.team_id, watch.channel_id
            watch.end(Ended.UNDELIVERABLE, moment)
            if error.scope == "workspace":
                for other in session.scalars(
                    select(Watch).where(Watch.team_id == team, Watch.active)
                ):
                    other.end(Ended.UNDELIVERABLE, moment)
            subscriptions.refused(session, team, channel, error)
            targets.schedule(session, policy, watch.target, moment)

    def prune_watches(self, ended_before: datetime) -> int:
        pruned = 0
        while True:
            with self.db.begin() as session:
                ids = list(
                    session.scalars(
                        select(Watch.id)
                        .where(~Watch.active, Watch.ended_at < ended_before)
                        .order_by(Watch.id)
                        .limit(PRUNE_BATCH)
                    )
                )
                if not ids:
                    return pruned
                # Train requests keep their audit without the watch; runs name no watch.
                session.execute(
                    update(StartRequest)
                    .where(StartRequest.watch_id.in_(ids))
                    .values(watch_id=None)
                    .execution_options(synchronize_session=False)
                )
                session.execute(delete(Asker).where(Asker.watch_id.in_(ids)))
                session.execute(delete(Watch).where(Watch.id.in_(ids)))
                pruned += len(ids)
