"""The store's delivery transactions: leasing the watches that owe a post, giving up on one.

Called by ``Store.acquire_deliveries`` and ``Store.give_up`` inside their transaction;
they touch only watches (and, giving up, the subscriptions Slack refuses).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, case, func, or_, select, update
from sqlalchemy.orm import Session

from korebot.errors import Undeliverable
from korebot.watch.contract import DeliveryClaim, Lease, Policy
from korebot.watch.model import Ended, Outcome
from korebot.watch.rows import end, schedule, view
from korebot.watch.tables import Command, Subscription, Target, Watch


def free(model: type[Target] | type[Watch] | type[Command], moment: datetime) -> Any:
    """No lease on the row, or an expired one."""
    return or_(model.lease_until.is_(None), model.lease_until < moment)


def acquire(
    session: Session, policy: Policy, limit: int, target_id: int | None
) -> list[DeliveryClaim]:
    moment, owner = policy.clock(), uuid.uuid4().hex
    owes_outcome = Watch.outcome.is_not(None)
    owes_announcement = and_(Watch.outcome.is_(None), Watch.thread_ts.is_(None))
    # Round-robin across trainings: each one's oldest owed post, then each one's second, …
    # so a training watched by one channel does not wait behind one watched by thousands.
    turn = func.row_number().over(partition_by=Watch.target_id, order_by=Watch.id)
    owed = select(Watch.id, turn.label("turn")).where(
        Watch.ended.is_(None), or_(owes_outcome, owes_announcement), free(Watch, moment)
    )
    if target_id is not None:
        owed = owed.where(Watch.target_id == target_id)
    ranked = owed.subquery()
    chosen = select(ranked.c.id).order_by(ranked.c.turn, ranked.c.id).limit(limit)
    # PostgreSQL locks no rows of a window function's query: lock the chosen ones outside it.
    ids = session.scalars(
        select(Watch.id).where(Watch.id.in_(chosen)).with_for_update(skip_locked=True)
    ).all()
    if not ids:
        return []
    session.execute(
        update(Watch)
        .where(Watch.id.in_(ids), free(Watch, moment))
        .values(
            lease_owner=owner,
            lease_until=moment + timedelta(seconds=policy.delivery_lease),
            # The attempt is counted before the post: after a crash, it says "look".
            announce_attempts=Watch.announce_attempts + case((owes_announcement, 1), else_=0),
            outcome_attempts=Watch.outcome_attempts + case((owes_outcome, 1), else_=0),
        )
        .execution_options(synchronize_session=False)
    )
    taken = session.scalars(
        select(Watch).where(Watch.id.in_(ids), Watch.lease_owner == owner).order_by(Watch.id)
    ).unique()
    claims = []
    for watch in _round_robin(taken):  # read in this transaction: what was owed was counted
        outcome = Outcome.loads(watch.outcome) if watch.outcome else None
        announcing = outcome is None and watch.thread_ts is None
        claims.append(
            DeliveryClaim(
                Lease("delivery", watch.id, owner),
                view(watch),
                outcome,
                watch.announce_attempts - announcing,
                watch.outcome_attempts - (outcome is not None),
            )
        )
    return claims


def _round_robin(watches: Iterable[Watch]) -> list[Watch]:
    """Oldest first, taking turns between trainings (the order they are posted in)."""
    turns: dict[int, int] = {}
    ranked = []
    for watch in watches:
        turns[watch.target_id] = turns.get(watch.target_id, 0) + 1
        ranked.append((turns[watch.target_id], watch.id, watch))
    return [watch for _, _, watch in sorted(ranked, key=lambda item: item[:2])]


def give_up(session: Session, policy: Policy, lease: Lease, error: Undeliverable) -> None:
    moment = policy.clock()
    watch = session.get_one(Watch, lease.id)
    team, channel = watch.team_id, watch.channel_id
    end(watch, Ended.UNDELIVERABLE, moment)
    if error.scope == "workspace":
        for other in session.scalars(
            select(Watch).where(Watch.team_id == team, Watch.ended.is_(None))
        ):
            end(other, Ended.UNDELIVERABLE, moment)
        for sub in session.scalars(select(Subscription).where(Subscription.team_id == team)):
            sub.paused = f"Slack refused the app's token ({error.code})"
    elif error.scope == "channel":
        for sub in session.scalars(select(Subscription).where(Subscription.channel_id == channel)):
            session.delete(sub)
    schedule(session, policy, watch.target, moment)
