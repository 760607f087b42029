"""The store's schema: a database made by an earlier version gets what was added since."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import inspect, text

from korebot.watch.store import Store


def _upgrade_adds_what_an_older_version_lacked(store: Store) -> None:
    store.create_tables()
    # What the previous version's database lacked (added on 2026-11-28).
    with store.engine.begin() as connection:
        connection.execute(text("DROP INDEX ix_korebot_watches_ended"))
        connection.execute(text("ALTER TABLE korebot_targets DROP COLUMN last_result"))
    store.create_tables()
    schema = inspect(store.engine)
    assert "last_result" in {c["name"] for c in schema.get_columns("korebot_targets")}
    indexes = {index["name"] for index in schema.get_indexes("korebot_watches")}
    assert "ix_korebot_watches_ended" in indexes


def test_an_older_sqlite_database_is_upgraded(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'old.db'}")
    try:
        _upgrade_adds_what_an_older_version_lacked(store)
    finally:
        store.dispose()


@pytest.mark.postgres
def test_an_older_postgresql_database_is_upgraded(postgres_url: str) -> None:
    store = Store(postgres_url)
    try:
        _upgrade_adds_what_an_older_version_lacked(store)
    finally:
        store.dispose()
