"""The schema's migrations, on SQLite and PostgreSQL, through ``korebot migrate`` and the app.

Databases from before Alembic are built here from frozen copies of the tables korebot's
create_all made (read off ``git log -p korebot/watch/store.py``), never from old code.
"""

from __future__ import annotations

import shutil
import socket
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    create_engine,
    inspect,
    text,
)
from support.slack_app import app_env, check_clean, wait_until
from support.store import open_store
from typer.testing import CliRunner

from korebot.cli import app as cli
from korebot.kore import JobStatus, Kind, State, Status
from korebot.registry import JobKey
from korebot.testing.app_process import AppProcess
from korebot.testing.fake_kore import FakeKore
from korebot.testing.fake_slack import FakeSlack
from korebot.watch.store import migrate
from korebot.watch.store.abc import Policy as ContractPolicy
from korebot.watch.store.database import database_url
from korebot.watch.store.tables import Base, Subscription, Target, Watch
from korebot.watch.types import RunStart

HEAD = migrate.head()
WHEN = datetime(2026, 11, 28, 18, 30, tzinfo=UTC)


def test_the_newest_revision_is_alembics_head() -> None:
    """``head`` reads the revision files' numbers; Alembic's own reading agrees."""
    script = ScriptDirectory.from_config(migrate.alembic_config(migrate.MIGRATIONS))
    assert script.get_current_head() == HEAD


def test_a_database_at_the_newest_revision_starts_without_alembic(tmp_path: Path) -> None:
    """Importing Alembic is most of a start-up: a process with nothing to migrate skips it."""
    url = f"sqlite:///{tmp_path / 'k.db'}"
    assert migrate.migrate(url).after == HEAD
    program = (
        "import sys; from korebot import server; from korebot.watch.store import migrate; "
        f"migration = migrate.migrate({url!r}); "
        "print(migration.before, migration.after, 'alembic' in sys.modules)"
    )
    done = subprocess.run(  # noqa: S603 (our own interpreter and package)
        [sys.executable, "-c", program], capture_output=True, text=True, check=True
    )
    assert done.stdout.split() == [HEAD, HEAD, "False"]


# --- The tables before Alembic, frozen ---------------------------------------------------------


def pre_alembic(*, last_message: bool, last_result: bool, watch_indexes: bool) -> MetaData:
    """korebot's tables as create_all made them: on 2026-11-28 (last_message, no watch
    indexes), and after e94f70d (last_result instead), e612e04 (the watch indexes) or
    5bd4852 (which added what was missing and dropped nothing)."""
    metadata = MetaData()
    Table(
        "korebot_targets",
        metadata,
        Column("id", Integer, primary_key=True),
        Column("key", String(300), nullable=False, unique=True),
        Column("host", String(200), nullable=False),
        Column("bot_id", String(64), nullable=False),
        Column("bot_name", String(64), nullable=False),
        Column("language", String(16), nullable=False),
        Column("state", String(16), nullable=False),
        Column("next_poll_at", DateTime(timezone=True), index=True),
        Column("last_status", String(64)),
        *([Column("last_message", Text)] if last_message else []),
        Column("last_run", String(120)),
        Column("last_checked_at", DateTime(timezone=True)),
        Column("running_since", DateTime(timezone=True)),
        Column("last_error", Text),
        Column("failing_since", DateTime(timezone=True)),
        *([Column("last_result", Text)] if last_result else []),
    )
    Table(
        "korebot_watches",
        metadata,
        Column("id", Integer, primary_key=True),
        Column("target_id", Integer, ForeignKey("korebot_targets.id"), nullable=False, index=True),
        Column("active_key", String(120), unique=True),
        Column("via", String(16), nullable=False),
        Column("team_id", String(32), nullable=False),
        Column("channel_id", String(32), nullable=False),
        Column("thread_channel", String(32)),
        Column("thread_ts", String(32)),
        Column("announce_attempts", Integer, nullable=False),
        Column("lease_until", DateTime(timezone=True)),
        Column("created_at", DateTime(timezone=True), nullable=False),
        Column("deadline", DateTime(timezone=True), nullable=False),
        Column("outcome", Text),
        Column("outcome_attempts", Integer, nullable=False),
        Column("ended", String(16)),
        Column("ended_at", DateTime(timezone=True)),
        *(
            [
                Index("ix_korebot_watches_channel_active", "channel_id", "ended"),
                Index("ix_korebot_watches_team_active", "team_id", "ended"),
                Index("ix_korebot_watches_ended", "ended"),
            ]
            if watch_indexes
            else []
        ),
    )
    Table(
        "korebot_askers",
        metadata,
        Column("id", Integer, primary_key=True),
        Column("watch_id", Integer, ForeignKey("korebot_watches.id"), nullable=False),
        Column("user_id", String(32), nullable=False),
        UniqueConstraint("watch_id", "user_id"),
    )
    Table(
        "korebot_subscriptions",
        metadata,
        Column("id", Integer, primary_key=True),
        Column("target_id", Integer, ForeignKey("korebot_targets.id"), nullable=False, index=True),
        Column("team_id", String(32), nullable=False),
        Column("channel_id", String(32), nullable=False),
        Column("created_by", String(32), nullable=False),
        Column("created_at", DateTime(timezone=True), nullable=False),
        Column("paused", Text),
        Column("armed", Boolean, nullable=False),
        UniqueConstraint("target_id", "channel_id"),
    )
    Table(
        "korebot_kore_calls",
        metadata,
        Column("id", Integer, primary_key=True),
        Column("bot", String(300), nullable=False, index=True),
        Column("at", DateTime(timezone=True), nullable=False, index=True),
    )
    return metadata


