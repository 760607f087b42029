"""The watch store on SQLAlchemy: ``WatchStore`` (korebot.watch.contract) in SQL.

SQLite by default (nothing to install), PostgreSQL through ``DATABASE_URL``, and
SQLite in memory (``sqlite://``) for unit tests. Every query of the watch engine is
here or in the parts mixed into ``Store``, one module each: korebot.watch.observations
(the poll transactions), subscription_log, command_log (the slash commands'),
train_requests, run_log (the run history) and homes (the App Home's);
korebot.watch.schema migrates the tables (korebot.watch.tables). Leases are two columns
on the row, written by conditional UPDATEs; on PostgreSQL, due work is read ``FOR UPDATE
SKIP LOCKED``, so processes sharing the database never wait for each other's claims. The driver's
connection errors become ``DatabaseUnavailable``.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select, text, tuple_, update
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from korebot.errors import DatabaseUnavailable, Undeliverable
from korebot.kore import Kind, State, TrainingStatus
from korebot.registry import TrainingKey
from korebot.watch import deliveries, observations, run_rows
from korebot.watch.command_log import CommandLog
from korebot.watch.contract import (
    DeliveryClaim,
    Failed,
    Joined,
    Lease,
    Observed,
    PollClaim,
    TargetState,
    now,
)
from korebot.watch.database import database_url, make_engine
from korebot.watch.homes import HomeLog
from korebot.watch.model import (
    Ended,
    WatchRequest,
    WatchView,
)
from korebot.watch.rows import (
    active_key,
    check_limits,
    end,
    new_watch,
    schedule,
    view,
    was_running,
)
from korebot.watch.rows import target_for as _target_for
from korebot.watch.run_log import RunLog
from korebot.watch.subscription_log import SubscriptionLog
from korebot.watch.tables import (
    Asker,
    Base,
    Command,
    KoreCall,
    Subscription,
    Target,
    Watch,
    insert_missing,
)
from korebot.watch.train_requests import TrainRequestLog

__all__ = [
    "Asker",
    "Base",
    "KoreCall",
    "Store",
    "Subscription",
    "Target",
    "Watch",
    "database_url",
    "make_engine",
    "now",
]


_LEASED: dict[str, type[Target] | type[Watch] | type[Command]] = {
    "poll": Target,
    "delivery": Watch,
    "command": Command,
}


class Store(CommandLog, TrainRequestLog, RunLog, HomeLog, SubscriptionLog):
    """Owns the SQLAlchemy engine and session factory, and answers the store contract."""

    def __init__(self, url: str) -> None:
        super().__init__()
        self.engine = make_engine(url)
        self.session = sessionmaker(self.engine, expire_on_commit=False)

    @contextmanager
    def _begin(self, *, urgent: bool = False) -> Iterator[Session]:
        """A transaction (unless ``urgent``, after ``_records_first``); the driver's
        connection errors are DatabaseUnavailable."""
        if not urgent:
            self._records_first()
        try:
            with self.session.begin() as session:
                yield session
        except (OperationalError, InterfaceError) as error:
            raise DatabaseUnavailable(error.orig or error) from error

    def _seconds(self, kind: str) -> timedelta:
        policy = self.policy
        return timedelta(seconds=policy.poll_lease if kind == "poll" else policy.delivery_lease)

    def _held(self, session: Session, lease: Lease) -> Any:
        """The leased row, locked, if the lease is still this holder's; else None."""
        model = _LEASED[lease.kind]
        return session.scalars(
            select(model)
            .where(model.id == lease.id, model.lease_owner == lease.owner)
            # FOR NO KEY UPDATE: rows that refer to it (a new watch) may still be inserted.
            .with_for_update(key_share=True)
        ).first()

    # Commands --------------------------------------------------------------------

    def join_watch(self, request: WatchRequest, status: TrainingStatus) -> Joined:
        moment = self.policy.clock()
        with self._begin() as session:
            target = _target_for(session, request.key, request.bot.name)
            run_rows.asked(session, target, request, status, moment)
            active = select(Watch).filter_by(active_key=active_key(target.id, request.channel_id))
            watch = session.scalars(active).first()
            lease = None
            if watch is None:
                check_limits(session, self.policy, request.team_id, request.channel_id)
                owner = uuid.uuid4().hex
                # False if a concurrent ask created it since the select: then this one joins it.
                created = new_watch(
                    session,
                    self.policy,
                    target,
                    request.team_id,
                    request.channel_id,
                    request.via,
                    moment,
                    lease_owner=owner,
                    lease_until=moment + self._seconds("delivery"),
                    announce_attempts=1,
                )
                watch = session.scalars(active).one()
                lease = Lease("delivery", watch.id, owner) if created else None
            insert_missing(session, Asker, {"watch_id": watch.id, "user_id": request.user_id})
            schedule(session, self.policy, target, moment)
            session.flush()
            return Joined(view(watch), lease)

    def find_watch(self, key: TrainingKey, channel_id: str) -> int | None:
        with self._begin() as session:
            return session.scalars(
                select(Watch.id)
                .join(Target)
                .where(
                    Target.key == str(key), Watch.channel_id == channel_id, Watch.ended.is_(None)
                )
            ).first()

    def stop_watch(self, watch_id: int, channel_id: str) -> WatchView | None:
        with self._begin() as session:
            watch = session.get(Watch, watch_id)
            if watch is None or watch.ended is not None or watch.outcome is not None:
                return None
            if channel_id not in (watch.channel_id, watch.thread_channel):
                return None
            end(watch, Ended.STOPPED, self.policy.clock())
            return view(watch)

    def watches_in(self, channel_id: str) -> list[WatchView]:
        with self._begin() as session:
            watches = session.scalars(
                select(Watch)
                .where(Watch.channel_id == channel_id, Watch.ended.is_(None))
                .order_by(Watch.id)
            )
            return [view(watch) for watch in watches]

    def target_state(self, key: TrainingKey) -> TargetState | None:
        moment = self.policy.clock()
        with self._begin() as session:
            target = session.scalars(select(Target).where(Target.key == str(key))).first()
        if target is None:
            return None
        status, kind = None, Kind(target.kind)
        if target.last_result is not None and was_running(target):
            status = TrainingStatus.from_json(json.loads(target.last_result), kind)
        return TargetState(
            status=status,
            last_status=target.last_status,
            checked_at=target.last_checked_at,
            next_poll_at=target.next_poll_at,
            polling=target.lease_until is not None and target.lease_until >= moment,
            failing=target.failing_since is not None,
        )

    def active_count(self) -> int:
        with self._begin() as session:
            count = session.scalar(
                select(func.count(Target.id)).where(Target.next_poll_at.is_not(None))
            )
            return count or 0

    # Polling ---------------------------------------------------------------------

    def acquire_polls(self, limit: int, target_id: int | None = None) -> list[PollClaim]:
        moment, owner = self.policy.clock(), uuid.uuid4().hex
        which = Target.next_poll_at <= moment if target_id is None else Target.id == target_id
        with self._begin() as session:
            due = session.scalars(
                select(Target)
                .where(which, deliveries.free(Target, moment))
                .order_by(Target.next_poll_at)
                .limit(limit)
                .with_for_update(skip_locked=True)
            ).all()
            for target in due:
                target.lease_owner, target.lease_until = owner, moment + self._seconds("poll")
            return [
                PollClaim(
                    Lease("poll", t.id, owner), t.bot_name, t.language, State(t.state), Kind(t.kind)
                )
                for t in due
            ]

    def record_status(
        self, lease: Lease, status: TrainingStatus, timeout_reason: Callable[[str], str]
    ) -> Observed | None:
        with self._begin() as session:
            target = self._held(session, lease)
            if target is None:
                return None
            observed = observations.record_status(
                session, self.policy, target, status, timeout_reason
            )
            target.lease_owner, target.lease_until = None, None
            return observed

    def record_failure(
        self,
        lease: Lease,
        error: str,
        *,
        permanent: bool,
        retry_after: float | None,
        timeout_reason: Callable[[str | None, str], str],
    ) -> Failed | None:
        with self._begin() as session:
            target = self._held(session, lease)
            if target is None:
                return None
            failed = observations.record_failure(
                session,
                self.policy,
                target,
                error,
                permanent=permanent,
                retry_after=retry_after,
                timeout_reason=timeout_reason,
            )
            target.lease_owner, target.lease_until = None, None
            return failed

    def defer(self, lease: Lease, seconds: float) -> bool:
        with self._begin() as session:
            target = self._held(session, lease)
            if target is None:
                return False
            observations.defer(self.policy, target, seconds)
            target.lease_owner, target.lease_until = None, None
            return True

    # Delivery --------------------------------------------------------------------

    def acquire_deliveries(self, limit: int, target_id: int | None = None) -> list[DeliveryClaim]:
        with self._begin() as session:
            return deliveries.acquire(session, self.policy, limit, target_id)

    def record_thread(
        self, lease: Lease, where: tuple[str, str], *, release: bool = False
    ) -> WatchView:
        with self._begin() as session:
            watch = session.get_one(Watch, lease.id)
            watch.thread_channel, watch.thread_ts = where
            if release and watch.lease_owner == lease.owner:
                watch.lease_owner, watch.lease_until = None, None
            return view(watch)

    def release_delivery(self, lease: Lease, retry_at: datetime | None) -> bool:
        with self._begin() as session:
            released = session.execute(
                update(Watch)
                .where(Watch.id == lease.id, Watch.lease_owner == lease.owner)
                .values(lease_owner=None, lease_until=retry_at)
            ).rowcount  # type: ignore[attr-defined]
            return bool(released)

    def close_delivery(self, lease: Lease, how: Ended) -> bool:
        # The target was rescheduled when the outcome was recorded: only the watch changes.
        with self._begin() as session:
            closed = session.execute(
                update(Watch)
                .where(
                    Watch.id == lease.id, Watch.lease_owner == lease.owner, Watch.ended.is_(None)
                )
                .values(
                    ended=how.value,
                    ended_at=self.policy.clock(),
                    active_key=None,
                    lease_owner=None,
                    lease_until=None,
                )
            ).rowcount  # type: ignore[attr-defined]
            return bool(closed)

    def give_up(self, lease: Lease, error: Undeliverable) -> None:
        with self._begin() as session:
            deliveries.give_up(session, self.policy, lease, error)

    # Leases ----------------------------------------------------------------------

    def renew(self, leases: Iterable[Lease]) -> set[Lease]:
        moment, held = self.policy.clock(), set(leases)
        renewed: set[tuple[str, int, str | None]] = set()
        with self._begin() as session:
            # One UPDATE per kind: a burst of commands holds hundreds of leases at once.
            for kind in {lease.kind for lease in held}:
                model = _LEASED[kind]
                owned = [(lease.id, lease.owner) for lease in held if lease.kind == kind]
                rows = session.execute(
                    update(model)
                    .where(tuple_(model.id, model.lease_owner).in_(owned))
                    .values(lease_until=moment + self._seconds(kind))
                    .returning(model.id, model.lease_owner)
                    .execution_options(synchronize_session=False)
                )
                renewed.update((kind, id_, owner) for id_, owner in rows)
        return {lease for lease in held if (lease.kind, lease.id, lease.owner) not in renewed}

    # The process -----------------------------------------------------------------

    def healthy(self) -> bool:
        try:
            with self.engine.connect() as connection:
                connection.execute(text("SELECT 1"))
        except Exception:  # any driver error means "not healthy"; /healthz reports it
            return False
        return True

    def dispose(self) -> None:
        self.engine.dispose()
