"""The ``korebot`` command: FAQ and ML training status for humans and release pipelines,
batch tests (``korebot test``: does the bot still understand people?), publishing
(``korebot publish``, ``korebot status BOT --kind publish``) and all of it in one
(``korebot release``: train, gate, publish, live).

Exit codes: 0 training succeeded (a batch test passed, the bot was published, a release is
live), 1 training failed (a batch test failed or fell below the bar, the publish failed, a
release step or its gate failed), 2 usage or configuration error, 3 still in progress (or
timed out; a publish's dialogs await approval), 4 Kore.ai error.
"""

from __future__ import annotations

import logging

import typer

from korebot.cli import demo, doctor, migrate, publish, release, status, test, train, watch

app = typer.Typer(
    name="korebot",
    help="Kore.ai FAQ and ML training status: check it, wait for it, start it; batch "
    "tests (`korebot test`): does the bot still understand people?; publishing "
    "(`korebot publish`, `korebot status BOT --kind publish`); and all of it in one "
    "(`korebot release`: train, gate, publish, live).\n\n"
    "Exit codes: 0 succeeded, 1 failed, 2 usage or configuration error, "
    "3 still in progress (or timed out; a publish awaiting approval), 4 Kore.ai error.",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode="rich",
    context_settings={"help_option_names": ["-h", "--help"]},
)

# One module a command, registered in the order `korebot --help` lists them.
for command in (status, watch, train, test, publish, release, doctor, migrate, demo):
    command.register(app)


def main() -> None:
    """Console-script entry point."""
    logging.basicConfig(level=logging.WARNING, format="korebot: %(message)s")
    app()
