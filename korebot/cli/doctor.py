"""``korebot doctor``: the configuration, each bot's credentials and scopes, the Slack token
and the database checked (``korebot.doctor`` runs the checks), each printed as it ends."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer

from korebot import config as config_module
from korebot.cli.common import Exit, _closing, out

if TYPE_CHECKING:
    from korebot.doctor import Check


def register(app: typer.Typer) -> None:
    """Add ``korebot doctor`` to the app."""
    app.command(epilog="Example: korebot doctor")(doctor)


def doctor() -> None:
    """Check the configuration, each bot's credentials and scopes (Train FAQ, Train ML), the
    Slack token and the database."""
    # Imported here: it pulls in slack_sdk and SQLAlchemy, which the other commands skip.
    from korebot.doctor import Check
    from korebot.doctor import run as run_checks

    try:
        loaded = config_module.load()
    except config_module.ConfigError as error:
        checks = [Check("Configuration", problem, False) for problem in error.problems]
        _print_checks(checks)
        raise typer.Exit(Exit.USAGE) from None
    with _closing(loaded.registry):
        checks = []
        for check in run_checks(loaded):
            _print_checks([check])
            checks.append(check)
    raise typer.Exit(Exit.FAILURE if any(c.ok is False for c in checks) else Exit.SUCCESS)


def _print_checks(checks: list[Check]) -> None:
    marks = {True: "[green]✔[/]", False: "[red]✘[/]", None: "[dim]-[/]"}
    for check in checks:
        out.print(f"{marks[check.ok]} {check.what}: ", end="", markup=True)
        out.print(check.detail, markup=False)
