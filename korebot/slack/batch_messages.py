"""The words of ``/batch-test``: a suite run's message, its result against the bar, the
suites of a bot, a suite's history with its F1 trend, and the command's help.

A result says at a glance whether the model is good enough: its first line is the
verdict (korebot.kore.kinds.batch.judge) with the F1 and its change from the previous
completed run, or why it failed; then the scores, the counts, the report link (it
expires) and how long the run took. Everything from Kore.ai or a user is escaped.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from slack_sdk.models.blocks import Block

from korebot.kore import JobStatus, Kind, State, Status
from korebot.kore.kinds import batch
from korebot.kore.kinds.batch import Bar, BatchRun, PastResult, Suite, Verdict
from korebot.registry import Bot
from korebot.slack import messages
from korebot.slack.messages import (
    EMOJI,
    Message,
    context_line,
    duration,
    escape,
    job,
    section,
    slack_date,
    target_line,
    what,
)
from korebot.slack.parsing import BATCH_COMMAND, BATCH_USAGE
from korebot.watch.types import RunView, WatchView

VERSION_WORDS = {State.CONFIGURED: "in-development version", State.PUBLISHED: "published version"}
_VERDICT_EMOJI = {
    Verdict.PASSED: EMOJI[Status.SUCCESS],
    Verdict.FAILED: EMOJI[Status.FAILURE],
    Verdict.RUNNING: EMOJI[Status.IN_PROGRESS],
    Verdict.UNKNOWN: EMOJI[Status.UNKNOWN],
}
#: The characters of the F1 trend, lowest to highest.
_SPARKS = "▁▂▃▄▅▆▇█"


def _f1(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}"


def sparkline(values: Sequence[float]) -> str:
    """One character per value, oldest first, scaled between the lowest and the highest."""
    if not values:
        return ""
    low, high = min(values), max(values)
    span = high - low
    if span < 1e-9:
        return _SPARKS[len(_SPARKS) // 2] * len(values)
    return "".join(_SPARKS[round((v - low) / span * (len(_SPARKS) - 1))] for v in values)


def progress(run: BatchRun | None) -> str:
    """ "5 of 10 utterances (50 %)", or "" when Kore.ai gave no progress."""
    if run is None:
        return ""
    counts = run.counts
    if counts.ran is not None and counts.utterances:
        share = counts.percentage
        share = share if share is not None else 100 * counts.ran / counts.utterances
        return f"{counts.ran} of {counts.utterances} utterances ({share:.0f} %)"
    if counts.percentage is not None:
        return f"{counts.percentage:.0f} % done"
    return ""


def headline(watch: WatchView, result: JobStatus, bar: Bar) -> tuple[Verdict, str]:
    """The verdict and the first line of a run's result."""
    run = result.batch
    name = job(watch)
    if run is None:  # only a raw status is known (an older record)
        shown = escape(result.raw_status, 60)
        return Verdict.UNKNOWN, f"{EMOJI[Status.UNKNOWN]} {name} ended: Kore.ai says `{shown}`"
    judged = batch.judge(run, result.previous, bar)
    emoji = _VERDICT_EMOJI[judged.verdict]
    before = result.previous.scores.f1 if result.previous else None
    change = batch.change_words(judged.change, before)
    score = f"F1 {_f1(run.scores.f1)}" + (f", {change}" if change else "")
    if judged.verdict is Verdict.PASSED:
        return judged.verdict, f"{emoji} {name} passed: {score}"
    if judged.verdict is Verdict.UNKNOWN:
        shown = escape(run.raw_status, 60)
        return judged.verdict, f"{emoji} {name} ended with an unknown status `{shown}`"
    if run.status is Status.FAILURE:
        shown = escape(run.raw_status, 60)
        return judged.verdict, f"{emoji} {name} did not complete: Kore.ai says `{shown}`"
    return judged.verdict, f"{emoji} {name} failed: {escape('; '.join(judged.reasons), 400)}"