ON_2026_11_28 = {"last_message": True, "last_result": False, "watch_indexes": False}
TODAY = {"last_message": False, "last_result": True, "watch_indexes": True}
IN_BETWEEN = {
    "e94f70d": {"last_message": False, "last_result": True, "watch_indexes": False},
    "5bd4852 over 2026-11-28": {"last_message": True, "last_result": True, "watch_indexes": True},
}


def fill(url: str, metadata: MetaData) -> dict[str, list[dict[str, Any]]]:
    """Targets, watches with askers, subscriptions and budget calls; returns every row."""
    tables = metadata.tables
    engine = create_engine(database_url(url))
    try:
        with engine.begin() as connection:
            for number in (1, 2):
                values: dict[str, Any] = {
                    "id": number,
                    "key": f"https://bots.kore.ai|st-{number}|en|configured",
                    "host": "https://bots.kore.ai",
                    "bot_id": f"st-{number}",
                    "bot_name": f"bot{number}",
                    "language": "en",
                    "state": "configured",
                    "next_poll_at": WHEN + timedelta(seconds=number),
                    "last_status": "in-progress",
                    "last_run": f"run-{number}",
                    "running_since": WHEN,
                }
                columns = tables["korebot_targets"].columns
                if "last_message" in columns:
                    values["last_message"] = "never read"
                if "last_result" in columns:
                    values["last_result"] = '{"status": "in-progress"}'
                connection.execute(tables["korebot_targets"].insert(), values)
            for number, (target, ended) in enumerate([(1, None), (1, "delivered"), (2, None)], 1):
                connection.execute(
                    tables["korebot_watches"].insert(),
                    {
                        "id": number,
                        "target_id": target,
                        "active_key": None if ended else f"C{number}|{target}",
                        "via": "ask",
                        "team_id": "T0TEAM",
                        "channel_id": f"C{number}",
                        "thread_channel": f"C{number}",
                        "thread_ts": f"1700000000.00000{number}",
                        "announce_attempts": 1,
                        "created_at": WHEN,
                        "deadline": WHEN + timedelta(hours=4),
                        "outcome_attempts": 0,
                        "ended": ended,
                        "ended_at": WHEN if ended else None,
                    },
                )
            connection.execute(
                tables["korebot_askers"].insert(),
                [
                    {"watch_id": 1, "user_id": "U0ONE"},
                    {"watch_id": 1, "user_id": "U0TWO"},
                    {"watch_id": 2, "user_id": "U0ONE"},
                    {"watch_id": 3, "user_id": "U0THREE"},
                ],
            )
            connection.execute(
                tables["korebot_subscriptions"].insert(),
                [
                    {
                        "target_id": target,
                        "team_id": "T0TEAM",
                        "channel_id": "C0SUBS",
                        "created_by": "U0ONE",
                        "created_at": WHEN,
                        "paused": None,
                        "armed": True,
                    }
                    for target in (1, 2)
                ],
            )
            calls = tables["korebot_kore_calls"]
            connection.execute(calls.insert(), {"bot": "https://bots.kore.ai|st-1", "at": WHEN})
    finally:
        engine.dispose()
    return rows(url)


