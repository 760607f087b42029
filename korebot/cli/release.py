"""``korebot release``: train FAQ and ML, the quality gate, publish, the published version's
trainings, one step after the other, each reusing its own command's parts
(``_BatchRun``, ``_Publishing``); the first step that fails stops it."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer

from korebot import config as config_module
from korebot.cli.common import (
    _HELD,
    BotArg,
    Exit,
    IntervalOpt,
    MaxDropOpt,
    MinF1Opt,
    _admin_app,
    _bar,
    _check_fractions,
    _checked,
    _elapsed,
    _fail,
    _Failed,
    _loaded,
    _plain,
    _poll,
    _version_comment,
    _with_language,
    _within,
    err,
    out,
)
from korebot.cli.publish import PublishVerdict, _publish_verdict, _publish_words, _Publishing
from korebot.cli.test import _bar_words, _BatchRun, _f1_line
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
from korebot.kore.models import TRAININGS
from korebot.registry import Bot

if TYPE_CHECKING:
    from korebot.gateway import StatusGateway


def register(app: typer.Typer) -> None:
    """Add ``korebot release`` to the app."""
    app.command(
        epilog="Example: korebot release support en "
        '--suite "smoke tests" --min-f1 0.85 --timeout 3600'
    )(release)


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
