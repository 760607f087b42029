"""The tests' own PostgreSQL server runs from the wheel's programs, with no system install."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest
from postgres import PostgresServer, find_bindir


@pytest.mark.postgres
def test_server_from_the_wheel_alone(tmp_path: Path) -> None:
    # The system's programs, when installed, would be found first: skip them here, so this
    # proves what a machine without PostgreSQL gets.
    bindir = find_bindir(system=False)
    assert "site-packages" in bindir.parts
    server = PostgresServer(tmp_path, bindir=bindir).start()
    try:
        with psycopg.connect(server.url) as connection:
            version = connection.execute("SELECT version()").fetchone()
            assert version is not None
            assert str(version[0]).startswith("PostgreSQL ")
            connection.execute("CREATE TABLE t (id serial PRIMARY KEY)")
            connection.execute("INSERT INTO t DEFAULT VALUES")
            assert connection.execute("SELECT count(*) FROM t").fetchone() == (1,)
    finally:
        server.stop()
