"""The store on a real PostgreSQL server (started by the tests: see tests/postgres.py)."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from sqlalchemy import TypeDecorator, inspect
from sqlalchemy.sql.elements import NamedColumn
from support.store import open_store

from korebot.watch.store import Store, migrate
from korebot.watch.store.tables import Asker, Base, Watch

pytestmark = pytest.mark.postgres

# Not UTC on the way in, to see it come back as the same instant in UTC.
WHEN = datetime(2024, 3, 31, 1, 30, 15, 123456, tzinfo=timezone(timedelta(hours=2)))


@pytest.fixture
def store(postgres_url: str) -> Iterator[Store]:
    store = open_store(postgres_url)
    try:
        yield store
    finally:
        store.dispose()


@pytest.mark.parametrize("scheme", ["postgres", "postgresql"])
def test_store_accepts_both_url_schemes_and_migrates_twice(postgres_url: str, scheme: str) -> None:
    url = scheme + postgres_url.removeprefix("postgresql")
    assert url.startswith(f"{scheme}://")
    store = open_store(url)
    try:
        assert store.engine.dialect.name == "postgresql"
        assert store.engine.dialect.driver == "psycopg"
        assert migrate.upgrade(store.engine).before is None
        assert migrate.upgrade(store.engine).before == migrate.head()
        tables = set(Base.metadata.tables) | {migrate.VERSION_TABLE}
        assert set(inspect(store.engine).get_table_names()) == tables
        assert store.healthy()
    finally:
        store.dispose()


def test_healthy_is_false_when_the_server_is_unreachable() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed_port = sock.getsockname()[1]
    store = open_store(f"postgres://korebot@127.0.0.1:{closed_port}/korebot")
    try:
        assert not store.healthy()
    finally:
        store.dispose()


def _sample(column: NamedColumn[Any], ids: dict[str, int]) -> object:
    """A value for one column: the parent row's id for a foreign key, else by Python type."""
    for foreign_key in column.foreign_keys:
        return ids[foreign_key.column.table.name]
    sql_type = column.type
    if isinstance(sql_type, TypeDecorator):  # UtcDateTime says "object"; its impl knows
        sql_type = sql_type.impl_instance
    python_type = sql_type.python_type
    if python_type is datetime:
        return WHEN
    if python_type is bool:
        return True
    if python_type is int:
        return 7
    if python_type is float:
        return 1.5
    assert python_type is str, f"no sample for {column}"
    length = getattr(sql_type, "length", None)
    return f"{column.name}-é✓"[:length]


def test_every_table_round_trips_with_aware_utc_datetimes(store: Store) -> None:
    """One row in each table (in foreign-key order), written and read back by the ORM."""
    migrate.upgrade(store.engine)
    mappers = {mapper.local_table: mapper for mapper in Base.registry.mappers}
    ids: dict[str, int] = {}
    written: dict[type[Any], dict[str, object]] = {}
    for table in Base.metadata.sorted_tables:
        mapper = mappers[table]
        values = {
            attribute.key: _sample(attribute.columns[0], ids)
            for attribute in mapper.column_attrs
            if not attribute.columns[0].primary_key
        }
        with store.session() as session, session.begin():
            row = mapper.class_(**values)
            session.add(row)
        ids[table.name] = row.id
        written[mapper.class_] = values

    with store.session() as session:
        for cls, values in written.items():
            row = session.get(cls, ids[cls.__tablename__])
            assert row is not None
            for key, value in values.items():
                back = getattr(row, key)
                assert back == value, key
                if isinstance(value, datetime):
                    assert back.utcoffset() == timedelta(0), key
                    assert back.replace(tzinfo=None) == WHEN.astimezone(UTC).replace(tzinfo=None)
        watch = session.get(Watch, ids[Watch.__tablename__])
        assert watch is not None
        assert [asker.id for asker in watch.askers] == [ids[Asker.__tablename__]]
