"""``korebot watch``: status checks until a training ends, spending the bot's budget as the
app does; ``_watch`` is also what ``korebot train --watch`` waits with."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import NoReturn

import typer

from korebot import config as config_module
from korebot.cli.common import (
    BotArg,
    Exit,
    IntervalOpt,
    KindOpt,
    LangArg,
    StateOpt,
    TimeoutOpt,
    TrainingKind,
    _elapsed,
    _exit_code,
    _fail,
    _loaded,
    _show,
    _target,
    err,
    out,
)
from korebot.kore import InvalidInput, JobStatus, Kind, KoreError, State, Status, UnreadableResponse
from korebot.registry import Bot


def register(app: typer.Typer) -> None:
    """Add ``korebot watch`` to the app."""
    app.command(epilog="Example: korebot watch support en --kind ml --interval 10 --timeout 1800")(
        watch
    )


def watch(
    bot: BotArg,
    language: LangArg = None,
    state: StateOpt = State.CONFIGURED,
    kind: KindOpt = TrainingKind.FAQ,
    interval: IntervalOpt = 10.0,
    timeout: TimeoutOpt = 3600.0,
) -> None:
    """Wait until the FAQ (or ML) training ends; exit 0 if it succeeded, 1 if it failed."""
    with _loaded() as loaded:
        target, lang = _target(loaded.registry, bot, language)
        _watch(loaded, target, lang, state, interval, timeout, Kind(kind.value))


def _watch(
    loaded: config_module.Config,
    bot: Bot,
    lang: str,
    state: State,
    interval: float,
    timeout: float,
    kind: Kind = Kind.FAQ,
) -> NoReturn:
    # Imported here: SQLAlchemy, for the budget shared with the app; the others skip it.
    from korebot.gateway import BudgetExhausted
    from korebot.wiring import command_line_gateway

    started = time.monotonic()
    deadline = started + timeout
    last: JobStatus | None = None
    last_line = 0.0
    live = out.is_terminal
    with (
        command_line_gateway(loaded) as gateway,
        out.status("Checking…") if live else _nothing() as spinner,
    ):
        while True:
            pause = interval
            try:
                result = gateway.status(bot, lang, state, "poll", kind).status
            except InvalidInput as error:
                _fail(Exit.USAGE, str(error))
            except KoreError as error:
                # As the app's watches: an odd body is a passing fault, until the timeout.
                if not (error.transient or isinstance(error, UnreadableResponse)):
                    _fail(Exit.KORE_ERROR, str(error))
                if isinstance(error, BudgetExhausted):
                    pause = max(interval, error.retry_after)
                err.print(f"korebot: {error} Still watching.", markup=False)
            else:
                if result.status is not Status.IN_PROGRESS:
                    break
                changed = last is None or result.raw_status != last.raw_status
                last = result
                now = time.monotonic()
                line = f"[{_elapsed(now - started)}] {bot.name} ({lang}): {result.raw_status}"
                if spinner is not None:
                    spinner.update(line)
                elif changed or now - last_line >= 60:
                    out.print(line)
                    last_line = now
            if time.monotonic() + pause > deadline:
                seen = last.raw_status if last else "nothing"
                _fail(Exit.IN_PROGRESS, f"Gave up after {_elapsed(timeout)}; last status: {seen}.")
            time.sleep(pause)
    _show(bot, lang, state, result, as_json=False)
    raise typer.Exit(_exit_code(result))


@contextmanager
def _nothing() -> Iterator[None]:
    yield None
