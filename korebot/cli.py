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

import json
import logging
import math
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from enum import IntEnum, StrEnum
from typing import TYPE_CHECKING, Annotated, NoReturn, TypeVar

import typer
from rich.console import Console
from rich.table import Table

from korebot import config as config_module
from korebot.kore import (
    InvalidInput,
    JobStatus,
    Kind,
    KoreClient,
    KoreError,
    KoreUnavailable,
    KoreUnreachable,
    State,
    Status,
    UnreadableResponse,
    kinds,
    validation,
)
from korebot.kore.errors import BudgetExhausted
from korebot.kore.kinds import batch, publish
from korebot.kore.kinds.ml import part_names
from korebot.kore.models import TRAININGS
from korebot.registry import Bot, BotRegistry

if TYPE_CHECKING:
    from korebot.doctor import Check
    from korebot.gateway import StatusGateway


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


class StatusKind(StrEnum):
    """The kinds ``status`` takes: the trainings, and the bot's latest publish."""

    FAQ = Kind.FAQ.value
    ML = Kind.ML.value
    PUBLISH = Kind.PUBLISH.value


KindOpt = Annotated[
    TrainingKind,
    typer.Option("--kind", "-k", help="faq (FAQ training) or ml (the ML model's training)."),
]
#: ``korebot publish``'s version comment when none is given.
DEFAULT_COMMENT = "Published from the korebot CLI"
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


def main() -> None:
    """Console-script entry point."""
    logging.basicConfig(level=logging.WARNING, format="korebot: %(message)s")
    app()


@app.command(
    epilog="Example: korebot status support en --state published --kind ml --json\n\n"
    "korebot status support --kind publish (no language: a publish is the whole bot's)"
)
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


@app.command(epilog="Example: korebot watch support en --kind ml --interval 10 --timeout 1800")
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


@app.command(epilog="Example: korebot train support en --kind ml --watch --timeout 1800")
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


