"""How the tests build a watch store: the one place that knows the store's class and set-up.

Every test gets its store from here, through the fixtures of tests/conftest.py (``store``,
parametrized over SQLite in a file, SQLite in memory and PostgreSQL; ``make_store`` for a
store on a given URL or with its own policy) or, inside a helper class, ``open_store``.
When the store's module or class changes, this file changes, not the tests.
"""

from __future__ import annotations

from datetime import UTC, datetime

from korebot.kore import Credentials, JobStatus, State
from korebot.registry import Bot, JobKey
from korebot.watch.store import Store, abc, migrate
from korebot.watch.store.abc import Policy
from korebot.watch.types import WatchRequest

#: Where the store contract's clock starts (korebot.testing.clock.Clock(start=…)).
CONTRACT_START = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)

BOT = Bot("st-contract", "support", "https://bots.kore.ai", Credentials("cs-1", "secret"))
KEY = JobKey.of(BOT, "en", State.CONFIGURED)


def open_store(url: str, *, upgrade: bool = False, policy: Policy | None = None) -> Store:
    """A store on `url`; its tables migrated to the newest revision if `upgrade`; `policy`
    configured if given. The caller disposes of it (``store.dispose()``)."""
    store = Store(url)
    if upgrade:
        migrate.upgrade(store.engine)
    if policy is not None:
        store.configure(policy)
    return store


def status(raw: str, run: str = "run-1") -> JobStatus:
    return JobStatus.from_json({"status": raw, "message": raw, "_id": run})


def ask(store: abc.Store, channel: str = "C0ONE", user: str = "U0ONE") -> int:
    request = WatchRequest("T0TEAM", channel, user, BOT, "en", State.CONFIGURED)
    joined = store.watches.join_watch(request, status("in-progress"))
    if joined.lease is not None:  # post its message, as the commands do
        store.watches.record_thread(joined.lease, (channel, "1.000"), release=True)
    return joined.view.watch_id
