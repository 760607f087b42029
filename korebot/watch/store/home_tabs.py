"""``korebot_home_tabs``: who has their App Home open, and what their tab shows.

``HomeTabs`` answers the contract's port of that name (korebot.watch.store.abc): it
keeps who has their tab open (one row per user, written with INSERT … ON CONFLICT DO
NOTHING then an UPDATE) and reads what a tab shows (one short transaction of plain
SELECTs over targets, watches, subscriptions and runs; it changes none of them).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import func, or_, select, tuple_, update
from sqlalchemy.orm import Session

from korebot.kore import JobStatus, Kind, State
from korebot.registry import JobKey
from korebot.watch.store import abc, subscriptions, watches
from korebot.watch.store.database import Database
from korebot.watch.store.tables import (
    Asker,
    HomeTab,
    Run,
    Subscription,
    Target,
    Watch,
    insert_missing,
)
from korebot.watch.types import HomeActivity, JobSnapshot


def _snapshot(key: JobKey, target: Target, last_took: float | None) -> JobSnapshot:
    result = None
    if target.last_result is not None:
        result = JobStatus.from_json(json.loads(target.last_result), Kind(target.kind))
    return JobSnapshot(
        key=key,
        bot_name=target.bot_name,
        last_status=target.last_status,
        last_result=result,
        checked_at=target.last_checked_at,
        running_since=target.running_since,
        failing_since=target.failing_since,
        last_error=target.last_error,
        polled=target.next_poll_at is not None,
        usual_seconds=target.usual_seconds,
        last_took=last_took,
    )


def _last_took(session: Session, target_ids: list[int]) -> dict[int, float | None]:
    """Each target's last finished run's length (None when its start is unknown)."""
    last = (
        select(func.max(Run.id))
        .where(Run.target_id.in_(target_ids), Run.outcome.is_not(None))
        .group_by(Run.target_id)
    )
    rows = session.execute(select(Run.target_id, Run.duration).where(Run.id.in_(last)))
    return {target_id: took for target_id, took in rows}


class HomeTabs(abc.HomeTabs):
    def __init__(self, db: Database) -> None:
        self.db = db

    def home_activity(self, user_id: str, bots: Iterable[tuple[str, str]]) -> HomeActivity:
        with self.db.begin() as session:
            targets = list(
                session.scalars(
                    select(Target)
                    .where(tuple_(Target.host, Target.bot_id).in_(list(bots)))
                    .order_by(Target.id)
                )
            )
            trainings = {}
            took = _last_took(session, [target.id for target in targets])
            for target in targets:
                key = JobKey(
                    target.host, target.bot_id, target.language, State(target.state),
                    Kind(target.kind),
                )  # fmt: skip
                trainings[key] = _snapshot(key, target, took.get(target.id))
            asked = list(
                session.scalars(
                    select(Watch)
                    .where(Watch.active, Watch.askers.any(Asker.user_id == user_id))
                    .order_by(Watch.id)
                )
            )
            channels = {watch.channel_id for watch in asked}
            subscribed = session.scalars(
                select(Subscription)
                .where(
                    or_(
                        Subscription.created_by == user_id,
                        Subscription.channel_id.in_(list(channels)),
                    )
                )
                .order_by(Subscription.id)
            )
            return HomeActivity(
                trainings,
                [watches.view(watch) for watch in asked],
                [subscriptions.view(sub) for sub in subscribed],
            )

    def record_home_opened(self, team_id: str, user_id: str) -> None:
        moment = self.db.policy.clock()
        key = {"team_id": team_id, "user_id": user_id}
        with self.db.begin() as session:
            if not insert_missing(session, HomeTab, key, opened_at=moment):
                session.execute(update(HomeTab).filter_by(**key).values(opened_at=moment))

    def open_homes(self, opened_since: datetime) -> list[tuple[str, str]]:
        with self.db.begin() as session:
            rows = session.execute(
                select(HomeTab.team_id, HomeTab.user_id)
                .where(HomeTab.opened_at >= opened_since)
                .order_by(HomeTab.opened_at)
            )
            return [(team, user) for team, user in rows]