def rows(url: str) -> dict[str, list[dict[str, Any]]]:
    """Every row of korebot's tables (those the database has yet), as the database holds them."""
    engine = create_engine(database_url(url))
    try:
        present = set(inspect(engine).get_table_names())
        with engine.connect() as connection:
            return {
                table: [
                    dict(row._mapping)
                    for row in connection.execute(text(f"SELECT * FROM {table} ORDER BY id"))  # noqa: S608
                ]
                for table in sorted(Base.metadata.tables)
                if table in present
            }
    finally:
        engine.dispose()


def assert_survived(before: dict[str, list[dict[str, Any]]], url: str) -> None:
    """Every row is still there with its values; only last_message is gone (0003's lease
    columns are new, empty; 0005 made every target an FAQ one, its key saying so; 0007's
    usual length and overdue mark are empty; 0010's subject is empty: a training's)."""
    after = rows(url)
    added = {
        "korebot_targets": {
            "last_result": None,
            "lease_owner": None,
            "lease_until": None,
            "kind": "faq",
            "usual_seconds": None,
            "usual_runs": 0,
            "subject": "",
        },
        "korebot_watches": {"lease_owner": None, "overdue_at": None},
    }
    for table, old in before.items():
        expected = [
            {**added.get(table, {}), **{k: v for k, v in row.items() if k != "last_message"}}
            for row in old
        ]
        if table == "korebot_targets":
            expected = [{**row, "key": row["key"] + "|faq"} for row in expected]
        assert after[table] == expected, table
    # And the app's own models read them.
    store = open_store(url)
    try:
        with store.session() as session:
            watch = session.get(Watch, 1)
            assert watch is not None
            assert [asker.user_id for asker in watch.askers] == ["U0ONE", "U0TWO"]
            assert watch.target.key == "https://bots.kore.ai|st-1|en|configured|faq"
            assert watch.deadline == WHEN + timedelta(hours=4)
            target = session.get(Target, 2)
            assert target is not None
            assert target.running_since == WHEN
            subscription = session.get(Subscription, 2)
            assert subscription is not None
            assert subscription.armed
    finally:
        store.dispose()


def differences(url: str) -> list[Any]:
    """What Alembic's autogenerate finds between the database and the models."""
    engine = create_engine(database_url(url))
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(
                connection,
                opts={"include_name": migrate.include_name, "version_table": migrate.VERSION_TABLE},
            )
            return list(compare_metadata(context, Base.metadata))
    finally:
        engine.dispose()


def layout(url: str) -> dict[str, tuple[set[str], set[str | None]]]:
    """Each table's columns and indexes."""
    engine = create_engine(database_url(url))
    try:
        schema_ = inspect(engine)
        return {
            table: (
                {column["name"] for column in schema_.get_columns(table)},
                {index["name"] for index in schema_.get_indexes(table)},
            )
            for table in schema_.get_table_names()
        }
    finally:
        engine.dispose()


def version(url: str) -> list[str]:
    engine = create_engine(database_url(url))
    try:
        with engine.connect() as connection:
            if migrate.VERSION_TABLE not in inspect(connection).get_table_names():
                return []
            query = text(f"SELECT version_num FROM {migrate.VERSION_TABLE}")  # noqa: S608
            return list(connection.scalars(query))
    finally:
        engine.dispose()


# --- Running the real command --------------------------------------------------------------------


@dataclass(frozen=True)
class Result:
    code: int
    stdout: str
    stderr: str


