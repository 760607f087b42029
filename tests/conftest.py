"""Shared fixtures: the fakes of Kore.ai and Slack, PostgreSQL, the clock and the store.

Helpers shared by several test modules live in the `support` package (tests/support/),
importable because pyproject.toml puts tests/ on pytest's ``pythonpath``; test modules
never import one another.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from support.postgres import PostgresServer, temporary_server
from support.slack_app import BOT, OTHER_BOT
from support.store import CONTRACT_START, open_store

from korebot.testing.clock import Clock
from korebot.testing.fake_kore import FakeKore
from korebot.testing.fake_slack import FakeSlack
from korebot.watch.store import Store
from korebot.watch.store.abc import Policy

# --- Parallel runs: long work starts first, a module's app is started once -------------------
# With `-n N --dist loadgroup --no-loadscope-reorder`, idle workers take the next unit in
# collection order: a test, or a whole module where its tests share one app process
# (a module-scoped fixture that each worker would otherwise start again). The longest
# tests (as `pytest --durations` measured them: about 65, 25, 20, 20, 18, 15, 12, 10 s)
# and those modules (longest first) go first, so that none of them starts late and
# finishes alone, last.
LONGEST_FIRST = (
    "crash/test_reliability.py::test_exactly_one_final_message_per_watch_across_sigkills",
    "crash/test_reliability.py::test_several_processes_poll_each_watch_one_at_a_time_and_take_over",
    "e2e/test_benchmarks_smoke.py::test_quick_benchmarks_write_a_row_per_goal[resources]",
    "e2e/test_benchmarks_smoke.py::test_quick_benchmarks_write_a_row_per_goal[history]",
    "e2e/test_benchmarks_smoke.py::test_quick_benchmarks_write_a_row_per_goal[adaptive]",
    "e2e/test_benchmarks_smoke.py::test_quick_benchmarks_write_a_row_per_goal[ratelimit]",
    "e2e/test_benchmarks_smoke.py::test_quick_benchmarks_write_a_row_per_goal[watchers]",
    "e2e/test_benchmarks_smoke.py::test_quick_benchmarks_write_a_row_per_goal[batch]",
    "e2e/test_benchmarks_smoke.py::test_quick_benchmarks_write_a_row_per_goal[ack]",
)
#: Modules whose tests share a module-scoped app process: one worker runs each, whole.
ONE_APP_MODULES = (
    "crash/test_faults.py",
    "e2e/test_subscriptions.py",
    "e2e/test_socket_mode.py",
    "e2e/test_slack_app.py",
    "e2e/test_train_from_slack.py",
    "e2e/test_home_tab.py",
    "e2e/test_ml_training.py",
    "e2e/test_one_start.py",
    "e2e/test_batch_test.py",
    "e2e/test_publish_status.py",
    "e2e/test_release.py",
    "e2e/test_hostile_input.py",
)


def _in_tests(item: pytest.Item) -> str:
    return item.nodeid.split("tests/", 1)[-1]


@pytest.hookimpl(tryfirst=True)  # before xdist names the groups
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        module = _in_tests(item).split("::", 1)[0]
        if module in ONE_APP_MODULES:
            item.add_marker(pytest.mark.xdist_group(module))
    rank = {name: index for index, name in enumerate(LONGEST_FIRST + ONE_APP_MODULES)}

    def order(item: pytest.Item) -> int:
        name = _in_tests(item)
        return rank.get(name, rank.get(name.split("::", 1)[0], len(rank)))

    items.sort(key=order)  # stable: within a module, tests keep their order


# --- The fakes of Kore.ai and Slack, one pair per test module ---------------------------------


@pytest.fixture(scope="module")
def kore() -> Iterator[FakeKore]:
    # No rate limit: one fake serves a whole module; limits have their own tests.
    with FakeKore(bots=[BOT, OTHER_BOT], rate_limit=None) as fake:
        yield fake


@pytest.fixture(scope="module")
def slack() -> Iterator[FakeSlack]:
    with FakeSlack() as fake:
        yield fake


# --- PostgreSQL: a real server, started by the tests (tests/support/postgres.py) -------------
# `postgres` starts one server per session, so one per xdist worker (as root, as the
# `postgres` user or `nobody`); `postgres_url` gives each test its own fresh database on it.
# Mark such tests `postgres`.

_postgres_databases = itertools.count(1)


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    with temporary_server() as server:
        yield server


@pytest.fixture
def postgres_url(postgres: PostgresServer, request: pytest.FixtureRequest) -> str:
    """A new, empty database named after the test: postgresql://korebot@127.0.0.1:PORT/NAME."""
    suffix = f"_{next(_postgres_databases)}"
    name = re.sub(r"[^a-z0-9]+", "_", request.node.name.lower()).strip("_") or "test"
    return postgres.fresh_database(name[: 63 - len(suffix)] + suffix)


# --- The clock and the watch store (tests/support/store.py builds every store) ---------------


@pytest.fixture
def clock() -> Clock:
    """The time the test moves (korebot.testing.clock), from the store contract's start."""
    return Clock(CONTRACT_START)


@pytest.fixture
def make_store() -> Iterator[Callable[..., Store]]:
    """``make_store(url, upgrade=True, policy=None)``: a store the test needs on its own
    terms (several on one database, a given URL, its own policy); disposed of after."""
    made: list[Store] = []

    def make(url: str, *, upgrade: bool = True, policy: Policy | None = None) -> Store:
        made.append(open_store(url, upgrade=upgrade, policy=policy))
        return made[-1]

    yield make
    for store in reversed(made):
        store.dispose()


def contract_policy(clock: Clock) -> Policy:
    """The store contract's settings: short limits, leases and paces the tests count on."""
    return Policy(
        watch_timeout=3600,
        max_watches_per_channel=2,
        poll_lease=5,
        delivery_lease=30,
        pace=lambda _running_for, watched, _usual: 30.0 if watched else 60.0,
        clock=clock.now,
    )


@pytest.fixture(
    params=["sqlite-file", "sqlite-memory", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh database of each kind the store runs on."""
    if request.param == "sqlite-file":
        return f"sqlite:///{tmp_path / 'korebot.db'}"
    if request.param == "sqlite-memory":
        return "sqlite://"
    return str(request.getfixturevalue("postgres_url"))


@pytest.fixture
def store(store_url: str, clock: Clock, make_store: Callable[..., Store]) -> Store:
    """The one store fixture: migrated, on the test's clock, on each database in turn."""
    return make_store(store_url, policy=contract_policy(clock))
