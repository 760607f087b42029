"""Where watches live: SQLAlchemy tables and the few queries the engine needs.

SQLite by default (nothing to install), PostgreSQL through ``DATABASE_URL``.
A *training* row is one watched (host, bot, language, state); each channel that
asked about it has a *watch* row, and each user who asked is an *asker*.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    DateTime,
    ForeignKey,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    create_engine,
    event,
    select,
    text,
)
from sqlalchemy.engine import Dialect, Engine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship, sessionmaker


def database_url(url: str) -> str:
    """Accept Heroku's ``postgres://`` form and use psycopg 3 for PostgreSQL."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def make_engine(url: str) -> Engine:
    engine = create_engine(database_url(url), pool_pre_ping=True)
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def _sqlite_pragmas(connection: Any, _record: Any) -> None:
    # WAL lets the web threads read while the scheduler writes; wait instead of failing.
    cursor = connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
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


class Training(Base):
    """One (host, bot, language, state) being watched, polled once for all channels."""

    __tablename__ = "korebot_trainings"

    id: Mapped[int] = mapped_column(primary_key=True)
    # Set while active, NULL once ended: a unique key that allows old rows to pile up.
    active_key: Mapped[str | None] = mapped_column(String(300), unique=True)
    host: Mapped[str] = mapped_column(String(200))
    bot_id: Mapped[str] = mapped_column(String(64))
    bot_name: Mapped[str] = mapped_column(String(64))
    language: Mapped[str] = mapped_column(String(16))
    state: Mapped[str] = mapped_column(String(16))
    started_at: Mapped[datetime] = mapped_column(UtcDateTime())
    deadline: Mapped[datetime] = mapped_column(UtcDateTime())
    last_status: Mapped[str | None] = mapped_column(String(64))
    last_message: Mapped[str | None] = mapped_column(Text)
    last_checked_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    last_error: Mapped[str | None] = mapped_column(Text)
    ended_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    outcome: Mapped[str | None] = mapped_column(String(32))

    watches: Mapped[list[Watch]] = relationship(back_populates="training", order_by="Watch.id")


class Watch(Base):
    """One channel's interest in a training, with its thread."""

    __tablename__ = "korebot_watches"
    __table_args__ = (UniqueConstraint("training_id", "channel_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    training_id: Mapped[int] = mapped_column(ForeignKey("korebot_trainings.id"))
    team_id: Mapped[str] = mapped_column(String(32))
    #: The channel that asked; where the result goes unless delivered_to says otherwise.
    channel_id: Mapped[str] = mapped_column(String(32))
    #: Where the thread lives: the channel, or the asker's DM when the bot can't post there.
    thread_channel: Mapped[str | None] = mapped_column(String(32))
    thread_ts: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    #: None while active; then "delivered", "stopped" or "undeliverable".
    ended: Mapped[str | None] = mapped_column(String(16))
    ended_at: Mapped[datetime | None] = mapped_column(UtcDateTime())

    training: Mapped[Training] = relationship(back_populates="watches")
    askers: Mapped[list[Asker]] = relationship(order_by="Asker.id", cascade="all, delete-orphan")


class Asker(Base):
    __tablename__ = "korebot_askers"
    __table_args__ = (UniqueConstraint("watch_id", "user_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    watch_id: Mapped[int] = mapped_column(ForeignKey("korebot_watches.id"))
    user_id: Mapped[str] = mapped_column(String(32))


class Store:
    """Owns the engine and session factory; creates the tables on start."""

    def __init__(self, url: str) -> None:
        self.engine = make_engine(url)
        self.session = sessionmaker(self.engine, expire_on_commit=False)

    def create_tables(self) -> None:
        Base.metadata.create_all(self.engine)

    def healthy(self) -> bool:
        try:
            with self.engine.connect() as connection:
                connection.execute(text("SELECT 1"))
        except Exception:  # any driver error means "not healthy"; /healthz reports it
            return False
        return True

    def active_trainings(self) -> list[Training]:
        with self.session() as session:
            return list(session.scalars(select(Training).where(Training.active_key.is_not(None))))

    def dispose(self) -> None:
        self.engine.dispose()


def now() -> datetime:
    return datetime.now(UTC)