def korebot_migrate(url: str, *args: str) -> Result:
    """``korebot migrate`` from korebot.cli's app, with DATABASE_URL set as on a platform."""
    result = CliRunner().invoke(cli, ["migrate", *args], env={"DATABASE_URL": url})
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    outcome = Result(result.exit_code, result.stdout, result.stderr)
    assert "Traceback" not in outcome.stdout + outcome.stderr
    return outcome


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A database that does not exist yet (SQLite) or is empty (PostgreSQL)."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'korebot.db'}"
    postgres_url: str = request.getfixturevalue("postgres_url")
    return postgres_url


def create(url: str, shape: dict[str, bool]) -> dict[str, list[dict[str, Any]]]:
    metadata = pre_alembic(**shape)
    engine = create_engine(database_url(url))
    try:
        metadata.create_all(engine)
    finally:
        engine.dispose()
    return fill(url, metadata)


# --- Upgrades ------------------------------------------------------------------------------------


def test_a_database_of_2026_11_28_is_recognised_and_upgraded(url: str) -> None:
    before = create(url, ON_2026_11_28)
    result = korebot_migrate(url)
    assert result.code == 0, result.stderr
    assert "0001" in result.stdout
    assert HEAD in result.stdout
    assert version(url) == [HEAD]
    assert differences(url) == []
    assert_survived(before, url)


@pytest.mark.parametrize("shape", [TODAY, *IN_BETWEEN.values()], ids=["today", *IN_BETWEEN.keys()])
def test_a_database_from_before_alembic_is_recognised_and_upgraded(
    url: str, shape: dict[str, bool]
) -> None:
    before = create(url, shape)
    result = korebot_migrate(url)
    assert result.code == 0, result.stderr
    assert version(url) == [HEAD]
    assert differences(url) == []
    assert_survived(before, url)


def test_a_fresh_database_is_created_at_head_then_left_alone(url: str) -> None:
    first = korebot_migrate(url)
    assert first.code == 0, first.stderr
    assert HEAD in first.stdout
    assert version(url) == [HEAD]
    assert differences(url) == []
    again = korebot_migrate(url)
    assert again.code == 0, again.stderr
    assert again.stdout != first.stdout  # says there was nothing to do
    assert version(url) == [HEAD]


def test_the_models_match_the_newest_revision(url: str) -> None:
    """A model changed without a revision fails here (and the app's start would not add it)."""
    engine = migrate.open_engine(url)
    try:
        migrate.upgrade(engine)
    finally:
        engine.dispose()
    assert differences(url) == []


def test_every_revision_downgrades_and_upgrades_again(url: str) -> None:
    engine = migrate.open_engine(url)
    try:
        migrate.upgrade(engine)
        with engine.begin() as connection:
            config = migrate.alembic_config(migrate.MIGRATIONS, connection=connection)
            command.downgrade(config, "base")
        assert set(inspect(engine).get_table_names()) == {migrate.VERSION_TABLE}
        migrate.upgrade(engine)
    finally:
        engine.dispose()
    assert differences(url) == []


