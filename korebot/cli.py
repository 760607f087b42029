"""The ``korebot`` command: FAQ and ML training status for humans and release pipelines.

Exit codes: 0 training succeeded, 1 training failed, 2 usage or configuration
error, 3 still in progress (or watch timed out), 4 Kore.ai error.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from enum import IntEnum
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer
from rich.console import Console
from rich.table import Table

from korebot import config as config_module
from korebot.kore import (
    InvalidInput,
    Kind,
    KoreError,
    State,
    Status,
    TrainingStatus,
    UnreadableResponse,
    kinds,
)
from korebot.kore.kinds.ml import part_names
from korebot.registry import Bot, BotRegistry

if TYPE_CHECKING:
    from korebot.doctor import Check


class Exit(IntEnum):
    SUCCESS = 0
    FAILURE = 1
    USAGE = 2
    IN_PROGRESS = 3
    KORE_ERROR = 4


_MARKS = {
    Status.SUCCESS: ("✔", "green"),
    Status.FAILURE: ("✘", "red"),
    Status.IN_PROGRESS: ("…", "yellow"),
    Status.UNKNOWN: ("?", "magenta"),
}

app = typer.Typer(
    name="korebot",
    help="Kore.ai FAQ and ML training status: check it, wait for it, start it.\n\n"
    "Exit codes: 0 succeeded, 1 failed, 2 usage or configuration error, "
    "3 still in progress (or timed out), 4 Kore.ai error.",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode="rich",
    context_settings={"help_option_names": ["-h", "--help"]},
)
out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)

BotArg = Annotated[str, typer.Argument(help="A configured alias (KOREBOT_BOTS) or a bot ID st-….")]
LangArg = Annotated[
    str | None,
    typer.Argument(help="Language code, e.g. en. Default: the bot's first configured language."),
]
StateOpt = Annotated[
    State,
    typer.Option("--state", "-s", help="configured (in development) or published."),
]
KindOpt = Annotated[
    Kind,
    typer.Option("--kind", "-k", help="faq (FAQ training) or ml (the ML model's training)."),
]
IntervalOpt = Annotated[float, typer.Option(min=0.1, help="Seconds between status checks.")]
TimeoutOpt = Annotated[
    float, typer.Option(min=0.1, help="Give up (exit 3) after this many seconds.")
]


def main() -> None:
    """Console-script entry point."""
    logging.basicConfig(level=logging.WARNING, format="korebot: %(message)s")
    app()


@app.command(epilog="Example: korebot status support en --state published --kind ml --json")
def status(
    bot: BotArg,
    language: LangArg = None,
    state: StateOpt = State.CONFIGURED,
    kind: KindOpt = Kind.FAQ,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")] = False,
) -> None:
    """Print the FAQ (or, with --kind ml, ML) training status of a bot."""
    with _registry() as registry:
        target, lang = _target(registry, bot, language)
        client = registry.client(target)
        result = _ask(lambda: client.training_status(target.bot_id, lang, state, kind))
        _show(target, lang, state, result, as_json)
        raise typer.Exit(_exit_code(result))


@app.command(epilog="Example: korebot watch support en --kind ml --interval 10 --timeout 1800")
def watch(
    bot: BotArg,
    language: LangArg = None,
    state: StateOpt = State.CONFIGURED,
    kind: KindOpt = Kind.FAQ,
    interval: IntervalOpt = 10.0,
    timeout: TimeoutOpt = 3600.0,
) -> None:
    """Wait until the FAQ (or ML) training ends; exit 0 if it succeeded, 1 if it failed."""
    with _loaded() as loaded:
        target, lang = _target(loaded.registry, bot, language)
        _watch(loaded, target, lang, state, interval, timeout, kind)


@app.command(epilog="Example: korebot train support en --kind ml --watch --timeout 1800")
def train(
    bot: BotArg,
    language: LangArg = None,
    kind: KindOpt = Kind.FAQ,
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
        result = _ask(lambda: client.start_training(target.bot_id, lang, kind))
        what = kinds.spec(kind).label
        out.print(f"Started {what} training of {target.label} ({lang}): {result.message}")
        if result.status is Status.FAILURE:
            raise typer.Exit(Exit.FAILURE)
        if wait:
            _watch(loaded, target, lang, State.CONFIGURED, interval, timeout, kind)
        raise typer.Exit(Exit.SUCCESS)


@app.command(epilog="Example: korebot doctor")
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


@app.command(epilog="Example: korebot migrate --sql")
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


@app.command(epilog="Example: korebot demo")
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


@contextmanager
def _loaded() -> Iterator[config_module.Config]:
    try:
        loaded = config_module.load()
    except config_module.ConfigError as error:
        _fail(Exit.USAGE, str(error))
    with _closing(loaded.registry):
        yield loaded


@contextmanager
def _registry() -> Iterator[BotRegistry]:
    with _loaded() as loaded:
        yield loaded.registry


@contextmanager
def _closing(registry: BotRegistry) -> Iterator[None]:
    try:
        yield
    finally:
        registry.close()


def _target(registry: BotRegistry, name: str, language: str | None) -> tuple[Bot, str]:
    try:
        bot = registry.resolve(name)
    except InvalidInput as error:
        _fail(Exit.USAGE, str(error))
    if language is None:
        if not bot.languages:
            _fail(Exit.USAGE, f"Give a language, e.g. `korebot status {bot.name} en`.")
        language = bot.languages[0]
    return bot, language


def _ask(call: Callable[[], TrainingStatus]) -> TrainingStatus:
    try:
        return call()
    except InvalidInput as error:
        _fail(Exit.USAGE, str(error))
    except KoreError as error:
        _fail(Exit.KORE_ERROR, str(error))


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
    last: TrainingStatus | None = None
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


def _show(bot: Bot, lang: str, state: State, result: TrainingStatus, as_json: bool) -> None:
    if as_json:
        data = {"bot": bot.name, "bot_id": bot.bot_id, "language": lang, "state": state.value}
        out.print_json(json.dumps(data | result.as_dict()))
        return
    mark, colour = _MARKS[result.status]
    grid = Table.grid(padding=(0, 2))
    grid.add_row("Bot", bot.label)
    grid.add_row("Training", kinds.spec(result.kind).label)
    grid.add_row("Language", f"{lang} ({state.value})")
    grid.add_row("Status", f"[{colour}]{mark} {result.raw_status}[/]")
    grid.add_row("Message", result.message)
    if result.modified_on:
        grid.add_row("Changed", f"{_when(result.modified_on)}")
    if result.modified_by:
        grid.add_row("By", result.modified_by)
    if result.training_id:
        grid.add_row("Training ID", result.training_id)
    if result.train_version is not None:
        grid.add_row("Model version", str(result.train_version))
    if result.out_of_sync:
        grid.add_row("Out of sync", ", ".join(part_names(result.out_of_sync)))
    out.print(grid)
    if result.status is Status.UNKNOWN:
        err.print(f"korebot: Kore.ai reported an unknown status {result.raw_status!r}.")


def _exit_code(result: TrainingStatus) -> Exit:
    return {
        Status.SUCCESS: Exit.SUCCESS,
        Status.FAILURE: Exit.FAILURE,
        Status.IN_PROGRESS: Exit.IN_PROGRESS,
        Status.UNKNOWN: Exit.KORE_ERROR,
    }[result.status]


def _when(moment: datetime) -> str:
    ago = datetime.now(UTC) - moment
    stamp = moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    return f"{stamp} ({_elapsed(ago.total_seconds())} ago)" if ago.total_seconds() >= 0 else stamp


def _elapsed(seconds: float) -> str:
    seconds = int(seconds)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}h{minutes:02d}m{secs:02d}s" if hours else f"{minutes}m{secs:02d}s"


def _fail(code: Exit, message: str) -> NoReturn:
    err.print(f"korebot: {message}", markup=False)
    raise typer.Exit(code)


if __name__ == "__main__":
    main()
