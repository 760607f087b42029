"""The watch store's tables (SQLAlchemy models), a watch's named states, and get-or-create.

A *target* row is one training (``JobKey``), polled once for everyone; each
channel waiting for a run's end has a *watch* row (each user who asked is an *asker*),
and each channel that hears of every run has a *subscription* row. Targets, watches and
*commands* (a slash command between its ack and the end of its work) carry the store's
one lease (``Leased``; korebot.watch.store.leases). Only korebot.watch.store (and the
migrations) touch these.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

from sqlalchemy import (
    DateTime,
    Float,
    ForeignKey,
    Index,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    and_,
    inspect,
    or_,
    select,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.hybrid import hybrid_property
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, relationship
from sqlalchemy.sql import ColumnElement

from korebot.watch.types import Ended


class UtcDateTime(TypeDecorator[datetime]):
    """Stores aware datetimes as UTC; SQLite hands back naive ones, made aware here."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return value.astimezone(UTC) if value is not None else None

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    pass


class Leased:
    """The store's one lease, on the row it covers (korebot.watch.store.leases)."""

    #: Who holds the row's work (a token per acquisition), and until when at least; an
    #: expired or missing lease is free.
    lease_owner: Mapped[str | None] = mapped_column(String(36))
    lease_until: Mapped[datetime | None] = mapped_column(UtcDateTime())


class Target(Leased, Base):
    """One job (``JobKey``: host, bot, language, state, kind, subject): polled once for
    every watch and subscription."""

    __tablename__ = "korebot_targets"

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(300), unique=True)
    host: Mapped[str] = mapped_column(String(200))
    bot_id: Mapped[str] = mapped_column(String(64))
    bot_name: Mapped[str] = mapped_column(String(64))
    language: Mapped[str] = mapped_column(String(16))
    state: Mapped[str] = mapped_column(String(16))
    #: Which job of the bot: a ``Kind`` ("faq", "ml" or "batch").
    kind: Mapped[str] = mapped_column(String(16), default="faq", server_default="faq")
    #: What the job is about beyond the kind: a batch test's suite name ("" for trainings).
    subject: Mapped[str] = mapped_column(String(200), default="", server_default="")
    #: When the next poll is due; NULL while nothing watches or subscribes.
    next_poll_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), index=True)
    last_status: Mapped[str | None] = mapped_column(String(64))
    #: The last status Kore.ai gave, in its own JSON shape (asks reuse it between polls).
    last_result: Mapped[str | None] = mapped_column(Text)
    #: Identity of the last training run seen, as the kind's module tells it (korebot.kore.kinds).
    last_run: Mapped[str | None] = mapped_column(String(120))
    last_checked_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    #: When the current in-progress run was first seen (polls slow down as it runs long).
    running_since: Mapped[datetime | None] = mapped_column(UtcDateTime())
    last_error: Mapped[str | None] = mapped_column(Text)
    failing_since: Mapped[datetime | None] = mapped_column(UtcDateTime())
    #: Seconds a successful run usually takes (korebot.watch.store.runs.usual), None until
    #: enough runs are known; and how many runs that is from.
    usual_seconds: Mapped[float | None] = mapped_column(Float)
    usual_runs: Mapped[int] = mapped_column(default=0, server_default="0")