def test_watches_from_before_kinds_are_found_under_their_faq_training(url: str) -> None:
    """A database at 0003 (no kinds) with a watch and a subscription, upgraded: both are
    found by the FAQ training's key, none by the ML one's, and a poll can be recorded."""
    engine = migrate.open_engine(url)
    try:
        with engine.begin() as connection:
            config = migrate.alembic_config(migrate.MIGRATIONS, connection=connection)
            command.upgrade(config, "0003")
            for statement in (
                "INSERT INTO korebot_targets (id, key, host, bot_id, bot_name, language, state, "
                "last_status, last_run, next_poll_at) VALUES (1, 'https://bots.kore.ai|st-1|en|"
                "configured', 'https://bots.kore.ai', 'st-1', 'bot1', 'en', 'configured', "
                "'in-progress', 'run-1', :when)",
                "INSERT INTO korebot_watches (id, target_id, active_key, via, team_id, "
                "channel_id, announce_attempts, outcome_attempts, created_at, deadline, "
                "thread_channel, thread_ts) VALUES (1, 1, '1|C1', 'ask', 'T1', 'C1', 1, 0, "
                ":when, :when, 'C1', '1.0')",
                "INSERT INTO korebot_subscriptions (id, target_id, team_id, channel_id, "
                "created_by, created_at, armed) VALUES (1, 1, 'T1', 'C1', 'U1', :when, :armed)",
            ):
                connection.execute(text(statement), {"when": WHEN, "armed": True})
    finally:
        engine.dispose()
    result = korebot_migrate(url)
    assert result.code == 0, result.stderr
    assert version(url) == [HEAD]
    faq = JobKey("https://bots.kore.ai", "st-1", "en", State.CONFIGURED, Kind.FAQ)
    store = open_store(url)
    try:
        assert store.watches.find_watch(faq, "C1") == 1
        assert store.watches.find_watch(replace(faq, kind=Kind.ML), "C1") is None
        assert [sub.kind for sub in store.subscriptions.subscriptions_in("C1")] == [Kind.FAQ]
        assert store.subscriptions.unsubscribe("C1", replace(faq, kind=Kind.ML)) is None
        (watch,) = store.watches.watches_in("C1")
        assert (watch.kind, watch.last_status) == (Kind.FAQ, "in-progress")
    finally:
        store.dispose()


def test_a_training_running_at_0006_gets_its_run_recorded_after_the_upgrade(url: str) -> None:
    """A database at 0006 with a target in the middle of a run, upgraded: the run's end is
    recorded with its start as first seen before the upgrade (``running_since``)."""
    engine = migrate.open_engine(url)
    try:
        with engine.begin() as connection:
            config = migrate.alembic_config(migrate.MIGRATIONS, connection=connection)
            command.upgrade(config, "0006")
            connection.execute(
                text(
                    "INSERT INTO korebot_targets (id, key, host, bot_id, bot_name, language, "
                    "state, kind, last_status, last_run, running_since, next_poll_at) VALUES "
                    "(1, 'https://bots.kore.ai|st-1|en|configured|faq', 'https://bots.kore.ai',"
                    " 'st-1', 'bot1', 'en', 'configured', 'faq', 'in-progress', 'run-1', :when,"
                    " :when)"
                ),
                {"when": WHEN},
            )
    finally:
        engine.dispose()
    result = korebot_migrate(url)
    assert result.code == 0, result.stderr
    assert version(url) == [HEAD]
    store = open_store(url)
    later = WHEN + timedelta(minutes=4)
    store.configure(ContractPolicy(clock=lambda: later))
    faq = JobKey("https://bots.kore.ai", "st-1", "en", State.CONFIGURED, Kind.FAQ)
    try:
        assert store.runs.runs(faq) == []
        (claim,) = store.targets.acquire_polls(1, 1)
        done = JobStatus.from_json({"status": "success", "message": "Done", "_id": "run-1"})
        assert store.targets.record_status(claim.lease, done, str) is not None
        (run,) = store.runs.runs(faq)
        assert (run.outcome, run.start, run.started_at) == (
            Status.SUCCESS,
            RunStart.FIRST_SEEN,
            WHEN,
        )
        assert run.duration == 240.0
    finally:
        store.dispose()


# --- --sql -----------------------------------------------------------------------------------


def run_script(url: str, script: str) -> None:
    """Run printed SQL as a DBA would: with the database's own client library."""
    if url.startswith("sqlite"):
        with sqlite3.connect(url.removeprefix("sqlite:///")) as connection:
            connection.executescript(script)
    else:
        with psycopg.connect(url, autocommit=True) as connection:
            connection.execute(script.encode())


def test_sql_prints_the_upgrade_of_an_old_database_and_changes_nothing(url: str) -> None:
    before = create(url, ON_2026_11_28)
    shape = layout(url)
    result = korebot_migrate(url, "--sql")
    assert result.code == 0, result.stderr
    assert "ix_korebot_watches_ended" in result.stdout
    assert "last_result" in result.stdout
    assert "CREATE TABLE korebot_targets" not in result.stdout  # it starts at 0001
    assert rows(url) == before
    assert layout(url) == shape
    assert version(url) == []
    # The script does what `korebot migrate` would have done.
    run_script(url, result.stdout)
    assert version(url) == [HEAD]
    assert differences(url) == []
    assert_survived(before, url)