def details(result: JobStatus, bar: Bar, took: float | None = None) -> str:
    """The scores, the counts, the comparison, the report and how long it took."""
    run = result.batch
    if run is None:
        return f"Kore.ai says: _{escape(result.message)}_"
    parts = []
    scores = run.scores
    if scores.known:
        parts.append(
            f"F1 *{_f1(scores.f1)}* · precision {_f1(scores.precision)} · "
            f"recall {_f1(scores.recall)}"
        )
    counts = run.counts
    tallies = [
        f"{name} {value}"
        for name, value in (
            ("TP", counts.tp),
            ("TN", counts.tn),
            ("FP", counts.fp),
            ("FN", counts.fn),
        )
        if value is not None
    ]
    if counts.failed_utterances is not None:
        failed = counts.failed_utterances
        tallies.append(f"{failed} failed utterance{'' if failed == 1 else 's'}")
    if tallies:
        parts.append(" · ".join(tallies))
    previous = result.previous
    if previous is not None and previous.scores.known:
        when = f" ({slack_date(previous.at)})" if previous.at else ""
        parts.append(
            f"previous run{when}: F1 {_f1(previous.scores.f1)} · precision "
            f"{_f1(previous.scores.precision)} · recall {_f1(previous.scores.recall)}"
        )
    elif run.status is Status.SUCCESS:
        parts.append("no previous completed run to compare with")
    length = run.duration if run.duration is not None else took
    if length is not None:
        parts.append(f"took {duration(round(length))}")
    if run.report_url:
        parts.append(f"<{escape(run.report_url, 2000)}|CSV report> (the link expires)")
    if run.partial_failure:
        parts.append(":warning: Kore.ai discarded some records (partial failure)")
    parts.append(bar_words(bar))
    return "\n".join(parts)


def bar_words(bar: Bar) -> str:
    minimum = "no minimum F1" if bar.min_f1 is None else f"F1 at least {bar.min_f1:.2f}"
    return f"bar: {minimum}, a drop of at most {bar.max_drop:.2f} from the previous run"


def watching(
    watch: WatchView,
    result: JobStatus,
    failing_since: datetime | None = None,
    note: str | None = None,
) -> Message:
    """The parent message of a suite run (``messages.watching``, with the run's progress
    and the version tested); the result will come in its thread."""
    about = [VERSION_WORDS[watch.state]]
    if done := progress(result.batch):
        about.insert(0, done)
    return messages.watching(watch, result, failing_since, note, " · ".join(about))


def final_reply(
    watch: WatchView, result: JobStatus, bar: Bar, took: float | None = None
) -> Message:
    """The thread reply with the result, mentioning everyone who asked (or joined)."""
    mentions = " ".join(f"<@{user}>" for user in watch.askers)
    _, first = headline(watch, result, bar)
    text = f"{mentions} {first}".strip()
    return Message(
        text=text, blocks=(section(f"*{text}*"), context_line(details(result, bar, took)))
    )


def final_parent(watch: WatchView, result: JobStatus, bar: Bar) -> Message:
    """The parent message once the run has ended (no more buttons)."""
    _, first = headline(watch, result, bar)
    target = target_line(watch.bot_name, watch.bot_id, watch.language, watch.state)
    return Message(
        text=first,
        blocks=(section(f"*{first}*\n{target}"), context_line("result in the thread")),
    )


def ran_between_checks(watch: WatchView, result: JobStatus, bar: Bar) -> Message:
    """A run a subscription saw only finished (in the suite's list of results)."""
    _, first = headline(watch, result, bar)
    target = target_line(watch.bot_name, watch.bot_id, watch.language, watch.state)
    return Message(
        text=first,
        blocks=(section(f"*{first}*\n{target}"), context_line(details(result, bar))),
    )


def suites(bot: Bot, language: str, listed: Sequence[Suite]) -> Message:
    """The bot's suites for the language, each with its last result, for the asker only."""
    if not listed:
        text = (
            f"{escape(bot.name)} has no batch test suites for `{escape(language)}` yet: "
            "create one in Kore.ai (Testing > Batch Testing)."
        )
        return Message(text=text, blocks=(section(text),))
    lines = []
    for suite in listed:
        line = f"• *{escape(suite.name, 100)}*"
        if suite.type == "prebuilt":
            line += " (prebuilt)"
        last = _last(suite, language)
        if last is None:
            line += " · no completed run yet"
        else:
            when = f" · {slack_date(last.at)}" if last.at else ""
            version = VERSIONS_BY_RUN_TYPE.get(last.run_type or "", escape(last.run_type or "?"))
            line += f" · last F1 {_f1(last.scores.f1)}{when} · {version}"
        lines.append(line)
    head = f"*Batch test suites of {escape(bot.name)} ({escape(language)}):*"
    hint = f'Run one with `{BATCH_COMMAND} {escape(bot.name)} {escape(language)} "SUITE"`.'
    text = "\n".join([head, *lines, hint])
    return Message(text=text, blocks=(section(text[:2900]),))


VERSIONS_BY_RUN_TYPE = {name: VERSION_WORDS[state] for state, name in batch.VERSIONS.items()}


def _last(suite: Suite, language: str) -> PastResult | None:
    dated = [
        result
        for result in (suite.previous(state, language) for state in State)
        if result is not None
    ]
    if not dated:
        return None
    return max(dated, key=lambda r: r.at.timestamp() if r.at else float("-inf"))