class Watch(Leased, Base):
    """One channel waiting for the end of a training run, with its thread."""

    __tablename__ = "korebot_watches"
    # Active watches are looked up by channel and workspace (limits, lists) and by "not
    # ended" every tick; ended ones stay as history and must not slow those down.
    __table_args__ = (
        Index("ix_korebot_watches_channel_active", "channel_id", "ended"),
        Index("ix_korebot_watches_team_active", "team_id", "ended"),
        Index("ix_korebot_watches_ended", "ended"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    target_id: Mapped[int] = mapped_column(ForeignKey("korebot_targets.id"), index=True)
    #: Set while active, NULL once ended: one active watch per channel and target.
    active_key: Mapped[str | None] = mapped_column(String(120), unique=True)
    #: How it started: a ``Via`` ("ask", "subscription" or "train").
    via: Mapped[str] = mapped_column(String(16), default="ask")
    team_id: Mapped[str] = mapped_column(String(32))
    channel_id: Mapped[str] = mapped_column(String(32))
    #: Where the thread lives: the channel, or the asker's DM when the bot can't post there.
    thread_channel: Mapped[str | None] = mapped_column(String(32))
    thread_ts: Mapped[str | None] = mapped_column(String(32))
    #: Posting attempts so far; after a crash, a non-zero count means "look before posting".
    announce_attempts: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    deadline: Mapped[datetime] = mapped_column(UtcDateTime())
    #: The final word to deliver (JSON), recorded before it is posted.
    outcome: Mapped[str | None] = mapped_column(Text)
    outcome_attempts: Mapped[int] = mapped_column(default=0)
    #: None while active; then an ``Ended`` ("delivered", "stopped" or "undeliverable").
    ended: Mapped[str | None] = mapped_column(String(16))
    ended_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    #: When a poll found its run far longer than usual (set once; its message says so).
    overdue_at: Mapped[datetime | None] = mapped_column(UtcDateTime())

    # Every use of a watch needs its target: load it in the same query.
    target: Mapped[Target] = relationship(lazy="joined", innerjoin=True)
    askers: Mapped[list[Asker]] = relationship(order_by="Asker.id", cascade="all, delete-orphan")

    # A watch's states, each named once, in Python and in SQL. It is *active* until it
    # ends (``ended``: an ``Ended``); while active it is *waiting* for its run's end, then
    # *owes its outcome* once that is recorded; it *owes its message* while it has no
    # thread and no outcome yet (the outcome is posted without one). Its delivery lease
    # covers whatever post it owes.

    @hybrid_property
    def active(self) -> bool:
        return self.ended is None

    @active.inplace.expression
    @classmethod
    def _active(cls) -> ColumnElement[bool]:
        return cls.ended.is_(None)

    @hybrid_property
    def waiting(self) -> bool:
        return self.ended is None and self.outcome is None

    @waiting.inplace.expression
    @classmethod
    def _waiting(cls) -> ColumnElement[bool]:
        return and_(cls.ended.is_(None), cls.outcome.is_(None))

    @hybrid_property
    def owes_outcome(self) -> bool:
        return self.ended is None and self.outcome is not None

    @owes_outcome.inplace.expression
    @classmethod
    def _owes_outcome(cls) -> ColumnElement[bool]:
        return and_(cls.ended.is_(None), cls.outcome.is_not(None))

    @hybrid_property
    def owes_message(self) -> bool:
        return self.ended is None and self.outcome is None and self.thread_ts is None

    @owes_message.inplace.expression
    @classmethod
    def _owes_message(cls) -> ColumnElement[bool]:
        return and_(cls.ended.is_(None), cls.outcome.is_(None), cls.thread_ts.is_(None))

    @hybrid_property
    def owes_post(self) -> bool:
        return self.owes_outcome or self.owes_message

    @owes_post.inplace.expression
    @classmethod
    def _owes_post(cls) -> ColumnElement[bool]:
        return or_(cls.owes_outcome, cls.owes_message)

    def end(self, how: Ended, moment: datetime) -> None:
        """The one transition out of *active*: ended, its lease and its channel's slot freed."""
        self.ended, self.ended_at, self.active_key = how.value, moment, None
        self.lease_owner, self.lease_until = None, None


class Asker(Base):
    __tablename__ = "korebot_askers"
    __table_args__ = (UniqueConstraint("watch_id", "user_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    watch_id: Mapped[int] = mapped_column(ForeignKey("korebot_watches.id"))
    user_id: Mapped[str] = mapped_column(String(32))


class Subscription(Base):
    """A channel that hears of every training run of a target without asking."""

    __tablename__ = "korebot_subscriptions"
    __table_args__ = (UniqueConstraint("target_id", "channel_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    target_id: Mapped[int] = mapped_column(ForeignKey("korebot_targets.id"), index=True)
    team_id: Mapped[str] = mapped_column(String(32))
    channel_id: Mapped[str] = mapped_column(String(32))
    created_by: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    #: Why it is paused (the bot fails permanently), or None while active.
    paused: Mapped[str | None] = mapped_column(Text)
    #: False until the current state is known (the first poll after subscribing, or a
    #: recent one): from then on, each run's start or end is news.
    armed: Mapped[bool] = mapped_column(default=False)

    target: Mapped[Target] = relationship()


class KoreCall(Base):
    """One call to Kore.ai, for the per-bot budget shared by every process."""

    __tablename__ = "korebot_kore_calls"

    id: Mapped[int] = mapped_column(primary_key=True)
    bot: Mapped[str] = mapped_column(String(300), index=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime(), index=True)


class Command(Leased, Base):
    """A slash command, recorded before its ack, until its work is done (then pruned)."""

    __tablename__ = "korebot_commands"
    # Recovery looks for the unfinished ones by age; pruning for the done ones.
    __table_args__ = (Index("ix_korebot_commands_unfinished", "done_at", "received_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    received_at: Mapped[datetime] = mapped_column(UtcDateTime())
    team_id: Mapped[str] = mapped_column(String(32))
    channel_id: Mapped[str] = mapped_column(String(32))
    user_id: Mapped[str] = mapped_column(String(32))
    #: Its name, e.g. "/faq-status".
    command: Mapped[str] = mapped_column(String(64))
    text: Mapped[str] = mapped_column(Text)
    response_url: Mapped[str] = mapped_column(Text)
    #: Runs so far, the first included: a command that keeps killing its runner stops.
    attempts: Mapped[int] = mapped_column(default=1)
    done_at: Mapped[datetime | None] = mapped_column(UtcDateTime())


class StartRequest(Base):
    """A training asked for from Slack: its confirmation (single-use), then its start.

    Written before the buttons are shown; a click claims it once (``state``, a
    ``StartState``), and the start's result and watch stay on it as the audit.
    """

    __tablename__ = "korebot_train_requests"
    # One request per training holds its start (korebot.watch.store.start_requests).
    __table_args__ = (Index("ix_korebot_train_requests_starting", "starting_key", unique=True),)

    id: Mapped[int] = mapped_column(primary_key=True)
    #: Random, carried in the buttons' value: a click names its request by it.
    token: Mapped[str] = mapped_column(String(64), unique=True)
    team_id: Mapped[str] = mapped_column(String(32))
    channel_id: Mapped[str] = mapped_column(String(32))
    user_id: Mapped[str] = mapped_column(String(32))
    #: ``str(JobKey)``, and the alias typed (re-resolved, rules included, on click).
    key: Mapped[str] = mapped_column(String(300))
    bot_name: Mapped[str] = mapped_column(String(64))
    language: Mapped[str] = mapped_column(String(16))
    kind: Mapped[str] = mapped_column(String(16))
    subject: Mapped[str] = mapped_column(String(200), default="", server_default="")
    #: What its POST will send (a publish's version comment), chosen when it was asked.
    note: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime())
    state: Mapped[str] = mapped_column(String(16))
    #: When a click claimed it (a request left starting long after: its process died).
    claimed_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    #: Who clicked Train now, and what Kore.ai answered (or why nothing was sent).
    started_by: Mapped[str | None] = mapped_column(String(32))
    result: Mapped[str | None] = mapped_column(Text)
    watch_id: Mapped[int | None] = mapped_column(ForeignKey("korebot_watches.id"))
    #: ``key`` while this request is the one starting its training (state starting, its
    #: claim won), NULL otherwise: unique, so one request per training may POST at a time.
    starting_key: Mapped[str | None] = mapped_column(String(300))
    #: The request that held the training's start when this one was claimed (its click
    #: joins that start instead of sending another); NULL for a request that held it.
    follows: Mapped[int | None] = mapped_column()


class Release(Leased, Base):
    """A release of a bot (korebot.watch.releasing): its confirmation, then its steps.

    Written before the confirmation is shown; Release claims it once (``state``, a
    ``ReleaseState``) and takes the bot's one release (``active_key``, unique, NULL once
    it ended). The holder of its lease runs its next step; its steps and jobs are one JSON
    document (``ReleaseProgress``), written before each POST and after each answer.
    """

    __tablename__ = "korebot_releases"
    __table_args__ = (Index("ix_korebot_releases_due", "state", "next_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    #: Random, carried in the confirmation's buttons.
    token: Mapped[str] = mapped_column(String(64), unique=True)
    team_id: Mapped[str] = mapped_column(String(32))
    channel_id: Mapped[str] = mapped_column(String(32))
    user_id: Mapped[str] = mapped_column(String(32))
    host: Mapped[str] = mapped_column(String(200))
    bot_id: Mapped[str] = mapped_column(String(64), index=True)
    bot_name: Mapped[str] = mapped_column(String(64))
    language: Mapped[str] = mapped_column(String(16))
    #: The suite that gates the publish ("": none) and the bar, as confirmed.
    suite: Mapped[str] = mapped_column(String(200), default="")
    min_f1: Mapped[float | None] = mapped_column(Float)
    max_drop: Mapped[float | None] = mapped_column(Float)
    state: Mapped[str] = mapped_column(String(16))
    #: The current step (a ``ReleaseStep``), and the outcome once it ended.
    step: Mapped[str] = mapped_column(String(16))
    outcome: Mapped[str | None] = mapped_column(String(24))
    progress: Mapped[str] = mapped_column(Text)
    #: "host|bot" while running, NULL otherwise: one running release per bot.
    active_key: Mapped[str | None] = mapped_column(String(300), unique=True)
    #: When its next step is due (while running).
    next_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    stopped_by: Mapped[str | None] = mapped_column(String(32))
    #: The checklist message: (channel, ts), once posted.
    message_channel: Mapped[str | None] = mapped_column(String(32))
    message_ts: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime())
    started_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    ended_at: Mapped[datetime | None] = mapped_column(UtcDateTime())


class Run(Base):
    """One run of a target's job, as korebot saw it (korebot.watch.store.runs)."""

    __tablename__ = "korebot_runs"
    # A target's history is read newest first, and pruned to its last runs.
    __table_args__ = (Index("ix_korebot_runs_target", "target_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    target_id: Mapped[int] = mapped_column(ForeignKey("korebot_targets.id"))
    #: The target's ID while the run is open, NULL once closed: one open run per target,
    #: inserted or nothing (two recorders cannot open it twice).
    open_key: Mapped[str | None] = mapped_column(String(32), unique=True)
    #: The kind's identity of the run (FAQ ``modifiedOn``, ML ``trainVersion``, a batch
    #: test's request ID), if known.
    run: Mapped[str | None] = mapped_column(String(120))
    #: How ``started_at`` is known: a ``RunStart`` ("started" from Slack, exact; or
    #: "first seen" by a poll); NULL with it when the run was seen only finished.
    start: Mapped[str | None] = mapped_column(String(16))
    started_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    ended_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    #: The final ``Status`` ("success" or "failure"); NULL while open.
    outcome: Mapped[str | None] = mapped_column(String(16))
    #: Seconds from start to end; NULL when the start is unknown.
    duration: Mapped[float | None] = mapped_column(Float)
    #: Who started it from Slack (a user ID), if someone did.
    started_by: Mapped[str | None] = mapped_column(String(32))
    #: Its final answer in its kind's JSON shape (a suite's scores); NULL while open.
    result: Mapped[str | None] = mapped_column(Text)


class HomeTab(Base):
    """A user's App Home tab, and when they last opened it: Slack never says when it is
    closed, so a tab opened in the last few minutes counts as open (and is refreshed)."""

    __tablename__ = "korebot_home_tabs"
    __table_args__ = (UniqueConstraint("team_id", "user_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    team_id: Mapped[str] = mapped_column(String(32))
    user_id: Mapped[str] = mapped_column(String(32))
    opened_at: Mapped[datetime] = mapped_column(UtcDateTime(), index=True)


_Model = TypeVar("_Model", bound=Base)
_INSERTS: dict[str, Callable[[type[Base]], postgresql.Insert | sqlite.Insert]] = {
    "postgresql": postgresql.insert,
    "sqlite": sqlite.insert,
}


def insert_missing(
    session: Session, model: type[Base], unique: dict[str, Any], /, **values: Any
) -> bool:
    """Insert a row unless one with the same unique ``unique`` exists; whether this inserted it.

    ``INSERT … ON CONFLICT (key) DO NOTHING``: a concurrent insert of the same key makes
    this a no-op instead of an IntegrityError (which, on PostgreSQL, would abort the whole
    transaction). PostgreSQL waits for that other transaction and, at READ COMMITTED, a
    later SELECT sees its row; SQLite runs one writer at a time.
    """
    insert = _INSERTS[session.get_bind().dialect.name](model)
    statement = insert.values(**unique, **values).on_conflict_do_nothing(
        index_elements=list(unique)
    )
    # A row comes back only if one was inserted. (rowcount said 1 for a skipped row on
    # PostgreSQL, where SQLAlchemy adds its own RETURNING.) SQLite has RETURNING since 3.35.
    returned = session.execute(statement.returning(*inspect(model).primary_key))
    return returned.first() is not None


def get_or_insert(
    session: Session, model: type[_Model], unique: dict[str, Any], /, **values: Any
) -> tuple[_Model, bool]:
    """The row with this unique ``unique``, inserted with ``values`` if missing (safe when
    others insert it at the same moment); and whether this call inserted it."""
    query = select(model).filter_by(**unique)
    row = session.scalars(query).first()
    if row is not None:  # the usual case, without a write (nor a sequence number) spent
        return row, False
    inserted = insert_missing(session, model, unique, **values)
    return session.scalars(query).one(), inserted