def test_sql_for_a_fresh_database_creates_everything_and_runs_nothing(
    url: str, tmp_path: Path
) -> None:
    result = korebot_migrate(url, "--sql")
    assert result.code == 0, result.stderr
    assert "CREATE TABLE korebot_targets" in result.stdout
    if url.startswith("sqlite"):
        assert not (tmp_path / "korebot.db").exists()
    else:
        assert version(url) == []
        assert differences(url) != []
    run_script(url, result.stdout)
    assert version(url) == [HEAD]
    assert differences(url) == []


def test_sql_at_head_prints_no_statement(url: str) -> None:
    assert korebot_migrate(url).code == 0
    result = korebot_migrate(url, "--sql")
    assert result.code == 0, result.stderr
    assert [line for line in result.stdout.splitlines() if not line.startswith("--")] == []


# --- Refusals and errors ---------------------------------------------------------------------


def stamp_unknown(url: str) -> None:
    assert korebot_migrate(url).code == 0
    engine = create_engine(database_url(url))
    try:
        with engine.begin() as connection:
            connection.execute(text(f"UPDATE {migrate.VERSION_TABLE} SET version_num = 'f00d'"))  # noqa: S608
    finally:
        engine.dispose()


def test_a_database_ahead_of_the_code_is_refused(url: str) -> None:
    stamp_unknown(url)
    for args in ([], ["--sql"]):
        result = korebot_migrate(url, *args)
        assert result.code == 2, (args, result.stdout)
        assert "f00d" in result.stderr
        assert HEAD in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1
    assert version(url) == ["f00d"]


def test_the_app_refuses_to_start_on_a_database_ahead_of_it(
    url: str, tmp_path: Path, kore: FakeKore, slack: FakeSlack
) -> None:
    stamp_unknown(url)
    app = AppProcess(app_env(kore, slack, tmp_path / "unused.db", DATABASE_URL=url))
    with pytest.raises(RuntimeError, match="did not start"):
        app.start()
    assert app.returncode == 2
    (reason,) = [line for line in app.logs if line.startswith("korebot: ")]
    assert "f00d" in reason
    assert "Traceback" not in "\n".join(app.logs)
    assert version(url) == ["f00d"]


@pytest.mark.postgres
def test_a_password_with_percent_signs_is_used_and_never_shown(postgres_url: str) -> None:
    # The test server trusts its user, so any password connects: it is only carried along.
    url = postgres_url.replace("korebot@", "korebot:pa%25ss%word@", 1)
    result = korebot_migrate(url)
    assert result.code == 0, result.stderr
    assert version(postgres_url) == [HEAD]
    assert "pa%" not in result.stdout + result.stderr