def unknown_suite(bot: Bot, language: str, name: str, listed: Sequence[Suite]) -> str:
    """Why a suite name was not found, naming the bot's suites."""
    known = ", ".join(f'"{suite.name}"' for suite in listed[:20]) or "none"
    more = f" and {len(listed) - 20} more" if len(listed) > 20 else ""
    return (
        f"{bot.name} has no batch test suite called {name!r} for {language}. "
        f"Its suites: {known}{more}."
    )


def history(
    bot_name: str, language: str, suite: str, state: State, runs: Sequence[RunView]
) -> Message:
    """The last runs of a suite korebot saw, newest first, with a one-line F1 trend."""
    subject = (
        f"{what(Kind.BATCH, suite)} of {escape(bot_name)} ({escape(language)}, "
        f"{VERSION_WORDS[state]})"
    )
    if not runs:
        text = (
            f"No runs of {subject} are recorded yet: I record the runs started with "
            f"`{BATCH_COMMAND}` and those a subscribed channel hears of."
        )
        return Message(text=text, blocks=(section(text),))
    lines = [_run_line(run) for run in runs]
    f1s = [
        run.result.batch.scores.f1
        for run in reversed(runs)
        if run.result is not None
        and run.result.batch is not None
        and run.result.batch.scores.f1 is not None
    ]
    trend = f"\nF1 trend, oldest to newest: `{sparkline(f1s)}` {_f1(f1s[0])} → {_f1(f1s[-1])}"
    last = "The last run" if len(runs) == 1 else f"Last {len(runs)} runs"
    text = f"*{last} of {subject}, newest first:*\n" + "\n".join(lines)
    if len(f1s) >= 2:
        text += trend
    blocks: tuple[Block, ...] = (section(text[:2900]),)
    return Message(text=text, blocks=blocks)


def _run_line(run: RunView) -> str:
    when = run.ended_at or run.started_at
    at = f" · {slack_date(when)}" if when else ""
    by = f" · started by <@{run.started_by}>" if run.started_by else ""
    if run.outcome is None:
        return f"• {EMOJI[Status.IN_PROGRESS]} running{at}{by}"
    result = run.result.batch if run.result is not None else None
    if result is None or not result.scores.known:
        status = run.outcome.value if result is None else escape(result.raw_status, 40)
        return f"• {EMOJI[run.outcome]} {status}{at}{by}"
    scores = result.scores
    return (
        f"• {EMOJI[run.outcome]} F1 *{_f1(scores.f1)}* · precision {_f1(scores.precision)} · "
        f"recall {_f1(scores.recall)}{at}{by}"
    )


def help_message() -> Message:
    name = BATCH_COMMAND
    text = (
        "*Kore.ai batch tests*\n"
        f"`{BATCH_USAGE}` runs the suite on that version (default: configured, Kore.ai's "
        "in-development) and posts its scores in a thread, compared with the previous run "
        "and judged against the bot's bar.\n"
        f'• `{name} support en "Smoke tests"` — run a suite (quotes for names with spaces)\n'
        f"• `{name} support en smoke published` — run it on the published version\n"
        f"• `{name} support en` — the bot's suites with their last results\n"
        f'• `{name} history support en "Smoke tests"` — its last 10 runs with the F1 trend\n'
        f'• `{name} subscribe support en "Smoke tests"` — post every run\'s result here\n'
        f'• `{name} unsubscribe support en "Smoke tests"` — stop posting\n'
        f'• `{name} stop support en "Smoke tests"` — stop watching a run (it goes on)\n'
        f"• `{name} list` — what is watched and subscribed in this channel\n"
        f"• `{name} bots` — the bots I know\n"
        f"• `{name} help` — this message"
    )
    return Message(text=text, blocks=(section(text),))


def joined(watch: WatchView, link: str | None) -> Message:
    """Told to whoever asked for a suite already running: they are in its result."""
    where = f"<{link}|this thread>" if link else "the thread of my message"
    text = f"{job(watch)} is already running; I added you, and its result will come in {where}."
    return Message(text=text, blocks=(section(text),))


def lost(name: str, suites: str, error: str | None = None) -> Message:
    """A run whose POST's answer never came back: it may run; it is never sent again."""
    why = (
        f"Kore.ai did not answer my request to run {name} ({escape(error, 300)})"
        if error
        else f"I was interrupted while asking Kore.ai to run {name}"
    )
    text = (
        f":warning: {why}, so it may or may not be running. I will not send it twice; its "
        f"result will show in `{escape(suites)}` once it ends."
    )
    return Message(text=text, blocks=(section(text),))


def already_started(name: str) -> Message:
    """The same command run again (after a crash): its run was started and is watched."""
    text = f":information_source: {name} was started; its result will come in its thread."
    return Message(text=text, blocks=(section(text),))


def not_started(name: str, reason: str) -> Message:
    text = f":warning: {name} was not started: {escape(reason, 600)}"
    return Message(text=text, blocks=(section(text),))
