"""``korebot train``: one POST that starts an FAQ or ML training of the configured version,
then, with ``--watch``, the wait ``korebot watch`` does."""

from __future__ import annotations

from typing import Annotated

import typer

from korebot.cli.common import (
    BotArg,
    Exit,
    IntervalOpt,
    KindOpt,
    LangArg,
    TimeoutOpt,
    TrainingKind,
    _ask,
    _loaded,
    _target,
    out,
)
from korebot.cli.watch import _watch
from korebot.kore import Kind, State, Status, kinds


def register(app: typer.Typer) -> None:
    """Add ``korebot train`` to the app."""
    app.command(epilog="Example: korebot train support en --kind ml --watch --timeout 1800")(train)


def train(
    bot: BotArg,
    language: LangArg = None,
    kind: KindOpt = TrainingKind.FAQ,
    wait: Annotated[
        bool, typer.Option("--watch", help="Wait for the training to end, like `korebot watch`.")
    ] = False,
    interval: IntervalOpt = 10.0,
    timeout: TimeoutOpt = 3600.0,
) -> None:
    """Start an FAQ (or ML) training of the configured version and optionally wait for it."""
    with _loaded() as loaded:
        target, lang = _target(loaded.registry, bot, language)
        client = loaded.registry.client(target)
        training = Kind(kind.value)
        result = _ask(lambda: client.start_training(target.bot_id, lang, training))
        what = kinds.spec(training).label
        out.print(f"Started {what} training of {target.label} ({lang}): {result.message}")
        if result.status is Status.FAILURE:
            raise typer.Exit(Exit.FAILURE)
        if wait:
            _watch(loaded, target, lang, State.CONFIGURED, interval, timeout, training)
        raise typer.Exit(Exit.SUCCESS)
