"""Shared fixtures."""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator

import pytest
from postgres import PostgresServer, temporary_server
from slack_app import BOT, OTHER_BOT

from korebot.testing.fake_kore import FakeKore
from korebot.testing.fake_slack import FakeSlack

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


# --- PostgreSQL: a real server, started by the tests (tests/postgres.py) ----------------------
# `postgres` starts one server per session (as root, as the `postgres` user or `nobody`);
# `postgres_url` gives each test its own fresh database on it. Mark such tests `postgres`.

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


# --- end of PostgreSQL ------------------------------------------------------------------------
