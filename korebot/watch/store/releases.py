"""``korebot_releases``: releases, from their confirmation to their outcome.

``Releases`` answers the contract's port of that name (korebot.watch.store.abc). Clicking
Release is one conditional UPDATE (``state = 'pending' AND expires_at > now``) that also
takes the bot's one running release (``active_key``, unique): one click of any number
begins it, and a second release of the same bot stays pending and is told of the first.
A running release is worked on by the holder of its lease (``leases``), one step at a
time; everything it learns is written with that lease checked.
"""

from __future__ import annotations

import secrets
import uuid
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from korebot.watch.store import abc, leases
from korebot.watch.store.database import Database
from korebot.watch.store.tables import Release
from korebot.watch.types import (
    Lease,
    ReleaseAsk,
    ReleaseBegun,
    ReleaseClaim,
    ReleaseOutcome,
    ReleaseProgress,
    ReleaseState,
    ReleaseStep,
    ReleaseView,
)

#: Begin transactions tried: another is needed only when a release of the same bot began
#: or ended during this one (PostgreSQL).
_BEGIN_TRIES = 5


def _view(row: Release) -> ReleaseView:
    return ReleaseView(
        release_id=row.id,
        token=row.token,
        team_id=row.team_id,
        channel_id=row.channel_id,
        user_id=row.user_id,
        host=row.host,
        bot_id=row.bot_id,
        bot_name=row.bot_name,
        language=row.language,
        suite=row.suite,
        min_f1=row.min_f1,
        max_drop=row.max_drop,
        state=ReleaseState(row.state),
        step=ReleaseStep(row.step),
        progress=ReleaseProgress.loads(row.progress),
        created_at=row.created_at,
        expires_at=row.expires_at,
        started_at=row.started_at,
        ended_at=row.ended_at,
        outcome=ReleaseOutcome(row.outcome) if row.outcome else None,
        stopped_by=row.stopped_by,
        message_channel=row.message_channel,
        message_ts=row.message_ts,
    )


def _active_key(host: str, bot_id: str) -> str:
    return f"{host}|{bot_id}"


def _row(session: Session, token: str) -> Release | None:
    return session.scalars(
        select(Release).filter_by(token=token).execution_options(populate_existing=True)
    ).first()


