"""``korebot test``: a batch test run (the suites list, one run POST, polls) judged against
the bar, and its words; ``_BatchRun`` is also ``korebot release``'s quality gate."""

from __future__ import annotations

import json
import math
import time
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer

from korebot import config as config_module
from korebot.cli.common import (
    BotArg,
    Exit,
    IntervalOpt,
    MaxDropOpt,
    MinF1Opt,
    TimeoutOpt,
    _ask,
    _bar,
    _check_fractions,
    _checked,
    _elapsed,
    _fail,
    _loaded,
    _plain,
    _poll,
    _with_language,
    err,
    out,
)
from korebot.kore import KoreClient, State, Status, validation
from korebot.kore.kinds import batch
from korebot.registry import Bot

if TYPE_CHECKING:
    from korebot.gateway import StatusGateway


def register(app: typer.Typer) -> None:
    """Add ``korebot batch_test`` to the app."""
    app.command(
        "test",
        epilog='Example: korebot test support en "smoke tests" '
        "--min-f1 0.85 --max-drop 0.03 --json",
    )(batch_test)


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
        suites = _ask(lambda: client.batch_test_suites(bot.bot_id, lang))
        suite = batch.find(suites, name)
        if suite is None:
            _fail(Exit.USAGE, _no_such_suite(bot, name, suites))
        return suite

    def post(self, gateway: StatusGateway, client: KoreClient, suite: batch.Suite) -> str:
        """The one run POST (never sent again); the run's request ID."""
        bot, lang = self.bot, self.lang
        self._spend(gateway)
        started = _ask(lambda: client.run_batch_test(bot.bot_id, lang, suite.name, self.state))
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
