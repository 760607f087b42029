"""What several ``korebot`` commands share: the exit codes and ``_fail`` (what every
error goes through), the output consoles, the arguments and options more than one command
takes, loading the configuration and finding a bot (and its language, bar, Admin Console
app), asking Kore.ai once and polling it (with the bot's budget), and the words every
command uses: a training status shown, times and durations, text made plain."""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from enum import IntEnum, StrEnum
from typing import Annotated, NoReturn, TypeVar

import typer
from rich.console import Console
from rich.table import Table

from korebot import config as config_module
from korebot.kore import (
    InvalidInput,
    JobStatus,
    Kind,
    KoreError,
    State,
    Status,
    UnreadableResponse,
    kinds,
)
from korebot.kore.errors import BudgetExhausted
from korebot.kore.kinds import batch, publish
from korebot.kore.kinds.ml import part_names
from korebot.registry import Bot, BotRegistry

_T = TypeVar("_T")


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


class TrainingKind(StrEnum):
    """The kinds ``watch`` and ``train`` take: trainings."""

    FAQ = Kind.FAQ.value
    ML = Kind.ML.value


KindOpt = Annotated[
    TrainingKind,
    typer.Option("--kind", "-k", help="faq (FAQ training) or ml (the ML model's training)."),
]
IntervalOpt = Annotated[float, typer.Option(min=0.1, help="Seconds between status checks.")]
TimeoutOpt = Annotated[
    float, typer.Option(min=0.1, help="Give up (exit 3) after this many seconds.")
]
MinF1Opt = Annotated[
    float | None,
    typer.Option(
        help="Fail (exit 1) below this F1, 0 to 1. Default: the bot's min_f1 in the "
        "TOML file, else KOREBOT_MIN_F1; unset: no bar."
    ),
]
MaxDropOpt = Annotated[
    float | None,
    typer.Option(
        help="Fail (exit 1) when F1 falls more than this below the previous completed "
        "run's (same suite, language and version). Default: the bot's max_f1_drop, else "
        "KOREBOT_MAX_F1_DROP (0.02)."
    ),
]


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


def _bot(registry: BotRegistry, name: str) -> Bot:
    try:
        return registry.resolve(name)
    except InvalidInput as error:
        _fail(Exit.USAGE, str(error))


def _target(registry: BotRegistry, name: str, language: str | None) -> tuple[Bot, str]:
    bot = _bot(registry, name)
    if language is None:
        if not bot.languages:
            _fail(Exit.USAGE, f"Give a language, e.g. `korebot status {bot.name} en`.")
        language = bot.languages[0]
    return bot, language


def _checked(check: Callable[[], _T]) -> _T:
    """What the check gives, or exit 2 saying why the input was rejected."""
    try:
        return check()
    except InvalidInput as error:
        _fail(Exit.USAGE, str(error))


def _check_fractions(min_f1: float | None, max_drop: float | None) -> None:
    for name, number in (("--min-f1", min_f1), ("--max-drop", max_drop)):
        if number is not None and not (math.isfinite(number) and 0 <= number <= 1):
            _fail(Exit.USAGE, f"{name} must be a number from 0 to 1, not {number}.")


def _with_language(registry: BotRegistry, name: str, lang: str) -> Bot:
    """The bot, if the language is one of its configured ones (or it has none listed)."""
    target = _bot(registry, name)
    if target.languages and lang not in target.languages:
        _fail(
            Exit.USAGE,
            f"{target.name} has no language {lang!r} configured; its languages: "
            f"{', '.join(target.languages)}.",
        )
    return target


def _bar(
    loaded: config_module.Config, bot: Bot, min_f1: float | None, max_drop: float | None
) -> batch.Bar:
    """The bot's bar (``Config.bar``), with --min-f1 and --max-drop over it."""
    default = loaded.bar(bot)
    return batch.Bar(
        min_f1=default.min_f1 if min_f1 is None else min_f1,
        max_drop=default.max_drop if max_drop is None else max_drop,
    )


def _version_comment(comment: str) -> str:
    """--comment as publish.version_comment takes it, else exit 2 saying why."""
    try:
        return publish.version_comment(comment)
    except InvalidInput as error:
        _fail(Exit.USAGE, f"--comment: {error}")


def _admin_app(registry: BotRegistry, bot: Bot) -> None:
    """Exit 2 (saying what to set) unless the bot has its Admin Console app, which
    publishing needs; nothing is sent."""
    _checked(lambda: registry.client(bot, admin=True))  # AdminCredentialsMissing


def _ask(call: Callable[[], _T]) -> _T:
    try:
        return call()
    except InvalidInput as error:
        _fail(Exit.USAGE, str(error))
    except KoreError as error:
        _fail(Exit.KORE_ERROR, str(error))


def _poll(call: Callable[[], _T]) -> _T | None:
    """One status check of a wait: its answer, or None after a passing fault (said on
    stderr; as the app's watches, an odd body passes too, until the timeout). Exit 2 for
    rejected input, 4 for a lasting Kore.ai error; BudgetExhausted is raised."""
    try:
        return call()
    except BudgetExhausted:
        raise
    except InvalidInput as error:
        _fail(Exit.USAGE, str(error))
    except KoreError as error:
        if not (error.transient or isinstance(error, UnreadableResponse)):
            _fail(Exit.KORE_ERROR, str(error))
        err.print(f"korebot: {error} Still waiting.", markup=False, emoji=False)
        return None


def _within(deadline: float, call: Callable[[], _T]) -> _T:
    """``call``'s answer, waiting for the bot's budget while the deadline allows (then
    BudgetExhausted); any other KoreError as raised."""
    while True:
        try:
            return call()
        except BudgetExhausted as error:
            if time.monotonic() + error.retry_after > deadline:
                raise
            time.sleep(error.retry_after)


def _plain(text: str) -> str:
    """Text from Kore.ai or a user, one line and without control characters."""
    return "".join(ch if ch.isprintable() else "?" for ch in text)


def _show(bot: Bot, lang: str, state: State, result: JobStatus, as_json: bool) -> None:
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


def _exit_code(result: JobStatus) -> Exit:
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


class _Failed(typer.Exit):
    """What ``_fail`` raises: the exit code, and the message said (``headline``: what
    ``korebot release`` says of the step it ended)."""

    def __init__(self, code: Exit, message: str, headline: str | None = None) -> None:
        super().__init__(code)
        self.code, self.message, self.headline = code, message, headline


#: True while ``korebot release`` runs a step: it says the step's errors itself.
_HELD: ContextVar[bool] = ContextVar("korebot_cli_held", default=False)


def _fail(code: Exit, message: str) -> NoReturn:
    if not _HELD.get():
        err.print(f"korebot: {message}", markup=False)
    raise _Failed(code, message)
