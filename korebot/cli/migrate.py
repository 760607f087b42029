"""``korebot migrate``: the database (DATABASE_URL) upgraded to this version's schema, or
with ``--sql`` the SQL printed (``korebot.watch.store.migrate`` does the work)."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from korebot import config as config_module
from korebot.cli.common import Exit, _fail, out


def register(app: typer.Typer) -> None:
    """Add ``korebot migrate`` to the app."""
    app.command(epilog="Example: korebot migrate --sql")(migrate)


def migrate(
    sql: Annotated[
        bool,
        typer.Option(
            "--sql",
            help="Print the SQL instead of running it, from the revision the database is at "
            "(read, never written; a database from before korebot used Alembic: the revision "
            "its tables match; an empty one or a missing SQLite file: from nothing).",
        ),
    ] = False,
) -> None:
    """Upgrade the database (DATABASE_URL) to this version's schema.

    The app does it too when it starts; on Heroku the release phase runs it first.
    Exit 2 if the database is unreachable or at a revision this version does not know.
    """
    # Imported here: Alembic and SQLAlchemy, which the other commands skip.
    from korebot.watch.store import migrate

    try:
        loaded = config_module.load()
    except config_module.ConfigError as error:
        _fail(Exit.USAGE, str(error))
    loaded.registry.close()  # only the database is needed
    try:
        if sql:
            migrate.print_sql(loaded.settings.database_url, sys.stdout)
        else:
            out.print(str(migrate.migrate(loaded.settings.database_url)), markup=False)
    except migrate.SchemaError as error:
        _fail(Exit.USAGE, str(error))
    raise typer.Exit(Exit.SUCCESS)
