"""Connecting to the watch store's database: the SQLAlchemy engine for a DATABASE_URL."""

from __future__ import annotations

from typing import Any

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine
from sqlalchemy.pool import StaticPool


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
