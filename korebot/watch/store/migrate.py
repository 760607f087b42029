"""The schema's version: korebot's Alembic migrations (``korebot/migrations``), run under a lock.

Every serving process brings the database to the newest revision it knows before it
starts, and ``korebot migrate`` does the same (Heroku's release phase). Processes that
start at once take turns: a PostgreSQL advisory lock held by the upgrade's transaction,
or an exclusive SQLite transaction. A database made before korebot used Alembic (its
tables, no version table) is recognised by its shape and stamped, then upgraded. A
database at a revision this code does not know (newer code migrated it) is refused.
"""

from __future__ import annotations

import re
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from sqlalchemy import inspect, text
from sqlalchemy.engine import URL, Connection, Engine
from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError, SQLAlchemyError

from korebot.errors import SchemaError
from korebot.watch.store.database import make_engine

if TYPE_CHECKING:
    from alembic.config import Config

# Alembic is imported where a migration is run, not here: its import takes about as long as
# the rest of a start-up, and a process whose database is at the newest revision needs none.

MIGRATIONS = Path(__file__).resolve().parents[2] / "migrations"
#: Not Alembic's default name: a database shared with another app may hold that app's.
VERSION_TABLE = "korebot_alembic_version"
__all__ = ["Migration", "SchemaError", "head", "migrate", "new_revision", "upgrade"]

#: The advisory lock (class ID, key) of migrating, beside the budget's (kore_calls.py).
_LOCK = {"kind": 0x6B620003, "key": 0}
#: What every korebot before Alembic made; which revision it is, _recognise tells.
_PRE_ALEMBIC_TABLES = frozenset(
    {
        "korebot_targets",
        "korebot_watches",
        "korebot_askers",
        "korebot_subscriptions",
        "korebot_kore_calls",
    }
)
_INDEXES_OF_0002 = frozenset(
    {
        "ix_korebot_watches_channel_active",
        "ix_korebot_watches_team_active",
        "ix_korebot_watches_ended",
    }
)


@dataclass(frozen=True)
class Migration:
    """What an upgrade did (or would do): from ``before`` to ``after``."""

    #: None: an empty database (or a missing SQLite file).
    before: str | None
    after: str
    #: ``before`` was recognised from the tables of a database made before Alembic.
    recognised: bool = False

    def __str__(self) -> str:
        if self.recognised:
            start = (
                f"Recognised a database made before korebot used Alembic as revision {self.before}"
            )
            if self.before == self.after:
                return f"{start}, the newest, and recorded it."
            return f"{start}; upgraded it to revision {self.after}."
        if self.before is None:
            return f"Created korebot's tables at revision {self.after}."
        if self.before == self.after:
            return f"The database is at revision {self.after}, the newest; nothing to do."
        return f"Upgraded the database from revision {self.before} to revision {self.after}."


def include_name(name: str | None, type_: str, _parents: object) -> bool:
    """Alembic looks only at korebot's own tables: a shared database has others."""
    return type_ != "table" or (name or "").startswith("korebot_")


def head(location: Path = MIGRATIONS) -> str:
    """The newest revision: revisions are numbered, and named by number (``new_revision``)."""
    return max(path.name[:4] for path in (location / "versions").glob("[0-9][0-9][0-9][0-9]_*.py"))


def migrate(url: str) -> Migration:
    """``korebot migrate``: bring the database at ``url`` to the newest revision."""
    engine = open_engine(url)
    try:
        return upgrade(engine)
    finally:
        engine.dispose()


def upgrade(engine: Engine, location: Path = MIGRATIONS) -> Migration:
    """Bring the database to the newest revision, one process at a time."""
    newest = head(location)
    with _plainly(engine.url):
        if _revision(engine) == newest:  # the usual start: nothing to do
            return Migration(newest, newest)
    from alembic import command

    with _plainly(engine.url), _locked(engine) as connection:
        config = alembic_config(location, connection=connection)
        before, recognised = _current(connection, config)
        if recognised and before:
            command.stamp(config, before)
        command.upgrade(config, "head")
    return Migration(before, newest, recognised)


def print_sql(url: str, out: TextIO) -> Migration:
    """``korebot migrate --sql``: write the SQL that would upgrade the database; run none.

    It starts where the database is (read, never written; recognised if made before
    Alembic), or from nothing for an empty database or a missing SQLite file.
    """
    from alembic import command

    engine = open_engine(url)
    before: str | None = None
    recognised = False
    config = alembic_config(MIGRATIONS, dialect=engine.dialect.name, out=out)
    try:
        if not _missing_file(engine.url):
            with _plainly(engine.url), engine.connect() as connection:
                before, recognised = _current(connection, config)
    finally:
        engine.dispose()
    plan = Migration(before, head(), recognised)
    start = f"revision {before}" if before else "an empty database"
    if recognised:
        start += " (recognised from its tables)"
    out.write(f"-- korebot migrate --sql: from {start} to revision {plan.after}; nothing run.\n")
    if recognised and before:
        command.stamp(config, before, sql=True)
    if before != plan.after:
        command.upgrade(config, f"{before}:head" if before else "head", sql=True)
    return plan