def test_an_unreachable_database_is_one_clear_line(tmp_path: Path) -> None:
    # A port nothing listens on: the bound socket is closed before connecting.
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    for args in ([], ["--sql"]):
        result = korebot_migrate(f"postgresql://korebot:hunter2secret@127.0.0.1:{port}/x", *args)
        assert result.code == 2
        assert "hunter2secret" not in result.stdout + result.stderr
        assert f"127.0.0.1:{port}" in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1
    missing_dir = korebot_migrate(f"sqlite:///{tmp_path / 'no' / 'such' / 'dir.db'}")
    assert missing_dir.code == 2
    assert len(missing_dir.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize(
    "bad", ["not a url", "mysql://root:hunter2secret@127.0.0.1/korebot", "postgresql://:x@:bad"]
)
def test_a_bad_database_url_is_one_clear_line(bad: str) -> None:
    result = korebot_migrate(bad)
    assert result.code == 2
    assert "DATABASE_URL" in result.stderr
    assert "hunter2secret" not in result.stdout + result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_the_app_says_a_bad_database_url_in_one_line(
    tmp_path: Path, kore: FakeKore, slack: FakeSlack
) -> None:
    bad = "mysql://root:hunter2secret@127.0.0.1/korebot"
    app = AppProcess(app_env(kore, slack, tmp_path / "unused.db", DATABASE_URL=bad))
    with pytest.raises(RuntimeError, match="did not start"):
        app.start()
    assert app.returncode == 2
    (reason,) = [line for line in app.logs if line.startswith("korebot: ")]
    assert "DATABASE_URL" in reason
    logs = "\n".join(app.logs)
    assert "Traceback" not in logs
    assert "hunter2secret" not in logs


# --- Processes starting at once ----------------------------------------------------------------

_DDL_LOG = """
CREATE TABLE ddl_log (tag text, object text);
CREATE FUNCTION log_ddl() RETURNS event_trigger LANGUAGE plpgsql AS $$
DECLARE command record;
BEGIN
    FOR command IN SELECT * FROM pg_event_trigger_ddl_commands() LOOP
        INSERT INTO ddl_log VALUES (command.command_tag, command.object_identity);
    END LOOP;
END $$;
CREATE EVENT TRIGGER log_ddl ON ddl_command_end EXECUTE FUNCTION log_ddl();
"""


def start_together(
    env: dict[str, str], waiting: Callable[[list[AppProcess]], bool], release: Callable[[], None]
) -> list[AppProcess]:
    """Start two apps at once while the test holds the database; once both wait for it
    (``waiting``), ``release`` it. Returns them started, or fails with their logs."""
    apps = [AppProcess(env), AppProcess(env)]
    failures: list[BaseException] = []

    def start(app: AppProcess) -> None:
        try:
            app.start(timeout=90)
        except BaseException as error:  # reported by the test's thread below
            failures.append(error)

    threads = [threading.Thread(target=start, args=(app,)) for app in apps]
    try:
        for thread in threads:
            thread.start()
        # Generous: two interpreters importing the app at once on a busy machine.
        wait_until(lambda: waiting(apps), 60, "both processes waiting to migrate")
    finally:
        release()
        for thread in threads:
            thread.join()
    if failures:
        for app in apps:
            app.stop()
        raise AssertionError(failures)
    return apps


def check_up(apps: list[AppProcess], kore: FakeKore, slack: FakeSlack) -> None:
    for app in apps:
        health = httpx.get(app.url + "/healthz", timeout=5)
        assert health.status_code == 200
        assert health.json()["status"] == "ok"
        check_clean(app, kore, slack, extra=health.text)


def assert_kept(before: dict[str, list[dict[str, Any]]], url: str) -> None:
    """Every row is still there (running apps have polled and paused some: unknown bots)."""
    after = rows(url)
    for table, old in before.items():
        assert [row["id"] for row in after[table]] == [row["id"] for row in old], table
    askers = [(row["watch_id"], row["user_id"]) for row in after["korebot_askers"]]
    assert askers == [(row["watch_id"], row["user_id"]) for row in before["korebot_askers"]]


@pytest.mark.postgres
def test_two_processes_starting_at_once_migrate_an_old_postgresql_database_once(
    postgres_url: str, tmp_path: Path, kore: FakeKore, slack: FakeSlack
) -> None:
    before = create(postgres_url, ON_2026_11_28)
    with psycopg.connect(postgres_url, autocommit=True) as connection:
        connection.execute(_DDL_LOG.encode())

    def waiting(_apps: list[AppProcess]) -> bool:
        query = (
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND pid <> pg_backend_pid() AND wait_event_type = 'Lock'"
        )
        with psycopg.connect(postgres_url, autocommit=True) as probe:
            row = probe.execute(query).fetchone()
        return row is not None and row[0] == 2

    # Holding korebot_targets makes the two overlap: the migrating one waits here with the
    # migration lock held, the other for that lock. Without the lock both would migrate,
    # and the second would fail on what the first did.
    with psycopg.connect(postgres_url) as held:
        held.execute("LOCK TABLE korebot_targets IN ACCESS EXCLUSIVE MODE")
        env = app_env(kore, slack, tmp_path / "unused.db", DATABASE_URL=postgres_url)
        apps = start_together(env, waiting, held.rollback)
    try:
        check_up(apps, kore, slack)
    finally:
        for app in apps:
            app.stop()
    assert version(postgres_url) == [HEAD]
    with psycopg.connect(postgres_url) as connection:
        done = connection.execute("SELECT tag, object FROM ddl_log").fetchall()
    created = [object for tag, object in done if tag in ("CREATE TABLE", "CREATE INDEX")]
    assert sorted(created) == sorted(
        [
            f"public.{migrate.VERSION_TABLE}",
            f"public.{migrate.VERSION_TABLE}_pkc",
            "public.ix_korebot_watches_channel_active",
            "public.ix_korebot_watches_team_active",
            "public.ix_korebot_watches_ended",
            # 0004's table of slash commands
            "public.korebot_commands",
            "public.korebot_commands_pkey",
            "public.ix_korebot_commands_unfinished",
            # 0006's table of trainings started from Slack
            "public.korebot_train_requests",
            "public.korebot_train_requests_pkey",
            "public.korebot_train_requests_token_key",
            # 0007's run history
            "public.korebot_runs",
            "public.korebot_runs_pkey",
            "public.korebot_runs_open_key_key",
            "public.ix_korebot_runs_target",
            # 0008's table of open App Home tabs
            "public.korebot_home_tabs",
            "public.korebot_home_tabs_pkey",
            "public.korebot_home_tabs_team_id_user_id_key",
            "public.ix_korebot_home_tabs_opened_at",
            # 0009's one start per training
            "public.ix_korebot_train_requests_starting",
            # 0012's releases
            "public.korebot_releases",
            "public.korebot_releases_pkey",
            "public.korebot_releases_token_key",
            "public.korebot_releases_active_key_key",
            "public.ix_korebot_releases_bot_id",
            "public.ix_korebot_releases_due",
        ]
    )
    assert differences(postgres_url) == []
    assert_kept(before, postgres_url)


def test_two_processes_starting_at_once_migrate_an_old_sqlite_database_once(
    tmp_path: Path, kore: FakeKore, slack: FakeSlack
) -> None:
    db = tmp_path / "old.db"
    before = create(f"sqlite:///{db}", ON_2026_11_28)

    def waiting(apps: list[AppProcess]) -> bool:
        # Both have the file open, so both are in the migration (nothing opens it before),
        # where the test's exclusive lock holds them (within SQLite's 10 s busy timeout).
        return all(any(fd.resolve() == db for fd in _fds(app)) for app in apps)

    # Without the exclusive transaction both would read "no version" and both migrate.
    held = sqlite3.connect(db, isolation_level=None)
    try:
        held.execute("BEGIN EXCLUSIVE")
        apps = start_together(app_env(kore, slack, db), waiting, lambda: held.execute("ROLLBACK"))
    finally:
        held.close()
    try:
        check_up(apps, kore, slack)
    finally:
        for app in apps:
            app.stop()
    assert version(f"sqlite:///{db}") == [HEAD]
    assert differences(f"sqlite:///{db}") == []
    assert_kept(before, f"sqlite:///{db}")


def _fds(app: AppProcess) -> list[Path]:
    """The files a running app has open."""
    try:
        return list(Path(f"/proc/{app.pid}/fd").iterdir())
    except (RuntimeError, OSError):  # not spawned yet, or gone
        return []


# --- Writing the next revision ---------------------------------------------------------------


def test_the_next_revision_is_written_from_the_models(tmp_path: Path) -> None:
    location = tmp_path / "migrations"
    shutil.copytree(migrate.MIGRATIONS, location, ignore=shutil.ignore_patterns("__pycache__"))
    path = migrate.new_revision("nothing changed", location)
    assert path.parent == location / "versions"
    assert path.name == f"{int(HEAD) + 1:04d}_nothing_changed.py"
    source = path.read_text()
    assert f"down_revision = {HEAD!r}" in source
    # The models match the newest revision: nothing to do in either direction.
    assert source.count("    pass\n") == 2
    assert migrate.head(location) == f"{int(HEAD) + 1:04d}"
