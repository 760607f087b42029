"""Builds korebot's side of Kore.ai from the configuration: the per-bot budget, the gateway.

Shared by the app (``korebot.runtime``), the tests and ``korebot watch``; it imports no
Slack code, so the command line starts quickly.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

from sqlalchemy import inspect
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from korebot.config import Config
from korebot.gateway import Budget, Limits, StatusGateway
from korebot.watch.store import Store
from korebot.watch.store.database import database_url
from korebot.watch.store.kore_calls import DatabaseBudget
from korebot.watch.store.tables import KoreCall
from korebot.watch.types import now


def limits(config: Config) -> Limits:
    settings = config.settings
    return Limits(settings.korebot_kore_calls_per_minute, settings.korebot_kore_calls_per_hour)


def shared_budget(
    config: Config, store: Store, clock: Callable[[], datetime] = now
) -> DatabaseBudget:
    """Kore.ai's per-bot budget in the database, shared by every process using it."""
    return DatabaseBudget(store.kore_calls, limits(config), clock)


def status_gateway(
    config: Config, budget: Budget | None = None, clock: Callable[[], float] = time.monotonic
) -> StatusGateway:
    """The one door to Kore.ai (without ``budget``: this process's own budget)."""
    return StatusGateway(
        config.registry,
        fresh_for=config.settings.korebot_status_cache,
        limits=limits(config),
        clock=clock,
        budget=budget,
    )


@contextmanager
def command_line_gateway(config: Config) -> Iterator[StatusGateway]:
    """The gateway for ``korebot watch``: the app's, with the app's per-bot budget.

    The budget is the database's (shared with the app's processes) when DATABASE_URL's
    database is reachable and already has korebot's tables; otherwise (no such SQLite
    file, unreachable, never migrated) this process counts alone, with the same limits.
    A watch from the command line never creates or migrates a database.
    """
    store = _existing_store(config.settings.database_url)
    try:
        budget = None if store is None else shared_budget(config, store)
        yield status_gateway(config, budget)
    finally:
        if store is not None:
            store.dispose()


def _existing_store(url: str) -> Store | None:
    try:
        parsed = make_url(database_url(url))
        if parsed.get_backend_name() == "sqlite" and not Path(parsed.database or "").is_file():
            return None  # connecting would create it
        store = Store(url)
    except (SQLAlchemyError, ValueError, ImportError):  # no URL, or no driver for it
        return None
    try:
        if inspect(store.engine).has_table(KoreCall.__tablename__):
            return store
    except SQLAlchemyError:
        pass  # unreachable: DatabaseBudget would fall back on every call; start local
    store.dispose()
    return None
