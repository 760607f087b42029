"""``korebot status``: a bot's FAQ or ML training status, one call, shown as text or JSON;
with ``--kind publish``, its latest publish (``korebot.cli.publish`` shows it)."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

import typer

from korebot.cli.common import (
    BotArg,
    Exit,
    _ask,
    _exit_code,
    _fail,
    _plain,
    _registry,
    _show,
    _target,
)
from korebot.cli.publish import _publish_status
from korebot.kore import Kind, State


class StatusKind(StrEnum):
    """The kinds ``status`` takes: the trainings, and the bot's latest publish."""

    FAQ = Kind.FAQ.value
    ML = Kind.ML.value
    PUBLISH = Kind.PUBLISH.value


def register(app: typer.Typer) -> None:
    """Add ``korebot status`` to the app."""
    app.command(
        epilog="Example: korebot status support en --state published --kind ml --json\n\n"
        "korebot status support --kind publish (no language: a publish is the whole bot's)"
    )(status)


def status(
    bot: BotArg,
    language: Annotated[
        str | None,
        typer.Argument(
            help="Language code, e.g. en. Default: the bot's first configured language. "
            "Give none for --kind publish."
        ),
    ] = None,
    state: Annotated[
        State | None,
        typer.Option(
            "--state",
            "-s",
            help="configured (in development, the default) or published. Not for --kind "
            "publish (a publish is of the published version).",
            show_default=False,
        ),
    ] = None,
    kind: Annotated[
        StatusKind,
        typer.Option(
            "--kind",
            "-k",
            help="faq (FAQ training), ml (the ML model's training) or publish (the bot's "
            "latest publish; needs its Admin Console app).",
        ),
    ] = StatusKind.FAQ,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")] = False,
) -> None:
    """Print the FAQ (or, with --kind ml, ML) training status of a bot, or (--kind publish)
    its latest publish: exit 0 succeeded, 1 failed, 3 still in progress, 4 Kore.ai error."""
    if kind is StatusKind.PUBLISH:
        if language is not None:
            _fail(
                Exit.USAGE,
                f"A publish is the whole bot's, in every language: give no language "
                f"(`korebot status {_plain(bot)} --kind publish`).",
            )
        if state is not None:
            _fail(
                Exit.USAGE,
                "--state is not for --kind publish: a publish is of the published version.",
            )
        _publish_status(bot, as_json)
    training = Kind(kind.value)
    version = state or State.CONFIGURED
    with _registry() as registry:
        target, lang = _target(registry, bot, language)
        client = registry.client(target)
        result = _ask(lambda: client.training_status(target.bot_id, lang, version, training))
        _show(target, lang, version, result, as_json)
        raise typer.Exit(_exit_code(result))
