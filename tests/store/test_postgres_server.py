"""The tests' own PostgreSQL server runs from the wheel's programs, with no system install."""

from __future__ import annotations

import psycopg
import pytest
from support.postgres import find_bindir, temporary_server


@pytest.mark.postgres
def test_server_from_the_wheel_alone() -> None:
    # The system's programs, when installed, would be found first: skip them here, so this
    # proves what a machine without PostgreSQL gets.
    bindir = find_bindir(system=False)
    assert "site-packages" in bindir.parts
    with temporary_server(bindir) as server, psycopg.connect(server.url) as connection:
        version = connection.execute("SELECT version()").fetchone()
        assert version is not None
        assert str(version[0]).startswith("PostgreSQL ")
        # PL/pgSQL is a library the server loads from its own files (tests use it).
        connection.execute(
            "CREATE FUNCTION one() RETURNS int LANGUAGE plpgsql AS $$ BEGIN RETURN 1; END $$"
        )
        assert connection.execute("SELECT one()").fetchone() == (1,)