def new_revision(message: str, location: Path = MIGRATIONS) -> Path:
    """Write the next revision, autogenerated from what the models have that it lacks.

    The models are compared with a scratch SQLite database at the newest revision, so no
    database is needed; review the result (the tests run every revision on PostgreSQL).
    """
    from alembic import command

    with tempfile.TemporaryDirectory() as scratch:
        engine = make_engine(f"sqlite:///{Path(scratch) / 'head.db'}")
        try:
            upgrade(engine, location)
            with engine.connect() as connection:
                config = alembic_config(location, connection=connection)
                number = int(head(location)) + 1
                script = command.revision(
                    config, message, autogenerate=True, rev_id=f"{number:04d}"
                )
        finally:
            engine.dispose()
    assert script is not None
    assert not isinstance(script, list)
    return Path(script.path)


def open_engine(url: str) -> Engine:
    """The engine for DATABASE_URL, or a SchemaError saying what is wrong with it."""
    try:
        return make_engine(url)
    except (NoSuchModuleError, ImportError):
        scheme = url.partition(":")[0]  # before "://": never a password
        raise SchemaError(
            f"DATABASE_URL: korebot cannot use {scheme!r} databases; "
            "give sqlite:///PATH or postgresql://USER:PASSWORD@HOST/NAME."
        ) from None
    except (ArgumentError, ValueError):  # ValueError: a port that is not a number
        raise SchemaError(
            "DATABASE_URL is not a database URL; "
            "give sqlite:///PATH or postgresql://USER:PASSWORD@HOST/NAME."
        ) from None


def alembic_config(location: Path, *, out: TextIO | None = None, **attributes: object) -> Config:
    """Alembic's configuration for the migrations at ``location``, with these attributes."""
    from alembic.config import Config

    # No ini file: the connection (or, offline, the dialect's name) is handed over in
    # attributes, so nothing of the URL is ever written down or parsed for % signs.
    config = Config(output_buffer=out)
    config.set_main_option("script_location", str(location).replace("%", "%%"))
    config.set_main_option("file_template", "%%(rev)s_%%(slug)s")
    config.attributes.update(attributes)
    return config


@contextmanager
def _locked(engine: Engine) -> Iterator[Connection]:
    """A connection in a transaction that no other korebot process migrates alongside."""
    with engine.connect() as connection:
        if engine.dialect.name != "sqlite":
            with connection.begin():
                # Held until the commit; whoever waited for it then finds the new revision.
                connection.execute(text("SELECT pg_advisory_xact_lock(:kind, :key)"), _LOCK)
                yield connection
            return
        # Copying a table others refer to (batch mode) needs foreign keys off, which SQLite
        # allows only outside a transaction; the exclusive one keeps other processes out.
        connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
        try:
            connection.exec_driver_sql("BEGIN EXCLUSIVE")
            yield connection
            connection.commit()
        finally:
            connection.rollback()  # after a failure; nothing is left after the commit
            connection.exec_driver_sql("PRAGMA foreign_keys=ON")


def _current(connection: Connection, config: Config) -> tuple[str | None, bool]:
    """The database's revision, and whether it was recognised from its tables."""
    from alembic.migration import MigrationContext
    from alembic.script import ScriptDirectory
    from alembic.util import CommandError

    tables = set(inspect(connection).get_table_names())
    revision = None
    if VERSION_TABLE in tables:
        context = MigrationContext.configure(connection, opts={"version_table": VERSION_TABLE})
        revision = context.get_current_revision()
    if revision is not None:
        script = ScriptDirectory.from_config(config)
        try:
            script.get_revision(revision)
        except CommandError:
            raise SchemaError(
                f"the database is at revision {revision}, which this version of korebot does "
                f"not know (its newest is {script.get_current_head()}): a newer korebot "
                "migrated it. Run that version (or newer) instead."
            ) from None
        return revision, False
    if not {name for name in tables - {VERSION_TABLE} if include_name(name, "table", {})}:
        return None, False
    return _recognise(connection, tables), True


def _recognise(connection: Connection, tables: set[str]) -> str:
    """Which revision the tables of a korebot from before Alembic match."""
    missing = _PRE_ALEMBIC_TABLES - tables
    if missing:
        raise SchemaError(
            f"the database has some of korebot's tables but not {', '.join(sorted(missing))}, "
            f"and no {VERSION_TABLE}: not a schema korebot knows how to upgrade."
        )
    schema = inspect(connection)
    columns = {column["name"] for column in schema.get_columns("korebot_targets")}
    indexes = {index["name"] for index in schema.get_indexes("korebot_watches")}
    if "last_result" in columns and "last_message" not in columns and indexes >= _INDEXES_OF_0002:
        return "0002"
    # The versions in between had part of 0002, which skips what is there already.
    return "0001"


def _revision(engine: Engine) -> str | None:
    """The revision recorded in the database, read without Alembic (None: none recorded)."""
    if _missing_file(engine.url):
        return None
    with engine.connect() as connection:
        if not inspect(connection).has_table(VERSION_TABLE):
            return None
        query = text(f"SELECT version_num FROM {VERSION_TABLE}")  # noqa: S608 (a constant)
        return connection.execute(query).scalar()


def _missing_file(url: URL) -> bool:
    """An SQLite database that does not exist yet (connecting would create it)."""
    if url.get_backend_name() != "sqlite":
        return False
    return url.database in (None, "", ":memory:") or not Path(url.database).exists()


@contextmanager
def _plainly(url: URL) -> Iterator[None]:
    """Database errors as one line naming the database, without its password."""
    try:
        yield
    except SQLAlchemyError as error:
        reason = str(error.orig if isinstance(error, DBAPIError) else error)
        if url.password:
            reason = reason.replace(str(url.password), "***")
        reason = re.sub(r"\s+", " ", reason).strip()
        shown = url.render_as_string(hide_password=True)
        raise SchemaError(f"database {shown}: {reason}") from None
