"""``korebot_train_requests``: trainings asked for from Slack, a confirmation claimed once.

``TrainRequests`` answers the contract's port of that name (korebot.watch.store.abc).
The claim is one conditional
UPDATE (``state = 'pending' AND expires_at > now``): the database lets one writer change
the row, so one caller wins on SQLite and PostgreSQL alike, whatever the process.
"""

from __future__ import annotations

import secrets
from datetime import timedelta

from sqlalchemy import Update, select, update
from sqlalchemy.orm import Session

from korebot.kore import Kind, State
from korebot.registry import TrainingKey
from korebot.watch.store import abc
from korebot.watch.store.database import Database
from korebot.watch.store.tables import TrainRequest
from korebot.watch.types import TrainAsk, TrainRequestView, TrainState


def _key(text: str) -> TrainingKey:
    host, bot_id, language, state, kind = text.split("|")
    return TrainingKey(host, bot_id, language, State(state), Kind(kind))


def _changed(session: Session, statement: Update) -> bool:
    """Run a conditional UPDATE of one row; whether it changed it."""
    return bool(session.execute(statement).rowcount)  # type: ignore[attr-defined]


def _view(row: TrainRequest) -> TrainRequestView:
    return TrainRequestView(
        request_id=row.id,
        token=row.token,
        team_id=row.team_id,
        channel_id=row.channel_id,
        user_id=row.user_id,
        key=_key(row.key),
        bot_name=row.bot_name,
        created_at=row.created_at,
        expires_at=row.expires_at,
        state=TrainState(row.state),
        claimed_at=row.claimed_at,
        started_by=row.started_by,
        result=row.result,
        watch_id=row.watch_id,
    )


class TrainRequests(abc.TrainRequests):
    def __init__(self, db: Database) -> None:
        self.db = db

    def record_train_request(self, ask: TrainAsk) -> TrainRequestView:
        moment = self.db.policy.clock()
        row = TrainRequest(
            token=secrets.token_urlsafe(24),
            team_id=ask.team_id,
            channel_id=ask.channel_id,
            user_id=ask.user_id,
            key=str(ask.key),
            bot_name=ask.bot_name,
            language=ask.key.language,
            kind=ask.key.kind.value,
            created_at=moment,
            expires_at=moment + timedelta(seconds=ask.valid_for),
            state=TrainState.PENDING.value,
        )
        with self.db.begin() as session:
            session.add(row)
            session.flush()
            return _view(row)

    def train_request(self, token: str) -> TrainRequestView | None:
        with self.db.begin() as session:
            row = session.scalars(select(TrainRequest).filter_by(token=token)).first()
            return None if row is None else _view(row)

    def claim_train_request(self, token: str, user_id: str) -> tuple[TrainRequestView | None, bool]:
        moment = self.db.policy.clock()
        pending = (TrainRequest.token == token, TrainRequest.state == TrainState.PENDING.value)
        with self.db.begin() as session:
            claimed = _changed(
                session,
                update(TrainRequest)
                .where(*pending, TrainRequest.expires_at > moment)
                .values(state=TrainState.STARTING.value, started_by=user_id, claimed_at=moment),
            )
            if not claimed:
                session.execute(
                    update(TrainRequest)
                    .where(*pending, TrainRequest.expires_at <= moment)
                    .values(state=TrainState.EXPIRED.value)
                )
            return self._now(session, token), claimed

    def reclaim_train_request(self, token: str, stale_after: float) -> TrainRequestView | None:
        moment = self.db.policy.clock()
        with self.db.begin() as session:
            taken = _changed(
                session,
                update(TrainRequest)
                .where(
                    TrainRequest.token == token,
                    TrainRequest.state == TrainState.STARTING.value,
                    TrainRequest.claimed_at <= moment - timedelta(seconds=stale_after),
                )
                .values(claimed_at=moment),
            )
            return self._now(session, token) if taken else None

    def cancel_train_request(self, token: str) -> tuple[TrainRequestView | None, bool]:
        with self.db.begin() as session:
            cancelled = _changed(
                session,
                update(TrainRequest)
                .where(TrainRequest.token == token, TrainRequest.state == TrainState.PENDING.value)
                .values(state=TrainState.CANCELLED.value),
            )
            return self._now(session, token), cancelled

    def finish_train_request(
        self, request_id: int, state: TrainState, result: str, watch_id: int | None = None
    ) -> bool:
        with self.db.begin() as session:
            return _changed(
                session,
                update(TrainRequest)
                .where(
                    TrainRequest.id == request_id,
                    TrainRequest.state == TrainState.STARTING.value,
                )
                .values(state=state.value, result=result, watch_id=watch_id),
            )

    @staticmethod
    def _now(session: Session, token: str) -> TrainRequestView | None:
        query = (
            select(TrainRequest).filter_by(token=token).execution_options(populate_existing=True)
        )
        row = session.scalars(query).first()
        return None if row is None else _view(row)
