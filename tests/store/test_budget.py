"""The per-bot budget kept in the database is shared by every process using it."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from sqlalchemy import inspect
from support.store import open_store

from korebot import config
from korebot.gateway import Limits
from korebot.testing.clock import Clock
from korebot.watch.store import Store
from korebot.watch.store.kore_calls import DatabaseBudget
from korebot.wiring import command_line_gateway

BOT = ("https://bots.kore.ai", "st-1a2b3c4d-0000-4e6f-8a9b-0c1d2e3f4a5b")
OTHER = ("https://bots.kore.ai", "st-99999999-0000-4e6f-8a9b-0c1d2e3f4a5b")


def stores(url: str, count: int) -> list[Store]:
    """Separate engines on one database, as separate processes would have."""
    result = [open_store(url, upgrade=i == 0) for i in range(count)]
    return result


def check_shared_windows(url: str) -> None:
    clock = Clock()
    limits = Limits(per_minute=3, per_hour=4)
    first, second = (DatabaseBudget(s.kore_calls, limits, clock.now) for s in stores(url, 2))
    assert first.acquire(BOT) == 0
    assert second.acquire(BOT) == 0
    clock.advance(10)
    assert first.acquire(BOT) == 0
    assert second.acquire(BOT) == pytest.approx(50.0)  # the minute is full for both
    assert first.acquire(OTHER) == 0  # budgets are per bot
    clock.advance(51)
    assert second.acquire(BOT) == 0  # the fourth call of the hour
    clock.advance(60)
    assert first.acquire(BOT) == pytest.approx(3600 - 121)  # the hour is full


def test_sqlite_budget_is_shared(tmp_path: Path) -> None:
    check_shared_windows(f"sqlite:///{tmp_path / 'k.db'}")


@pytest.mark.postgres
def test_postgres_budget_is_shared(postgres_url: str) -> None:
    check_shared_windows(postgres_url)


@pytest.mark.postgres
def test_concurrent_processes_never_overspend(postgres_url: str) -> None:
    clock = Clock()
    budgets = [
        DatabaseBudget(s.kore_calls, Limits(per_minute=10), clock.now)
        for s in stores(postgres_url, 4)
    ]
    allowed: list[bool] = []
    lock = threading.Lock()

    def spend(budget: DatabaseBudget) -> None:
        for _ in range(10):
            granted = budget.acquire(BOT) == 0
            with lock:
                allowed.append(granted)

    threads = [threading.Thread(target=spend, args=(b,)) for b in budgets]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(allowed) == 40
    assert allowed.count(True) == 10


def test_the_command_line_shares_only_a_database_that_has_korebots_tables(
    tmp_path: Path,
) -> None:
    """`korebot watch` counts with the app's processes in the app's database, and alone
    where there is none: it neither creates nor migrates one."""
    migrated, empty, missing = tmp_path / "app.db", tmp_path / "empty.db", tmp_path / "no.db"
    stores(f"sqlite:///{migrated}", 1)[0].dispose()
    empty.touch()
    shared: dict[str, bool] = {}
    for path in (migrated, empty, missing):
        loaded = config.load({"DATABASE_URL": f"sqlite:///{path}"})
        with command_line_gateway(loaded) as gateway:
            shared[path.name] = isinstance(gateway.budget, DatabaseBudget)
        loaded.registry.close()
    assert shared == {"app.db": True, "empty.db": False, "no.db": False}
    assert not missing.exists()
    untouched = open_store(f"sqlite:///{empty}")
    assert inspect(untouched.engine).get_table_names() == []  # not migrated
    untouched.dispose()
