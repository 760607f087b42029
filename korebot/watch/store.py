"""Where watches live: SQLAlchemy tables and the few queries the engine needs.

SQLite by default (nothing to install), PostgreSQL through ``DATABASE_URL``.
A *target* row is one (host, bot, language, state), polled once for everyone;
each channel waiting for a run's end has a *watch* row (each user who asked is an
*asker*), and each channel that hears of every run has a *subscription* row.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any, TypeVar

from sqlalchemy import (
    DateTime,
    ForeignKey,
    Index,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    create_engine,
    event,
    inspect,
    select,
    text,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Dialect, Engine
from sqlalchemy.orm import (
    DeclarativeBase,
    Mapped,
    Session,
    mapped_column,
    relationship,
    sessionmaker,
)


def database_url(url: str) -> str:
    """Accept Heroku's ``postgres://`` form and use psycopg 3 for PostgreSQL."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def make_engine(url: str) -> Engine:
    sqlite = url.startswith("sqlite")
    # A server may drop idle connections (PostgreSQL): check each before use. A file can't.
    engine = create_engine(database_url(url), pool_pre_ping=not sqlite)
    if sqlite:
        event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def _sqlite_pragmas(connection: Any, _record: Any) -> None:
    # WAL lets the web threads read while the scheduler writes; wait instead of failing.
    # With WAL, synchronous=NORMAL cannot corrupt the file and spares an fsync per commit
    # (a power cut may lose the last commits; a dyno's disk does not outlive a restart anyway).
    cursor = connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


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


class Target(Base):
    """One (host, bot, language, state): polled once for every watch and subscription on it."""

    __tablename__ = "korebot_targets"

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(300), unique=True)
    host: Mapped[str] = mapped_column(String(200))
    bot_id: Mapped[str] = mapped_column(String(64))
    bot_name: Mapped[str] = mapped_column(String(64))
    language: Mapped[str] = mapped_column(String(16))
    state: Mapped[str] = mapped_column(String(16))
    #: When the next poll is due; NULL while nothing watches or subscribes.
    next_poll_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), index=True)
    last_status: Mapped[str | None] = mapped_column(String(64))
    #: The last status Kore.ai gave, in its own JSON shape (asks reuse it between polls).
    last_result: Mapped[str | None] = mapped_column(Text)
    #: Identity of the last training run seen: Kore's _id and modifiedOn.
    last_run: Mapped[str | None] = mapped_column(String(120))
    last_checked_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    #: When the current in-progress run was first seen (polls slow down as it runs long).
    running_since: Mapped[datetime | None] = mapped_column(UtcDateTime())
    last_error: Mapped[str | None] = mapped_column(Text)
    failing_since: Mapped[datetime | None] = mapped_column(UtcDateTime())


class Watch(Base):
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
    #: "ask" (someone typed the command) or "subscription".
    via: Mapped[str] = mapped_column(String(16), default="ask")
    team_id: Mapped[str] = mapped_column(String(32))
    channel_id: Mapped[str] = mapped_column(String(32))
    #: Where the thread lives: the channel, or the asker's DM when the bot can't post there.
    thread_channel: Mapped[str | None] = mapped_column(String(32))
    thread_ts: Mapped[str | None] = mapped_column(String(32))
    #: Posting attempts so far; after a crash, a non-zero count means "look before posting".
    announce_attempts: Mapped[int] = mapped_column(default=0)
    #: A process that is posting for this watch holds it until then (crash: it expires).
    lease_until: Mapped[datetime | None] = mapped_column(UtcDateTime())
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    deadline: Mapped[datetime] = mapped_column(UtcDateTime())
    #: The final word to deliver (JSON), recorded before it is posted.
    outcome: Mapped[str | None] = mapped_column(Text)
    outcome_attempts: Mapped[int] = mapped_column(default=0)
    #: None while active; then "delivered", "stopped" or "undeliverable".
    ended: Mapped[str | None] = mapped_column(String(16))
    ended_at: Mapped[datetime | None] = mapped_column(UtcDateTime())

    # Every use of a watch needs its target: load it in the same query.
    target: Mapped[Target] = relationship(lazy="joined", innerjoin=True)
    askers: Mapped[list[Asker]] = relationship(order_by="Asker.id", cascade="all, delete-orphan")


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
    #: False until the first poll after subscribing has recorded the current state.
    armed: Mapped[bool] = mapped_column(default=False)

    target: Mapped[Target] = relationship()


class KoreCall(Base):
    """One call to Kore.ai, for the per-bot budget shared by every process."""

    __tablename__ = "korebot_kore_calls"

    id: Mapped[int] = mapped_column(primary_key=True)
    bot: Mapped[str] = mapped_column(String(300), index=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime(), index=True)