class Releases(abc.Releases):
    def __init__(self, db: Database) -> None:
        self.db = db

    def record_release(self, ask: ReleaseAsk) -> ReleaseView:
        moment = self.db.policy.clock()
        with self.db.begin() as session:
            row = Release(
                token=secrets.token_hex(24),
                team_id=ask.team_id,
                channel_id=ask.channel_id,
                user_id=ask.user_id,
                host=ask.bot.host,
                bot_id=ask.bot.bot_id,
                bot_name=ask.bot.name,
                language=ask.language,
                suite=ask.suite,
                min_f1=ask.min_f1,
                max_drop=ask.max_drop,
                state=ReleaseState.PENDING.value,
                step=ReleaseStep.TRAIN.value,
                progress=ReleaseProgress().dumps(),
                created_at=moment,
                expires_at=moment + timedelta(seconds=ask.valid_for),
            )
            session.add(row)
            session.flush()
            return _view(row)

    def release(self, token: str) -> ReleaseView | None:
        with self.db.begin() as session:
            row = _row(session, token)
            return None if row is None else _view(row)

    def running_release(self, host: str, bot_id: str) -> ReleaseView | None:
        with self.db.begin() as session:
            row = session.scalars(
                select(Release).filter_by(active_key=_active_key(host, bot_id))
            ).first()
            return None if row is None else _view(row)

    def begin_release(self, token: str) -> ReleaseBegun:
        """One conditional UPDATE takes the confirmation and the bot's one running release
        (``active_key``): where another release holds the key, the UPDATE matches nothing
        (SQLite: one writer at a time) or the unique index refuses it (PostgreSQL, when
        both began at once: tried again whole, and then it sees the other)."""
        moment = self.db.policy.clock()
        for _ in range(_BEGIN_TRIES):
            try:
                with self.db.begin() as session:
                    row = _row(session, token)
                    if row is None:
                        return ReleaseBegun(None)
                    key = _active_key(row.host, row.bot_id)
                    holder = session.scalars(select(Release).filter_by(active_key=key)).first()
                    if holder is not None and holder.id != row.id:
                        return ReleaseBegun(_view(row), running=_view(holder))
                    began = session.execute(
                        update(Release)
                        .where(
                            Release.id == row.id,
                            Release.state == ReleaseState.PENDING.value,
                            Release.expires_at > moment,
                        )
                        .values(
                            state=ReleaseState.RUNNING.value,
                            active_key=key,
                            started_at=moment,
                            next_at=moment,
                        )
                        .execution_options(synchronize_session=False)
                    ).rowcount  # type: ignore[attr-defined]
                    now = _row(session, token)
                    assert now is not None
                    return ReleaseBegun(_view(now), won=bool(began))
            except IntegrityError:
                continue  # another release of the bot began at this moment
        return ReleaseBegun(self.release(token))

    def cancel_release(self, token: str) -> tuple[ReleaseView | None, bool]:
        with self.db.begin() as session:
            cancelled = session.execute(
                update(Release)
                .where(Release.token == token, Release.state == ReleaseState.PENDING.value)
                .values(state=ReleaseState.CANCELLED.value)
                .execution_options(synchronize_session=False)
            ).rowcount  # type: ignore[attr-defined]
            row = _row(session, token)
            return (None if row is None else _view(row)), bool(cancelled)

    def stop_release(self, release_id: int, user_id: str) -> ReleaseView | None:
        moment = self.db.policy.clock()
        with self.db.begin() as session:
            stopped = session.execute(
                update(Release)
                .where(
                    Release.id == release_id,
                    Release.state == ReleaseState.RUNNING.value,
                    Release.stopped_by.is_(None),
                )
                .values(stopped_by=user_id, next_at=moment)
                .execution_options(synchronize_session=False)
            ).rowcount  # type: ignore[attr-defined]
            row = session.get(Release, release_id, populate_existing=True)
            return _view(row) if stopped and row is not None else None

    def acquire_releases(self, limit: int) -> list[ReleaseClaim]:
        policy = self.db.policy
        moment, lease = policy.clock(), Lease("release", 0, uuid.uuid4().hex)
        with self.db.begin() as session:
            ids = session.scalars(
                select(Release.id)
                .where(Release.next_at <= moment, leases.free(Release, moment))
                .order_by(Release.next_at)
                .limit(limit)
                .with_for_update(skip_locked=True)
            ).all()
            if not ids:
                return []
            leases.take(session, lease, ids, policy, moment)
            taken = session.scalars(
                select(Release)
                .where(Release.id.in_(ids), Release.lease_owner == lease.owner)
                .order_by(Release.next_at)
            )
            return [
                ReleaseClaim(Lease("release", row.id, lease.owner), _view(row)) for row in taken
            ]

    def save_release(
        self,
        lease: Lease,
        progress: ReleaseProgress,
        step: ReleaseStep,
        *,
        outcome: ReleaseOutcome | None = None,
        message: tuple[str, str] | None = None,
        due: datetime | None = None,
        release: bool = False,
    ) -> ReleaseView | None:
        moment = self.db.policy.clock()
        with self.db.begin() as session:
            row: Release | None = leases.held(session, lease)
            if row is None:
                return None
            row.progress, row.step = progress.dumps(), step.value
            if message is not None:
                row.message_channel, row.message_ts = message
            if outcome is not None and row.outcome is None:
                row.outcome, row.state = outcome.value, ReleaseState.ENDED.value
                row.active_key, row.ended_at = None, moment
            if release:
                leases.clear(row)
                # Stop release clicked during this look: the next one is due at once.
                stopping = row.stopped_by is not None and row.state == ReleaseState.RUNNING.value
                row.next_at = moment if stopping and due is not None else due
            session.flush()
            return _view(row)

    def running_releases(self, bots: list[tuple[str, str]] | None = None) -> list[ReleaseView]:
        with self.db.begin() as session:
            query = select(Release).where(Release.state == ReleaseState.RUNNING.value)
            rows = session.scalars(query.order_by(Release.started_at)).all()
            return [_view(row) for row in rows if bots is None or (row.host, row.bot_id) in bots]

    def releases(self, host: str, bot_id: str, limit: int) -> list[ReleaseView]:
        with self.db.begin() as session:
            rows = session.scalars(
                select(Release)
                .where(
                    Release.host == host,
                    Release.bot_id == bot_id,
                    Release.state.in_([ReleaseState.RUNNING.value, ReleaseState.ENDED.value]),
                )
                .order_by(Release.id.desc())
                .limit(limit)
            ).all()
            return [_view(row) for row in rows]
