"""``korebot demo``: the scripted local run of the Slack app against the fakes
(``korebot.demo`` runs it), its transcript printed."""

from __future__ import annotations

from typing import Annotated

import typer

from korebot.cli.common import err, out


def register(app: typer.Typer) -> None:
    """Add ``korebot demo`` to the app."""
    app.command(epilog="Example: korebot demo")(demo)


def demo(
    interval: Annotated[
        float, typer.Option(min=0.1, help="Seconds between the app's status checks.")
    ] = 1.0,
    steps: Annotated[
        int,
        typer.Option(min=0, max=20, help="Status checks that find the training in progress."),
    ] = 3,
) -> None:
    """See the Slack app work, with no Slack or Kore.ai account: a local, scripted run.

    Starts the real app against built-in stand-ins for Slack and Kore.ai, sends it a
    signed /faq-status and prints the conversation. Exit 0 if it completed, 1 if not.
    """
    from korebot.demo import run_demo  # the fakes are only needed here

    code = run_demo(
        steps=steps,
        interval=interval,
        echo=lambda line: out.print(line, markup=False, emoji=False),
        error=lambda line: err.print(line, markup=False, emoji=False),
    )
    raise typer.Exit(code)
