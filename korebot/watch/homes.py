"""The store's App Home transactions (korebot.watch.home_contract), in SQL.

``HomeLog`` is the part of ``korebot.watch.store.Store`` that reads a user's tab (one
short transaction of plain SELECTs) and keeps who has it open (``korebot_home_tabs``,
one row per user, written with INSERT … ON CONFLICT DO NOTHING then an UPDATE).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import func, or_, select, tuple_, update
from sqlalchemy.orm import Session

from korebot.kore import Kind, State, TrainingStatus
from korebot.registry import TrainingKey
from korebot.watch.model import HomeActivity, TrainingSnapshot
from korebot.watch.rows import sub_view, view
from korebot.watch.store_part import StorePart
from korebot.watch.tables import Asker, HomeTab, Run, Subscription, Target, Watch, insert_missing


def _snapshot(key: TrainingKey, target: Target, last_took: float | None) -> TrainingSnapshot:
    result = None
    if target.last_result is not None:
        result = TrainingStatus.from_json(json.loads(target.last_result), Kind(target.kind))
    return TrainingSnapshot(
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


class HomeLog(StorePart):
    def home_activity(self, user_id: str, bots: Iterable[tuple[str, str]]) -> HomeActivity:
        with self._begin() as session:
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
                key = TrainingKey(
                    target.host, target.bot_id, target.language, State(target.state),
                    Kind(target.kind),
                )  # fmt: skip
                trainings[key] = _snapshot(key, target, took.get(target.id))
            watches = list(
                session.scalars(
                    select(Watch)
                    .where(
                        Watch.ended.is_(None),
                        Watch.askers.any(Asker.user_id == user_id),
                    )
                    .order_by(Watch.id)
                )
            )
            channels = {watch.channel_id for watch in watches}
            subscriptions = session.scalars(
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
                [view(watch) for watch in watches],
                [sub_view(sub) for sub in subscriptions],
            )

    def record_home_opened(self, team_id: str, user_id: str) -> None:
        moment = self.policy.clock()
        key = {"team_id": team_id, "user_id": user_id}
        with self._begin() as session:
            if not insert_missing(session, HomeTab, key, opened_at=moment):
                session.execute(update(HomeTab).filter_by(**key).values(opened_at=moment))

    def open_homes(self, opened_since: datetime) -> list[tuple[str, str]]:
        with self._begin() as session:
            rows = session.execute(
                select(HomeTab.team_id, HomeTab.user_id)
                .where(HomeTab.opened_at >= opened_since)
                .order_by(HomeTab.opened_at)
            )
            return [(team, user) for team, user in rows]
