"""The watch store's database: connecting to a DATABASE_URL, and the transactions on it.

SQLite by default (nothing to install), PostgreSQL through ``DATABASE_URL``, and SQLite
in memory (``sqlite://``) for unit tests. Every table's module runs its transactions
through ``Database.begin``, which turns the driver's connection errors into
``DatabaseUnavailable`` and lets the slash commands being recorded go first.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import StaticPool

from korebot.errors import DatabaseUnavailable
from korebot.watch.store.abc import Policy

#: Seconds at most a transaction waits for the commands being recorded to be committed.
RECORDS_FIRST = 0.5


def database_url(url: str) -> str:
    """Accept Heroku's ``postgres://`` form and use psycopg 3 for PostgreSQL."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def make_engine(url: str) -> Engine:
    sqlite = url.startswith("sqlite")
    options: dict[str, Any] = {}
    if url in ("sqlite://", "sqlite:///:memory:"):
        # One database in memory, on one connection: for unit tests, one thread at a time.
        options = {"poolclass": StaticPool, "connect_args": {"check_same_thread": False}}
    # A server may drop idle connections (PostgreSQL): check each before use. A file can't.
    engine = create_engine(database_url(url), pool_pre_ping=not sqlite, **options)
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


class Database:
    """The SQLAlchemy engine and sessions, the engine's ``Policy``, and the transactions."""

    def __init__(self, url: str) -> None:
        self.engine = make_engine(url)
        self.session = sessionmaker(self.engine, expire_on_commit=False)
        self.policy = Policy()
        self._recording = 0  # slash commands being recorded now, each an ack waiting for it
        self._recorded = threading.Condition()

    @contextmanager
    def begin(self, *, urgent: bool = False) -> Iterator[Session]:
        """A transaction; the driver's connection errors are DatabaseUnavailable.

        Unless ``urgent``, it first waits, briefly (``RECORDS_FIRST``), while slash commands
        are being recorded: SQLite lets one transaction write at a time, and one begun now
        (the work after an ack) could hold the acks behind it, each waiting for its record.
        """
        if not urgent:
            with self._recorded:
                self._recorded.wait_for(lambda: not self._recording, timeout=RECORDS_FIRST)
        try:
            with self.session.begin() as session:
                yield session
        except (OperationalError, InterfaceError) as error:
            raise DatabaseUnavailable(error.orig or error) from error

    @contextmanager
    def recording(self) -> Iterator[None]:
        """Mark a slash command being recorded (on an ack's path): other transactions wait."""
        with self._recorded:
            self._recording += 1
        try:
            yield
        finally:
            with self._recorded:
                self._recording -= 1
                if not self._recording:
                    self._recorded.notify_all()