@app.command(
    "test",
    epilog='Example: korebot test support en "smoke tests" --min-f1 0.85 --max-drop 0.03 --json',
)
def batch_test(
    bot: BotArg,
    language: Annotated[str, typer.Argument(help="Language code of the run, e.g. en.")],
    suite: Annotated[
        str,
        typer.Argument(
            help="The batch test suite's name (Kore.ai: Testing > Batch Testing); quote it "
            "if it has spaces."
        ),
    ],
    version: Annotated[
        State,
        typer.Option("--version", help="configured (the in-development version) or published."),
    ] = State.CONFIGURED,
    min_f1: MinF1Opt = None,
    max_drop: MaxDropOpt = None,
    no_wait: Annotated[
        bool, typer.Option("--no-wait", help="Start the run, print its request ID, exit 3.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    interval: IntervalOpt = 10.0,
    timeout: TimeoutOpt = 3600.0,
) -> None:
    """Run a batch test suite and judge its F1: exit 0 if it passed, 1 if the run failed or
    fell below the bar (saying which), 3 if still running (--no-wait, --timeout)."""
    _check_fractions(min_f1, max_drop)
    name, lang = _checked(lambda: (batch.suite_name(suite), validation.language(language)))
    with _loaded() as loaded:
        target = _with_language(loaded.registry, bot, lang)
        bar = _bar(loaded, target, min_f1, max_drop)
        run = _BatchRun(target, lang, version, bar, as_json, timeout)
        run.start(loaded, name, no_wait=no_wait, interval=interval)


@app.command(
    "publish",
    epilog='Example: korebot publish support --comment "Release 42" --wait --timeout 1800',
)
def publish_bot(
    bot: BotArg,
    comment: Annotated[
        str,
        typer.Option(
            help=f"The version comment (at most {publish.MAX_COMMENT} characters).",
        ),
    ] = DEFAULT_COMMENT,
    no_training: Annotated[
        bool,
        typer.Option(
            "--no-training",
            help="Do not have Kore.ai train the published version (it does by default).",
        ),
    ] = False,
    wait: Annotated[
        bool,
        typer.Option("--wait", help="Wait for the publish to end (or the --timeout)."),
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    interval: IntervalOpt = 10.0,
    timeout: TimeoutOpt = 3600.0,
) -> None:
    """Publish the bot (its Admin Console app: KORE_ADMIN_CLIENT_ID and
    KORE_ADMIN_CLIENT_SECRET, or the bot's admin_client_id and admin_client_secret_env).

    One POST, never sent again: a publish already running is reported (and waited for with
    --wait) instead; a lost answer is resolved by reading the status. Exit 0 published, 1
    failed (naming the failed resources), 3 still running or dialogs awaiting approval
    (without --wait a started publish is 3), 4 Kore.ai error (nothing published, or it
    cannot be told), 2 usage or missing admin credentials.
    """
    text = _version_comment(comment)
    with _loaded() as loaded:
        target = _bot(loaded.registry, bot)
        _admin_app(loaded.registry, target)
        run = _Publishing(target, as_json, timeout)
        run.start(loaded, text, train=not no_training, wait=wait, interval=interval)


@app.command(
    epilog='Example: korebot release support en --suite "smoke tests" --min-f1 0.85 --timeout 3600'
)
def release(
    bot: BotArg,
    language: Annotated[
        str, typer.Argument(help="Language code of the trainings and the suite's run, e.g. en.")
    ],
    suite: Annotated[
        str | None,
        typer.Option(
            help="The batch test suite that gates the publish (its run must pass the bar); "
            "none: no quality gate.",
            show_default=False,
        ),
    ] = None,
    min_f1: MinF1Opt = None,
    max_drop: MaxDropOpt = None,
    comment: Annotated[
        str | None,
        typer.Option(
            help="The version comment. Default: one naming the release and its scores, "
            'e.g. "korebot release: FAQ and ML trained (en); smoke tests F1 0.91".',
            show_default=False,
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    interval: IntervalOpt = 10.0,
    timeout: Annotated[
        float,
        typer.Option(min=0.1, help="Give up (exit 3) after this many seconds, all steps in all."),
    ] = 3600.0,
) -> None:
    """Release the bot's in-development version, step after step: train FAQ and ML, run
    the --suite and judge it (the gate), publish, and follow the published version's
    trainings until the bot is live. Each step is printed as it ends; the first that fails
    stops the release.

    Needs the bot's Admin Console app, as `korebot publish` does. Exit 0 live, 1 a step
    or the gate failed (naming it, and what was not done), 2 usage, no Admin Console app
    or an unknown suite (its suites are listed), 3 timed out or dialogs awaiting approval,
    4 Kore.ai error.
    """
    _check_fractions(min_f1, max_drop)
    if suite is None and (min_f1 is not None or max_drop is not None):
        _fail(Exit.USAGE, "--min-f1 and --max-drop judge the --suite run: give --suite too.")
    name = None if suite is None else _checked(lambda: batch.suite_name(suite))
    lang = _checked(lambda: validation.language(language))
    text = None if comment is None else _version_comment(comment)
    with _loaded() as loaded:
        target = _with_language(loaded.registry, bot, lang)
        _admin_app(loaded.registry, target)
        bar = _bar(loaded, target, min_f1, max_drop)
        _Release(loaded, target, lang, bar, text, as_json, interval, timeout).run(name)


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


class _BatchRun:
    """`korebot test`: the suites list, one run POST, polls, the verdict; every call spends
    the bot's budget (the app's, when its database is there), as `watch` does."""

    def __init__(
        self,
        bot: Bot,
        lang: str,
        state: State,
        bar: batch.Bar,
        as_json: bool,
        timeout: float,
        began: float | None = None,
    ) -> None:
        self.bot, self.lang, self.state, self.bar = bot, lang, state, bar
        self.as_json = as_json
        #: Since when it has waited (``korebot release``: since the release began).
        self.began = time.monotonic() if began is None else began
        self.deadline = self.began + timeout

    def start(
        self, loaded: config_module.Config, name: str, *, no_wait: bool, interval: float
    ) -> NoReturn:
        from korebot.wiring import command_line_gateway  # SQLAlchemy, as for `watch`

        client = loaded.registry.client(self.bot)
        with command_line_gateway(loaded) as gateway:
            suite = self.find(gateway, client, name)
            previous = suite.previous(self.state, self.lang)
            request_id = self.post(gateway, client, suite)
            if no_wait:
                if self.as_json:
                    out.print_json(json.dumps(self._header(suite, request_id, None)))
                else:
                    out.print(
                        f"Started {self._what(suite)}: request ID {request_id}. Not waiting; "
                        "the verdict is not known yet.",
                        markup=False,
                        emoji=False,
                    )
                raise typer.Exit(Exit.IN_PROGRESS)
            self.say_started(suite, request_id)
            result = self.wait(gateway, client, suite, request_id, interval)
        self._verdict(suite, result, previous)

    def find(self, gateway: StatusGateway, client: KoreClient, name: str) -> batch.Suite:
        """The bot's suite of that name (one call), else exit 2 listing its suites."""
        bot, lang = self.bot, self.lang
        self._spend(gateway)
        suites = self._kore(lambda: client.batch_test_suites(bot.bot_id, lang))
        suite = batch.find(suites, name)
        if suite is None:
            _fail(Exit.USAGE, _no_such_suite(bot, name, suites))
        return suite

    def post(self, gateway: StatusGateway, client: KoreClient, suite: batch.Suite) -> str:
        """The one run POST (never sent again); the run's request ID."""
        bot, lang = self.bot, self.lang
        self._spend(gateway)
        started = self._kore(
            lambda: client.run_batch_test(bot.bot_id, lang, suite.name, self.state)
        )
        return started.request_id

    def say_started(self, suite: batch.Suite, request_id: str) -> None:
        err.print(
            f"korebot: started {self._what(suite)}: request ID {request_id}",
            markup=False,
            emoji=False,
        )

    def _what(self, suite: batch.Suite) -> str:
        return (
            f"batch test {_plain(suite.name)!r} of {self.bot.label} ({self.lang}, "
            f"{self.state.value})"
        )

    def wait(
        self,
        gateway: StatusGateway,
        client: KoreClient,
        suite: batch.Suite,
        request_id: str,
        interval: float,
    ) -> batch.BatchRun:
        """Status checks every ``interval`` until the run ends (exit 3 at the deadline)."""
        bot, lang = self.bot, self.lang
        last: batch.BatchRun | None = None
        while True:
            pause = interval
            wait = gateway.budget.acquire((bot.host, bot.bot_id))
            if wait > 0:
                pause = max(interval, wait)
            else:
                result = _poll(
                    lambda: client.batch_test_status(bot.bot_id, lang, suite.name, request_id)
                )
                if result is not None:
                    if result.status in (Status.SUCCESS, Status.FAILURE):
                        return result
                    if last is None or _progress(result) != _progress(last):
                        elapsed = _elapsed(time.monotonic() - self.began)
                        err.print(f"[{elapsed}] {_progress(result)}", markup=False, emoji=False)
                    last = result
            if time.monotonic() + pause > self.deadline:
                seen = _plain(last.raw_status) if last else "nothing"
                if self.as_json:
                    data = self._header(suite, request_id, last)
                    out.print_json(json.dumps(data))
                _fail(
                    Exit.IN_PROGRESS,
                    f"Gave up waiting after {_elapsed(self.deadline - self.began)}; last status: "
                    f"{seen}. The run goes on in Kore.ai: request ID {request_id}.",
                )
            time.sleep(pause)

    def _verdict(
        self, suite: batch.Suite, result: batch.BatchRun, previous: batch.PastResult | None
    ) -> NoReturn:
        judged = batch.judge(result, previous, self.bar)
        took = self.took(result)
        if self.as_json:
            out.print_json(json.dumps(self.data(suite, result, previous, judged)))
        else:
            self._print(suite, result, previous, judged, took)
        code = {
            batch.Verdict.PASSED: Exit.SUCCESS,
            batch.Verdict.FAILED: Exit.FAILURE,
            batch.Verdict.RUNNING: Exit.IN_PROGRESS,
            batch.Verdict.UNKNOWN: Exit.KORE_ERROR,
        }[judged.verdict]
        raise typer.Exit(code)

    def took(self, result: batch.BatchRun) -> float:
        """How long the run took: as Kore.ai says, else since this command began."""
        return result.duration if result.duration is not None else time.monotonic() - self.began

    def data(
        self,
        suite: batch.Suite,
        result: batch.BatchRun,
        previous: batch.PastResult | None,
        judged: batch.Judgement,
    ) -> dict[str, object]:
        """The judged run as ``--json`` prints it."""
        return self._header(suite, result.request_id, result) | {
            "previous": previous.as_dict() if previous else None,
            "f1_change": judged.change,
            "verdict": judged.verdict.value,
            "reasons": list(judged.reasons),
            "warnings": list(judged.warnings),
            "duration_seconds": round(self.took(result), 3),
        }

    def _print(
        self,
        suite: batch.Suite,
        result: batch.BatchRun,
        previous: batch.PastResult | None,
        judged: batch.Judgement,
        took: float,
    ) -> None:
        scores, counts = result.scores, result.counts
        f1_line = _f1_line(result, previous, judged)
        if judged.verdict is batch.Verdict.PASSED:
            first = f"✔ Passed: {f1_line}"
            if judged.warnings:
                first = f"⚠ Passed with a warning ({judged.warnings[0]}): {f1_line}"
        else:
            first = "✘ Failed: " + "; ".join(judged.reasons)
        out.print(first, markup=False, emoji=False)
        status = _plain(result.raw_status)
        if result.description != result.raw_status:
            status += f" ({result.description})"
        rows = [
            ("Suite", f"{_plain(suite.name)} ({suite.type or 'custom'})"),
            ("Bot", self.bot.label),
            ("Language", f"{self.lang} ({self.state.value})"),
            ("Status", status),
            ("F1", f1_line.removeprefix("F1 ") if scores.f1 is not None else "not reported"),
            ("Precision", _score(scores.precision)),
            ("Recall", _score(scores.recall)),
            (
                "TP/TN/FP/FN",
                " / ".join(_count(n) for n in (counts.tp, counts.tn, counts.fp, counts.fn)),
            ),
            (
                "Failed",
                f"{_count(counts.failed_utterances)} of {_count(counts.utterances)} utterances",
            ),
            ("Took", _elapsed(took)),
        ]
        if previous is None:
            rows.append(("Previous", "no completed run of this suite, language and version"))
        if result.report_url:
            rows.append(
                ("Report", f"{result.report_url} (a signed link; it expires, download it soon)")
            )
        rows.append(("Request ID", result.request_id))
        rows.append(("Bar", _bar_words(self.bar)))
        # Plain lines: the report's link must be printed whole, never wrapped or cut.
        for label, value in rows:
            out.print(
                f"{label:<12} {value}", markup=False, emoji=False, overflow="ignore", crop=False
            )

    def _header(
        self, suite: batch.Suite, request_id: str, result: batch.BatchRun | None
    ) -> dict[str, object]:
        data: dict[str, object] = {
            "bot": self.bot.name,
            "bot_id": self.bot.bot_id,
            "language": self.lang,
            "suite": suite.name,
            "version": self.state.value,
            "request_id": request_id,
            "bar": {"min_f1": self.bar.min_f1, "max_drop": self.bar.max_drop},
            "verdict": batch.Verdict.RUNNING.value,
            "reasons": [],
        }
        if result is not None:
            run = result.as_dict()
            data["request_id"] = run.pop("request_id") or request_id
            data["run_language"] = run.pop("language")
            data |= run
        return data

    def _spend(self, gateway: StatusGateway) -> None:
        """Wait for the bot's budget to allow a call (within the timeout), else exit 4."""
        while (wait := gateway.budget.acquire((self.bot.host, self.bot.bot_id))) > 0:
            if time.monotonic() + wait > self.deadline:
                _fail(
                    Exit.KORE_ERROR,
                    f"korebot's share of Kore.ai's rate limit for {self.bot.name} is used up; "
                    f"try again in {math.ceil(wait)} s. Nothing was started.",
                )
            time.sleep(wait)

    def _kore(self, call: Callable[[], _T]) -> _T:
        try:
            return call()
        except InvalidInput as error:
            _fail(Exit.USAGE, str(error))
        except KoreError as error:
            _fail(Exit.KORE_ERROR, str(error))


# -- publishing ---------------------------------------------------------------------------


class PublishVerdict(StrEnum):
    """What a publish came to, for ``korebot publish`` and ``status --kind publish``."""

    PUBLISHED = "published"
    FAILED = "failed"
    NEVER_PUBLISHED = "never_published"
    RUNNING = "running"
    AWAITING_APPROVAL = "awaiting_approval"
    UNKNOWN = "unknown"

    @property
    def exit(self) -> Exit:
        return _VERDICT_EXITS[self][0]

    @property
    def meaning(self) -> str:
        return _VERDICT_EXITS[self][1]


_VERDICT_EXITS = {
    PublishVerdict.PUBLISHED: (Exit.SUCCESS, "the publish succeeded"),
    PublishVerdict.FAILED: (Exit.FAILURE, "the publish failed"),
    PublishVerdict.NEVER_PUBLISHED: (Exit.FAILURE, "the bot was never published"),
    PublishVerdict.RUNNING: (Exit.IN_PROGRESS, "the publish is still running"),
    PublishVerdict.AWAITING_APPROVAL: (
        Exit.IN_PROGRESS,
        "the publish ended, but dialogs await an admin's approval",
    ),
    PublishVerdict.UNKNOWN: (Exit.KORE_ERROR, "Kore.ai reported a status korebot does not know"),
}


def _publish_verdict(result: JobStatus) -> PublishVerdict:
    job = result.publish
    if result.status is Status.SUCCESS:
        awaiting = job is not None and bool(job.awaiting)
        return PublishVerdict.AWAITING_APPROVAL if awaiting else PublishVerdict.PUBLISHED
    if result.status is Status.FAILURE:
        return PublishVerdict.FAILED
    if result.status is Status.IN_PROGRESS:
        return PublishVerdict.RUNNING
    if result.raw_status == publish.NEVER:
        return PublishVerdict.NEVER_PUBLISHED
    return PublishVerdict.UNKNOWN


def _publish_status(name: str, as_json: bool) -> NoReturn:
    """``korebot status BOT --kind publish``: the bot's latest publish, one call."""
    with _registry() as registry:
        target = _bot(registry, name)
        result = _ask(
            lambda: publish.as_status(
                registry.client(target, admin=True).publish_status(target.bot_id)
            )
        )
        verdict = _publish_verdict(result)
        if as_json:
            out.print_json(json.dumps(_publish_data(target, result, verdict)))
        else:
            _print_publish(target, result, verdict)
        raise typer.Exit(verdict.exit)


class _Publishing:
    """``korebot publish``: the status read first (a running publish is joined, never
    POSTed over), one POST (never sent again), then the status; every call spends the
    bot's budget (the app's, when its database is there), as ``watch`` does."""

    def __init__(
        self,
        bot: Bot,
        as_json: bool,
        timeout: float,
        *,
        info: Console | None = None,
        began: float | None = None,
    ) -> None:
        self.bot = bot
        self.as_json = as_json
        #: Since when it has waited (``korebot release``: since the release began).
        self.began = time.monotonic() if began is None else began
        self.deadline = self.began + timeout
        #: When korebot POSTed, less the clock skew (None: no POST, a running one joined).
        self.posted_at: datetime | None = None
        #: The job the status showed before the POST (its ID and time): never the POST's.
        self.before: tuple[str | None, datetime | None] | None = None
        self.sent: publish.Started | None = None
        self.comment: str | None = None
        self.train = True
        self.answer_lost: str | None = None
        # Text goes to stdout; with --json, stdout is the one object and the rest stderr.
        self.info = info or (err if as_json else out)

    def start(
        self, loaded: config_module.Config, comment: str, *, train: bool, wait: bool,
        interval: float,
    ) -> NoReturn:  # fmt: skip
        from korebot.wiring import command_line_gateway  # SQLAlchemy, as for `watch`

        with command_line_gateway(loaded) as gateway:
            result = self.run(gateway, comment, train=train, wait=wait, interval=interval)
        self._verdict(result, waited=wait)

    def run(
        self, gateway: StatusGateway, comment: str, *, train: bool, wait: bool, interval: float
    ) -> JobStatus:
        """Join a running publish, or POST one; with ``wait``, until it ends (exit 3 at the
        deadline). The status as far as it is known to be this publish's."""
        bot = self.bot
        try:
            before = self._read(gateway)
        except InvalidInput as error:
            _fail(Exit.USAGE, str(error))
        except KoreError as error:
            _fail(
                Exit.KORE_ERROR,
                f"Nothing was published: korebot could not read {bot.name}'s publish "
                f"status first. {error}",
            )
        if before.status is Status.IN_PROGRESS:
            self._say(
                f"A publish of {bot.label} is already running: not publishing again"
                + (", waiting for it instead." if wait else ".")
            )
            result = before
        elif before.status is Status.UNKNOWN and before.raw_status != publish.NEVER:
            _fail(
                Exit.KORE_ERROR,
                f"Nothing was published: Kore.ai reports {bot.name}'s latest publish as "
                f"{_plain(before.raw_status)!r}, a status korebot does not know (it may "
                f"still be running). Check with `korebot status {bot.name} --kind "
                "publish` and the Kore.ai builder.",
            )
        else:
            if before.publish is not None and before.publish.requested_at is not None:
                self.before = (before.publish.job_id, before.publish.requested_at)
            result = self._post(gateway, comment, train)
        return self._wait(gateway, result, interval) if wait else result

    # -- the one POST ---------------------------------------------------------------------

    def _post(self, gateway: StatusGateway, comment: str, train: bool) -> JobStatus:
        bot = self.bot
        self.comment, self.train = comment, train
        while True:
            # Less the clock skew: Kore.ai's clock may be behind korebot's.
            self.posted_at = datetime.now(UTC) - publish.CLOCK_SKEW
            try:
                self.sent = gateway.publish(bot, comment, train=train)
            except BudgetExhausted as error:  # raised before anything is sent
                if time.monotonic() + error.retry_after > self.deadline:
                    _fail(Exit.KORE_ERROR, f"{error} Nothing was published.")
                time.sleep(error.retry_after)
                continue
            except (KoreUnreachable, KoreUnavailable, UnreadableResponse) as error:
                return self._lost(gateway, error)
            except InvalidInput as error:
                _fail(Exit.USAGE, f"Nothing was published: {error}")
            except KoreError as error:  # refused: nothing published
                _fail(Exit.KORE_ERROR, f"{bot.name} was not published: {error}")
            break
        self._report_sent(self.sent)
        try:
            now = self._read(gateway)
        except KoreError as error:
            self._say(f"korebot: could not read the publish's status yet: {error}", err)
            return self._ours(None)
        return self._ours(now)

    def _lost(self, gateway: StatusGateway, error: KoreError) -> JobStatus:
        """The POST may or may not have reached Kore.ai: never sent again; the status says."""
        bot = self.bot
        self.answer_lost = str(error)
        try:
            now = self._read(gateway)
        except KoreError as status_error:
            _fail(
                Exit.KORE_ERROR,
                f"Kore.ai did not answer the request to publish {bot.name} ({error}), and "
                f"korebot cannot tell whether it started ({status_error}). It was not sent "
                f"again: check with `korebot status {bot.name} --kind publish` before trying "
                "again.",
            )
        if not self._is_ours(now.publish):
            _fail(
                Exit.KORE_ERROR,
                f"Kore.ai did not answer the request to publish {bot.name} ({error}), and no "
                "publish newer than it shows: it was not sent again; run the command again "
                "if you want.",
            )
        self._say(
            f"Kore.ai did not answer the request to publish {bot.label} ({error}), but a "
            "publish newer than it shows: it started (the request was not sent again)."
        )
        return self._ours(now)

    def _ours(self, now: JobStatus | None) -> JobStatus:
        """The status as far as it is the POST's publish, with what the POST said of it;
        a placeholder (running, no job yet) while Kore.ai shows an older one."""
        job = now.publish if now is not None else None
        if job is None or not self._is_ours(job):
            job = publish.Publish(None, "inprogress", None, None, None, None, None, ())
        awaiting = self.sent.awaiting if self.sent is not None else ()
        return publish.as_status(replace(job, awaiting=awaiting, comment=self.comment))

    def _is_ours(self, job: publish.Publish | None) -> bool:
        """Whether the job is the one the POST started: not older than the POST (less the
        clock skew), and not the one the status showed before it."""
        if job is None or self.posted_at is None or not publish.ours(job, self.posted_at):
            return False
        return self.before is None or (job.job_id, job.requested_at) != self.before

    def _mine(self, result: JobStatus) -> bool:
        """Whether the status is of the publish this command follows."""
        if self.posted_at is None:
            return True  # joined: whatever the bot's latest publish is
        job = result.publish  # ``_ours``: the POST's job, or a placeholder requested never
        return job is not None and job.requested_at is not None

    # -- waiting --------------------------------------------------------------------------

    def _wait(self, gateway: StatusGateway, result: JobStatus, interval: float) -> JobStatus:
        bot = self.bot
        last = result
        shown = ""
        while not (self._mine(last) and last.status is not Status.IN_PROGRESS):
            line = self._progress(last)
            if line != shown:
                elapsed = _elapsed(time.monotonic() - self.began)
                err.print(f"[{elapsed}] {bot.name}: {line}", markup=False, emoji=False)
                shown = line
            pause = interval
            if time.monotonic() + pause > self.deadline:
                self._gave_up(last)
            time.sleep(pause)
            try:
                now = _poll(lambda: self._latest(gateway))
            except BudgetExhausted as error:
                if time.monotonic() + error.retry_after > self.deadline:
                    self._gave_up(last)
                time.sleep(max(0.0, error.retry_after - interval))
                continue
            if now is None:
                continue
            last = self._ours(now) if self.posted_at is not None else now
        return last

    def _progress(self, result: JobStatus) -> str:
        job = result.publish
        if not self._mine(result) or job is None:
            return "waiting for Kore.ai to show the publish"
        words = _plain(result.raw_status)
        if job.percent is not None:
            words += f", {job.percent} % complete"
        return words

    def _gave_up(self, last: JobStatus) -> NoReturn:
        took = _elapsed(self.deadline - self.began)
        seen = self._progress(last)
        if self.as_json:
            out.print_json(json.dumps(self.data(last, PublishVerdict.RUNNING)))
        _fail(
            Exit.IN_PROGRESS,
            f"Gave up waiting after {took}; last status: {seen}. The publish goes on in "
            f"Kore.ai: `korebot status {self.bot.name} --kind publish` tells how it ends.",
        )

    # -- the verdict ----------------------------------------------------------------------

    def _verdict(self, result: JobStatus, *, waited: bool) -> NoReturn:
        verdict = _publish_verdict(result)
        if not self._mine(result):
            verdict = PublishVerdict.RUNNING
        if self.as_json:
            out.print_json(json.dumps(self.data(result, verdict)))
        else:
            _print_publish(self.bot, result, verdict, known=self._mine(result))
            if verdict is PublishVerdict.RUNNING and not waited:
                out.print(
                    "Not waiting (--wait waits for it): `korebot status "
                    f"{self.bot.name} --kind publish` tells how it ends.",
                    markup=False,
                    emoji=False,
                )
        raise typer.Exit(verdict.exit)

    def data(self, result: JobStatus, verdict: PublishVerdict) -> dict[str, object]:
        """The publish as ``--json`` prints it."""
        data = _publish_data(self.bot, result, verdict, known=self._mine(result))
        sent = self.sent
        return data | {
            "posted": self.posted_at is not None,
            "joined": self.posted_at is None,
            "answer_lost": self.answer_lost,
            "comment": self.comment,
            "training": self.train if self.posted_at is not None else None,
            "sent": [_resource_data(r) for r in sent.resources] if sent is not None else None,
        }

    # -- words ----------------------------------------------------------------------------

    def _report_sent(self, sent: publish.Started) -> None:
        bot = self.bot
        training = "with training" if self.train else "without training"
        names = ", ".join(_resource_name(r) for r in sent.resources) or "none listed"
        self._say(
            f"Publishing {bot.label} ({training}, comment \u201c{_plain(self.comment or '')}"
            f"\u201d): Kore.ai took the request. Resources: {names}."
        )
        if sent.awaiting:
            self._say(_awaiting_line(sent.awaiting))

    def _say(self, text: str, console: Console | None = None) -> None:
        (console or self.info).print(text, markup=False, emoji=False, overflow="ignore", crop=False)

    def _read(self, gateway: StatusGateway) -> JobStatus:
        """A fresh status of the bot's latest publish, waiting for the bot's budget
        (within the deadline); KoreError as raised."""
        return _within(self.deadline, lambda: self._latest(gateway))

    def _latest(self, gateway: StatusGateway) -> JobStatus:
        """One status call: the bot's latest publish."""
        return gateway.status(
            self.bot, publish.LANGUAGE, publish.STATE, "poll", Kind.PUBLISH
        ).status


# -- releasing ---------------------------------------------------------------------------


class ReleaseVerdict(StrEnum):
    """What ``korebot release`` came to."""

    LIVE = "live"
    FAILED = "failed"
    USAGE = "usage"
    TIMED_OUT = "timed_out"
    AWAITING_APPROVAL = "awaiting_approval"
    KORE_ERROR = "kore_error"


#: A stopped step's result, the release's verdict and words, by the exit code it stopped with.
_STOPPED = {
    Exit.FAILURE: ("failed", ReleaseVerdict.FAILED, "failed"),
    Exit.USAGE: ("usage_error", ReleaseVerdict.USAGE, "stopped by a usage error"),
    Exit.IN_PROGRESS: ("timed_out", ReleaseVerdict.TIMED_OUT, "timed out"),
    Exit.KORE_ERROR: ("kore_error", ReleaseVerdict.KORE_ERROR, "stopped by a Kore.ai error"),
}
_STEP_MARKS = {"succeeded": "✔", "skipped": "-", "awaiting_approval": "⚠"}
#: A training's words while korebot follows it.
_HOW = {"started": "started", "joined": "joined: it was running", "lost": "started; answer lost"}


@dataclass
class _Step:
    """One step of a release, and how it ended (``result`` "not_run" until it does)."""

    name: str
    what: str
    #: What a release stopped at this step has not done.
    stops: str
    result: str = "not_run"
    seconds: float | None = None
    summary: str = ""
    details: dict[str, object] = field(default_factory=dict)

    def as_dict(self) -> dict[str, object]:
        return {
            "name": self.name,
            "what": self.what,
            "result": self.result,
            "seconds": None if self.seconds is None else round(self.seconds, 3),
            "summary": self.summary,
            "details": self.details,
        }


class _Release:
    """``korebot release``: train FAQ and ML, the gate, publish, the published trainings;
    each step reuses its command's parts (``_BatchRun``, ``_Publishing``), and every call
    spends the bot's budget through one gateway, as ``watch`` does."""

    def __init__(
        self,
        loaded: config_module.Config,
        bot: Bot,
        lang: str,
        bar: batch.Bar,
        comment: str | None,
        as_json: bool,
        interval: float,
        timeout: float,
    ) -> None:
        self.loaded, self.bot, self.lang, self.bar = loaded, bot, lang, bar
        self.comment, self.as_json = comment, as_json
        self.interval, self.timeout = interval, timeout
        self.began = time.monotonic()
        self.deadline = self.began + timeout
        # Step lines go to stdout; with --json, stdout is the one object and the rest stderr.
        self.info = err if as_json else out
        self.suite: batch.Suite | None = None
        self.f1: float | None = None
        name = bot.name
        self.train = _Step(
            "train", f"FAQ and ML training of {name} ({lang}, configured)", "not published"
        )
        self.gate = _Step("gate", "quality gate", "not published")
        self.publish = _Step("publish", f"publish of {name}", f"{name} is not live")
        self.live = _Step(
            "live",
            f"the published version's FAQ and ML trainings ({lang})",
            f"{name} is published but not live",
        )
        self.steps = (self.train, self.gate, self.publish, self.live)

    def run(self, suite: str | None) -> NoReturn:
        from korebot.wiring import command_line_gateway  # SQLAlchemy, as for `watch`

        client = self.loaded.registry.client(self.bot)
        gate = self._batch_run()
        with command_line_gateway(self.loaded) as gateway:
            if suite is not None:  # before any step: an unknown suite sends nothing else
                self.suite = gate.find(gateway, client, suite)
                self.gate.what = f"batch test {_plain(self.suite.name)!r} ({self.lang}, configured)"
            self._step(self.train, lambda: self._train(gateway))
            self._step(self.gate, lambda: self._judge(gateway, client, gate))
            self._step(self.publish, lambda: self._publish(gateway))
            self._step(self.live, lambda: self._go_live(gateway))
        took = _elapsed(time.monotonic() - self.began)
        self._end(ReleaseVerdict.LIVE, f"{self.bot.name} is live ({self.lang}), in {took}")

    def _batch_run(self) -> _BatchRun:
        return _BatchRun(
            self.bot, self.lang, State.CONFIGURED, self.bar, False, self.timeout, self.began
        )

    # -- the steps: each returns its line, or raises _Failed -------------------------------

    def _train(self, gateway: StatusGateway) -> str:
        """Both trainings of the configured version: both statuses read first (nothing is
        started unless both can be), a running one joined, else one POST each; then until
        both end (the first to fail stops it)."""
        before = {kind: self._first(gateway, kind) for kind in TRAININGS}
        how: dict[str, str] = {}
        trainings: list[publish.Published] = []
        for kind in TRAININGS:
            try:
                training, how[kind.value] = self._start(gateway, kind, before[kind])
            except _Failed as stopped:
                started = [_label(t) for t in trainings if how[t.kind] != "joined"]
                if not started:
                    raise
                going = f" The {' and '.join(started)} training started, and goes on in Kore.ai."
                raise _Failed(stopped.code, stopped.message + going, stopped.headline) from None
            trainings.append(training)
            self.train.details = _trainings_data(tuple(trainings), how)
        done = self._follow(gateway, self.train, State.CONFIGURED, tuple(trainings), how)
        words = _trainings_words(done, how)
        if failed := _failed(done):
            raise _Failed(Exit.FAILURE, words, f"{failed} training failed")
        return words

    def _judge(self, gateway: StatusGateway, client: KoreClient, run: _BatchRun) -> str:
        suite = self.suite
        if suite is None:
            self.gate.result = "skipped"
            self.gate.details = {"reason": "no --suite: no quality gate applies"}
            return "no quality gate applies (no --suite)"
        previous = suite.previous(State.CONFIGURED, self.lang)
        request_id = run.post(gateway, client, suite)
        self.gate.details = {"suite": suite.name, "request_id": request_id}
        run.say_started(suite, request_id)
        result = run.wait(gateway, client, suite, request_id, self.interval)
        judged = batch.judge(result, previous, self.bar)
        self.gate.details = run.data(suite, result, previous, judged)
        self.f1 = result.scores.f1
        name = _plain(suite.name)
        if judged.verdict is batch.Verdict.PASSED:
            warning = f" (warning: {judged.warnings[0]})" if judged.warnings else ""
            line = _f1_line(result, previous, judged)
            return f"{name}: passed, {line}{warning}; bar: {_bar_words(self.bar)}"
        reasons = "; ".join(judged.reasons)
        code = Exit.FAILURE if judged.verdict is batch.Verdict.FAILED else Exit.KORE_ERROR
        raise _Failed(code, f"{name}: {reasons}", f"gate failed: {reasons}")

    def _publish(self, gateway: StatusGateway) -> str:
        comment = self.comment or self._comment()
        run = _Publishing(self.bot, False, self.timeout, info=err, began=self.began)
        result = run.run(gateway, comment, train=True, wait=True, interval=self.interval)
        verdict = _publish_verdict(result)
        self.publish.details = run.data(result, verdict)
        words = _publish_words(self.bot, result, verdict)
        if verdict is PublishVerdict.PUBLISHED:
            if run.posted_at is None:
                return f"{words} (a publish already running, joined)"
            return f"{words}, comment \u201c{_plain(comment)}\u201d"
        if verdict is PublishVerdict.AWAITING_APPROVAL:
            self.publish.result = "awaiting_approval"
            self.publish.stops = f"{self.bot.name} is not live until {publish.UNBLOCK}"
            raise _Failed(Exit.IN_PROGRESS, words, words)
        raise _Failed(verdict.exit, words, words)

    def _go_live(self, gateway: StatusGateway) -> str:
        """The published version's FAQ and ML trainings (Kore.ai starts them when a publish
        ends), followed until both are done (``publish.Published``)."""
        trainings = tuple(
            publish.Published(kind.value, self.lang, "", Status.UNKNOWN) for kind in TRAININGS
        )
        done = self._follow(gateway, self.live, State.PUBLISHED, trainings)
        words = _trainings_words(done)
        if failed := _failed(done):
            raise _Failed(Exit.FAILURE, words, f"the published {failed} training failed")
        return words

    # -- trainings ------------------------------------------------------------------------

    def _first(self, gateway: StatusGateway, kind: Kind) -> JobStatus:
        """The configured version's training status, read before anything is started."""
        what = self._what(kind)
        try:
            before = self._training(gateway, State.CONFIGURED, kind)
        except InvalidInput as error:
            _fail(Exit.USAGE, str(error))
        except KoreError as error:
            _fail(
                Exit.KORE_ERROR,
                f"Nothing was started: korebot could not read the {what}'s status first. {error}",
            )
        if before.status is Status.UNKNOWN:
            _fail(
                Exit.KORE_ERROR,
                f"Nothing was started: Kore.ai reports the {what} as "
                f"{_plain(before.raw_status)!r}, a status korebot does not know (it may be "
                "running).",
            )
        return before

    def _start(
        self, gateway: StatusGateway, kind: Kind, before: JobStatus
    ) -> tuple[publish.Published, str]:
        """The training of the kind, followed: a running one joined, else one POST (never
        sent again; a lost answer resolved by the status)."""
        bot, lang, what = self.bot, self.lang, self._what(kind)
        if before.status is Status.IN_PROGRESS:
            self._note(f"The {what} is already running: not starting another, following it.")
            return _followed(kind, lang, before), "joined"
        try:
            started = _within(self.deadline, lambda: gateway.start_training(bot, lang, kind))
        except (KoreUnreachable, KoreUnavailable, UnreadableResponse) as error:
            return self._lost(gateway, kind, what, error), "lost"
        except InvalidInput as error:
            _fail(Exit.USAGE, f"The {what} was not started: {error}")
        except KoreError as error:  # refused (or the budget stayed spent): nothing started
            _fail(Exit.KORE_ERROR, f"The {what} was not started: {error}")
        # Not seen running yet: its first final status may still be the last run's.
        training = publish.Published(kind.value, lang, started.raw_status, started.status)
        return training, "started"

    def _what(self, kind: Kind) -> str:
        return f"{kinds.spec(kind).label} training of {self.bot.name} ({self.lang})"

    def _lost(
        self, gateway: StatusGateway, kind: Kind, what: str, error: KoreError
    ) -> publish.Published:
        """The POST may or may not have started it: never sent again; the status says."""
        asked = f"Kore.ai did not answer the request to start the {what} ({error})"
        try:
            now = self._training(gateway, State.CONFIGURED, kind)
        except KoreError as status_error:
            _fail(
                Exit.KORE_ERROR,
                f"{asked}, and korebot cannot tell whether it started ({status_error}). It "
                "was not sent again.",
            )
        if now.status is not Status.IN_PROGRESS:
            _fail(Exit.KORE_ERROR, f"{asked}, and none runs now: it was not sent again.")
        self._note(f"{asked}, but one runs now: following it (the request was not sent again).")
        return _followed(kind, self.lang, now)

    def _training(self, gateway: StatusGateway, state: State, kind: Kind) -> JobStatus:
        """One status call of the kind's training (waiting for the budget); KoreError."""
        return _within(
            self.deadline,
            lambda: gateway.status(self.bot, self.lang, state, "poll", kind).status,
        )

    def _follow(
        self,
        gateway: StatusGateway,
        step: _Step,
        state: State,
        trainings: tuple[publish.Published, ...],
        how: dict[str, str] | None = None,
    ) -> tuple[publish.Published, ...]:
        """Status checks every --interval until every training is done or one failed
        (exit 3 at the deadline); the step's details say how they are."""
        shown = ""
        step.details = _trainings_data(trainings, how)
        while not all(t.done for t in trainings) and not _failed(trainings):
            if time.monotonic() + self.interval > self.deadline:
                _fail(
                    Exit.IN_PROGRESS,
                    f"Gave up waiting after {_elapsed(self.timeout)}; last status: "
                    f"{_trainings_words(trainings, how)}. The trainings go on in Kore.ai.",
                )
            time.sleep(self.interval)
            trainings = tuple(t if t.done else self._check(gateway, state, t) for t in trainings)
            step.details = _trainings_data(trainings, how)
            line = _trainings_words(trainings)
            if line != shown:
                elapsed = _elapsed(time.monotonic() - self.began)
                where = f"{self.bot.name} ({self.lang}, {state.value})"
                err.print(f"[{elapsed}] {where}: {line}", markup=False, emoji=False)
                shown = line
        return trainings

    def _check(
        self, gateway: StatusGateway, state: State, training: publish.Published
    ) -> publish.Published:
        """The training after one more status check (unchanged after a passing fault)."""
        kind = Kind(training.kind)
        try:
            now = _poll(lambda: gateway.status(self.bot, self.lang, state, "poll", kind).status)
        except BudgetExhausted:
            return training  # the budget is spent: asked again at the next check
        return training if now is None else training.seen(now.status, now.raw_status)

    # -- words ----------------------------------------------------------------------------

    def _comment(self) -> str:
        """The default version comment: the release and its scores."""
        said = f"korebot release: FAQ and ML trained ({self.lang})"
        if self.suite is None:
            return f"{said}; no quality gate"
        name = " ".join(_plain(self.suite.name).split())
        score = "passed" if self.f1 is None else f"F1 {self.f1:.2f}"
        return publish.version_comment(f"{said}; {name} {score}")

    def _step(self, step: _Step, body: Callable[[], str]) -> None:
        """Run a step and print how it ended; one that fails stops the release."""
        began = time.monotonic()
        held = _HELD.set(True)  # the step's errors are said here, once
        try:
            step.summary = _plain(body())
        except _Failed as failed:
            stopped: _Failed | None = failed
        else:
            stopped = None
        finally:
            _HELD.reset(held)
        step.seconds = time.monotonic() - began
        if stopped is None:
            if step.result == "not_run":
                step.result = "succeeded"
            self._say_step(step)
            return
        result, verdict, words = _STOPPED[stopped.code]
        if step.result == "not_run":
            step.result = result
        elif step.result == "awaiting_approval":
            verdict = ReleaseVerdict.AWAITING_APPROVAL
        step.summary = _plain(stopped.message)
        self._say_step(step)
        headline = stopped.headline or f"{step.name} {words}"
        self._end(verdict, f"{_plain(headline)}: {step.stops}", stopped.code)

    def _say_step(self, step: _Step) -> None:
        mark = _STEP_MARKS.get(step.result, "✘")
        took = _elapsed(step.seconds or 0.0)
        self._say(f"{mark} {step.name:<8} {took:>6}  {step.summary}")

    def _end(self, verdict: ReleaseVerdict, message: str, code: Exit = Exit.SUCCESS) -> NoReturn:
        mark = {ReleaseVerdict.LIVE: "✔", ReleaseVerdict.AWAITING_APPROVAL: "⚠"}.get(verdict, "✘")
        self._say(f"{mark} {message}")
        if self.as_json:
            data = {
                "bot": self.bot.name,
                "bot_id": self.bot.bot_id,
                "language": self.lang,
                "suite": self.suite.name if self.suite is not None else None,
                "bar": {"min_f1": self.bar.min_f1, "max_drop": self.bar.max_drop}
                if self.suite is not None
                else None,
                "verdict": verdict.value,
                "exit_code": int(code),
                "message": message,
                "not_done": [
                    s.name for s in self.steps if s.result not in ("succeeded", "skipped")
                ],
                "seconds": round(time.monotonic() - self.began, 3),
                "steps": [step.as_dict() for step in self.steps],
            }
            out.print_json(json.dumps(data))
        raise typer.Exit(code)

    def _say(self, text: str) -> None:
        self.info.print(text, markup=False, emoji=False, overflow="ignore", crop=False)

    def _note(self, text: str) -> None:
        """A note on the way (stderr, as progress is): the steps' lines stay on their own."""
        err.print(f"korebot: {text}", markup=False, emoji=False, overflow="ignore", crop=False)


def _followed(kind: Kind, lang: str, now: JobStatus) -> publish.Published:
    """A training seen running now: done at its next final status."""
    return publish.Published(kind.value, lang, now.raw_status, now.status, seen_running=True)


def _label(training: publish.Published) -> str:
    return kinds.spec(Kind(training.kind)).label


def _failed(trainings: tuple[publish.Published, ...]) -> str:
    """ "ML", "FAQ and ML": the trainings that ended and did not succeed ("": none)."""
    return " and ".join(_label(t) for t in trainings if t.done and t.status is not Status.SUCCESS)


def _trainings_words(
    trainings: tuple[publish.Published, ...], how: dict[str, str] | None = None
) -> str:
    """ "FAQ success (started), ML Inprogress (joined: it was running)"."""
    return ", ".join(
        f"{_label(t)} {_plain(t.raw_status) or 'not known yet'}"
        + (f" ({_HOW[how[t.kind]]})" if how and t.kind in how else "")
        for t in trainings
    )


def _trainings_data(
    trainings: tuple[publish.Published, ...], how: dict[str, str] | None = None
) -> dict[str, object]:
    return {
        "trainings": [
            {
                "kind": t.kind,
                "state": t.raw_status or None,
                "status": t.status.value,
                "done": t.done,
                **({"how": how[t.kind]} if how and t.kind in how else {}),
            }
            for t in trainings
        ]
    }


def _resource_name(resource: publish.Resource) -> str:
    kind = f" ({_plain(resource.type)})" if resource.type else ""
    return _plain(resource.name) + kind


def _resource_data(resource: publish.Resource) -> dict[str, object]:
    return {"name": resource.name, "type": resource.type, "status": resource.status}


def _approvals(awaiting: tuple[publish.Approval, ...]) -> str:
    return ", ".join(
        _plain(a.name) + (f" ({', '.join(_plain(x) for x in a.languages)})" if a.languages else "")
        for a in awaiting
    )


def _awaiting_line(awaiting: tuple[publish.Approval, ...]) -> str:
    return f"Awaiting approval: {_approvals(awaiting)}. They are published once {publish.UNBLOCK}."


_PUBLISH_MARKS = {
    PublishVerdict.PUBLISHED: "✔",
    PublishVerdict.FAILED: "✘",
    PublishVerdict.NEVER_PUBLISHED: "✘",
    PublishVerdict.RUNNING: "…",
    PublishVerdict.AWAITING_APPROVAL: "⚠",
    PublishVerdict.UNKNOWN: "?",
}


def _publish_headline(bot: Bot, result: JobStatus, verdict: PublishVerdict) -> str:
    return f"{_PUBLISH_MARKS[verdict]} {_publish_words(bot, result, verdict)}"


def _publish_words(bot: Bot, result: JobStatus, verdict: PublishVerdict) -> str:
    """What a publish came to, in a line: "support published", "Publishing support
    failed: Natural Language failed"…"""
    job = result.publish
    name = bot.name
    if verdict is PublishVerdict.PUBLISHED:
        return f"{name} published"
    if verdict is PublishVerdict.FAILED:
        failed = ", ".join(_plain(r.name) for r in (job.failed_resources if job else ()))
        return f"Publishing {name} failed" + (f": {failed} failed" if failed else "")
    if verdict is PublishVerdict.NEVER_PUBLISHED:
        return f"{name} has never been published"
    if verdict is PublishVerdict.RUNNING:
        percent = job.percent if job is not None else None
        done = f" ({percent} % complete)" if percent is not None else ""
        return f"Publishing {name} is still running{done}"
    if verdict is PublishVerdict.AWAITING_APPROVAL:
        waiting = _approvals(job.awaiting) if job is not None else ""
        return f"{name} published, except the dialogs awaiting approval: {waiting}"
    return (
        f"Kore.ai reports the latest publish of {name} as {_plain(result.raw_status)!r}, "
        "a status korebot does not know"
    )


def _print_publish(
    bot: Bot, result: JobStatus, verdict: PublishVerdict, *, known: bool = True
) -> None:
    """A publish as plain lines (never wrapped or cut): the verdict, then its details."""
    job = result.publish if known else None
    rows = [("Bot", bot.label)]
    if not known:
        rows.append(("State", "started; Kore.ai does not show it yet"))
    else:
        rows.append(("State", _plain(result.raw_status)))
    if job is not None:
        if job.job_id:
            rows.append(("Job ID", job.job_id))
        if job.requested_at:
            rows.append(("Requested", _when(job.requested_at)))
        if job.created_by:
            rows.append(("By", _plain(job.created_by)))
        if job.percent is not None:
            rows.append(("Complete", f"{job.percent} %"))
        if job.modified_at and job.modified_at != job.requested_at:
            rows.append(("Changed", _when(job.modified_at)))
        if job.comment:
            rows.append(("Comment", f"\u201c{_plain(job.comment)}\u201d"))
        if job.resources:
            rows.append(
                (
                    "Resources",
                    ", ".join(
                        f"{_plain(r.name)} " + (f"✘ {_plain(r.status or '')}" if r.failed else "✔")
                        for r in job.resources
                    ),
                )
            )
        if job.awaiting:
            rows.append(("Awaiting", f"{_approvals(job.awaiting)}: {publish.UNBLOCK}"))
    out.print(_publish_headline(bot, result, verdict), markup=False, emoji=False, crop=False)
    for label, value in rows:
        out.print(f"{label:<12} {value}", markup=False, emoji=False, overflow="ignore", crop=False)
    if verdict is PublishVerdict.UNKNOWN:
        err.print(
            f"korebot: Kore.ai reported an unknown publish status {result.raw_status!r}.",
            markup=False,
        )


def _publish_data(
    bot: Bot, result: JobStatus, verdict: PublishVerdict, *, known: bool = True
) -> dict[str, object]:
    job = result.publish if known else None
    return {
        "bot": bot.name,
        "bot_id": bot.bot_id,
        "kind": Kind.PUBLISH.value,
        "state": result.raw_status if known else None,
        "status": result.status.value,
        "job_id": job.job_id if job else None,
        "requested_at": _iso(job.requested_at) if job else None,
        "requested_by": job.created_by if job else None,
        "modified_at": _iso(job.modified_at) if job else None,
        "percent_complete": job.percent if job else None,
        "resources": [_resource_data(r) for r in job.resources] if job else [],
        "failed_resources": [r.name for r in job.failed_resources] if job else [],
        "awaiting_approval": [
            {"name": a.name, "languages": list(a.languages)} for a in job.awaiting
        ]
        if job
        else [],
        "verdict": verdict.value,
        "exit_code": int(verdict.exit),
        "meaning": verdict.meaning,
    }


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


def _no_such_suite(bot: Bot, name: str, suites: tuple[batch.Suite, ...]) -> str:
    said = f"{bot.name} has no batch test suite {validation.shown(name)}"
    if not suites:
        return f"{said}, nor any other (Kore.ai: Testing > Batch Testing)."
    names = ", ".join(repr(_plain(suite.name)) for suite in suites[:30])
    more = f" and {len(suites) - 30} more" if len(suites) > 30 else ""
    return f"{said}. Its suites: {names}{more}."


def _f1_line(
    result: batch.BatchRun, previous: batch.PastResult | None, judged: batch.Judgement
) -> str:
    """ "F1 0.87, down 0.04 from 0.91" (or "no F1 reported")."""
    f1 = "no F1 reported" if result.scores.f1 is None else f"F1 {result.scores.f1:.2f}"
    change = batch.change_words(judged.change, previous.scores.f1 if previous else None)
    return f"{f1}, {change}" if change else f1


def _bar_words(bar: batch.Bar) -> str:
    minimum = "none" if bar.min_f1 is None else f"F1 at least {bar.min_f1:.2f}"
    return f"{minimum}; drop at most {bar.max_drop:.2f}"


def _progress(result: batch.BatchRun) -> str:
    counts = result.counts
    words = _plain(result.raw_status)
    if counts.ran is not None and counts.utterances:
        words += f", {counts.ran} of {counts.utterances} utterances"
    if counts.percentage is not None:
        words += f" ({counts.percentage:.0f}%)"
    return words


def _score(value: float | None) -> str:
    return "not reported" if value is None else f"{value:.2f}"


def _count(value: int | None) -> str:
    return "?" if value is None else str(value)


def _plain(text: str) -> str:
    """Text from Kore.ai or a user, one line and without control characters."""
    return "".join(ch if ch.isprintable() else "?" for ch in text)


@contextmanager
def _nothing() -> Iterator[None]:
    yield None


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


if __name__ == "__main__":
    main()