_Model = TypeVar("_Model", bound=Base)
_INSERTS: dict[str, Callable[[type[Base]], postgresql.Insert | sqlite.Insert]] = {
    "postgresql": postgresql.insert,
    "sqlite": sqlite.insert,
}


def insert_missing(session: Session, model: type[Base], key: dict[str, Any], **values: Any) -> bool:
    """Insert a row unless one with the same unique ``key`` exists; whether this inserted it.

    ``INSERT … ON CONFLICT (key) DO NOTHING``: a concurrent insert of the same key makes
    this a no-op instead of an IntegrityError (which, on PostgreSQL, would abort the whole
    transaction). PostgreSQL waits for that other transaction and, at READ COMMITTED, a
    later SELECT sees its row; SQLite runs one writer at a time.
    """
    insert = _INSERTS[session.get_bind().dialect.name](model)
    statement = insert.values(**key, **values).on_conflict_do_nothing(index_elements=list(key))
    # A row comes back only if one was inserted. (rowcount said 1 for a skipped row on
    # PostgreSQL, where SQLAlchemy adds its own RETURNING.) SQLite has RETURNING since 3.35.
    returned = session.execute(statement.returning(*inspect(model).primary_key))
    return returned.first() is not None


def get_or_insert(
    session: Session, model: type[_Model], key: dict[str, Any], **values: Any
) -> tuple[_Model, bool]:
    """The row with this unique ``key``, inserted with ``values`` if missing (safe when
    others insert it at the same moment); and whether this call inserted it."""
    query = select(model).filter_by(**key)
    row = session.scalars(query).first()
    if row is not None:  # the usual case, without a write (nor a sequence number) spent
        return row, False
    inserted = insert_missing(session, model, key, **values)
    return session.scalars(query).one(), inserted


#: Kinds of work ``Store.exclusive`` hands out, one key space each (advisory lock class IDs).
POLLING = 0x6B620001  # a target's poll, keyed by target ID
POSTING = 0x6B620002  # a watch's messages, keyed by watch ID
_ADVISORY = {
    "pg_try_advisory_lock": text("SELECT pg_try_advisory_lock(:kind, :key)"),
    "pg_advisory_unlock": text("SELECT pg_advisory_unlock(:kind, :key)"),
}


class Store:
    """Owns the engine and session factory (korebot.watch.schema migrates the tables)."""

    def __init__(self, url: str) -> None:
        self.engine = make_engine(url)
        self.session = sessionmaker(self.engine, expire_on_commit=False)
        self._held: set[tuple[int, int]] = set()
        self._held_lock = threading.Lock()
        self._lock_connection: Connection | None = None

    @contextmanager
    def exclusive(self, kind: int, key: int) -> Iterator[bool]:
        """Whether this process may do this work now; it is then its own until the block ends.

        Leases (timestamps in the rows) say when work left by a dead process is due again;
        this says whether anyone alive is still doing it. In this process, a set; across
        processes sharing PostgreSQL, a session advisory lock on one connection the process
        keeps for them, which PostgreSQL releases when the process dies. So a slow poll or
        post that outlives its lease is skipped by the others, not done alongside.
        """
        with self._held_lock:
            if (kind, key) in self._held:
                mine = False
            else:
                mine = self._advisory("pg_try_advisory_lock", kind, key)
                if mine:
                    self._held.add((kind, key))
        try:
            yield mine
        finally:
            if mine:
                with self._held_lock:
                    self._held.discard((kind, key))
                    self._advisory("pg_advisory_unlock", kind, key)

    def _advisory(self, function: str, kind: int, key: int) -> bool:
        """Call an advisory lock function (under _held_lock); True where they do not exist."""
        if self.engine.dialect.name != "postgresql":
            return True  # SQLite: one process, and the set above
        if self._lock_connection is None or self._lock_connection.invalidated:
            connection = self.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
            self._lock_connection = connection
        try:
            return bool(
                self._lock_connection.scalar(_ADVISORY[function], {"kind": kind, "key": key})
            )
        except Exception:
            # A broken connection has lost its locks with it: start again on a new one.
            self._lock_connection.invalidate()
            self._lock_connection.close()
            self._lock_connection = None
            if function == "pg_advisory_unlock":
                return False
            raise

    def healthy(self) -> bool:
        try:
            with self.engine.connect() as connection:
                connection.execute(text("SELECT 1"))
        except Exception:  # any driver error means "not healthy"; /healthz reports it
            return False
        return True

    def dispose(self) -> None:
        with self._held_lock:
            if self._lock_connection is not None:
                self._lock_connection.close()
                self._lock_connection = None
        self.engine.dispose()


def now() -> datetime:
    return datetime.now(UTC)
