"""The words of a release (``/publish-status release``): its confirmation, the checklist
message updated in place, one thread line per ended step and the end's, the running
releases of ``list`` and the Home tab, and ``history``. What came from Kore.ai (the
steps' summaries) or a user is escaped.
"""

from __future__ import annotations

from collections.abc import Sequence

from slack_sdk.models.blocks import ActionsBlock, Block, ButtonElement

from korebot.kore import Kind, Status
from korebot.kore.kinds.batch import Bar
from korebot.kore.kinds.publish import UNBLOCK
from korebot.registry import Bot
from korebot.slack.batch_messages import bar_words
from korebot.slack.kinds import label
from korebot.slack.messages import Message, context_line, duration, escape, section, slack_date
from korebot.watch.types import (
    JobPhase,
    ReleaseOutcome,
    ReleaseState,
    ReleaseStep,
    ReleaseView,
    StepState,
    StepView,
)

#: The confirmation's buttons and the checklist's (korebot.slack.listeners.actions.release).
RELEASE_ACTION = "release_confirm"
CANCEL_RELEASE_ACTION = "release_cancel"
STOP_RELEASE_ACTION = "release_stop"

_MARK = {
    StepState.WAITING: ":white_circle:",
    StepState.RUNNING: ":hourglass_flowing_sand:",
    StepState.SUCCEEDED: ":white_check_mark:",
    StepState.SKIPPED: ":heavy_minus_sign:",
    StepState.FAILED: ":x:",
    StepState.AWAITING_APPROVAL: ":warning:",
    StepState.STOPPED: ":octagonal_sign:",
}
_OUTCOME_MARK = {
    ReleaseOutcome.LIVE: ":rocket:",
    ReleaseOutcome.FAILED: ":x:",
    ReleaseOutcome.STOPPED: ":octagonal_sign:",
    ReleaseOutcome.AWAITING_APPROVAL: ":warning:",
    ReleaseOutcome.TIMED_OUT: ":hourglass:",
}


def _name(step: ReleaseStep, view: ReleaseView) -> str:
    """What a step does, in a few words."""
    lang = escape(view.language, 16)
    return {
        ReleaseStep.TRAIN: f"Train FAQ and ML ({lang})",
        ReleaseStep.GATE: f"Batch test \u201c{escape(view.suite, 80)}\u201d"
        if view.suite
        else "Quality gate",
        ReleaseStep.PUBLISH: "Publish",
        ReleaseStep.LIVE: f"Published version trained ({lang})",
    }[step]


def _not_done(step: ReleaseStep, bot: str) -> str:
    """What a release that stopped at this step has not done."""
    if step in (ReleaseStep.TRAIN, ReleaseStep.GATE):
        return "not published"
    if step is ReleaseStep.PUBLISH:
        return f"{bot} is not live"
    return f"{bot} is published but not live"


def confirmation(bot: Bot, language: str, suite: str, bar: Bar, token: str) -> Message:
    """Only the releaser sees it: every step with its settings, Release / Cancel."""
    name, lang = escape(bot.name), escape(language, 16)
    gate = (
        f"2. Run the batch test suite \u201c{escape(suite, 80)}\u201d on it, and pass the "
        f"gate: {bar_words(bar)}."
        if suite
        else "2. No suite given: *no quality gate will apply*."
    )
    text = (
        f"*Release {name}* (`{escape(bot.bot_id)}`, {lang}) on {escape(bot.host)}?\n"
        f"1. Train FAQ and ML ({lang}) on the in-development version, side by side (a "
        "training already running is joined).\n"
        f"{gate}\n"
        "3. Publish, with a version comment naming the release and its scores.\n"
        "4. Follow the publish, any approval it waits for, and the published version's "
        f"FAQ and ML trainings ({lang}).\n"
        "Each step starts only when the one before it succeeded. One message here shows "
        "the checklist (with *Stop release*); its thread gets a line per step and mentions "
        "you at the end."
    )
    buttons = ActionsBlock(
        elements=[
            ButtonElement(text="Release", action_id=RELEASE_ACTION, value=token, style="primary"),
            ButtonElement(text="Cancel", action_id=CANCEL_RELEASE_ACTION, value=token),
        ]
    )
    return Message(text=f"Release {bot.name} ({language})?", blocks=(section(text), buttons))


def _step_line(step: StepView, view: ReleaseView) -> str:
    parts = [f"{_MARK[step.state]} *{_name(step.step, view)}*"]
    if step.state is StepState.RUNNING and step.began_at is not None:
        parts.append(f"since {slack_date(step.began_at)}")
    if step.summary:
        parts.append(escape(step.summary, 300))
    if step.state is StepState.STOPPED and view.stopped_by:
        parts.append(f"stopped by <@{view.stopped_by}>")
    if step.seconds is not None:
        parts.append(f"took {duration(round(step.seconds))}")
    return " · ".join(parts)


def headline(view: ReleaseView) -> str:
    """What an ended release came to, in one line (the checklist's first, the end's)."""
    bot, at = escape(view.bot_name), view.step  # a release ends at the step it was on
    match view.outcome:
        case ReleaseOutcome.LIVE:
            return f"{bot} is live ({escape(view.language, 16)})"
        case ReleaseOutcome.AWAITING_APPROVAL:
            return (
                f"{bot} is published and trained, but dialogs await an admin's approval: "
                f"not live until {UNBLOCK}"
            )
        case ReleaseOutcome.STOPPED:
            by = f" by <@{view.stopped_by}>" if view.stopped_by else ""
            return f"Release stopped{by} at {_name(at, view)}: {_not_done(at, bot)}"
        case ReleaseOutcome.TIMED_OUT:
            return f"Release timed out at {_name(at, view)}: {_not_done(at, bot)}"
    return f"{_what_failed(view)}: {_not_done(at, bot)}"


def _what_failed(view: ReleaseView) -> str:
    """ "ML training failed", "the published FAQ training failed", "Publish failed"…"""
    if view.step in (ReleaseStep.TRAIN, ReleaseStep.LIVE):
        last = view.progress.job(Kind.PUBLISH) if view.step is ReleaseStep.LIVE else None
        if last is not None and last.last is not None and last.last.publish is not None:
            kinds = [Kind(t.kind) for t in last.last.publish.failed_trainings]
        else:
            kinds = [
                job.kind
                for job in view.progress.jobs
                if job.kind.is_training
                and job.last is not None
                and job.last.status is Status.FAILURE
                and job.phase is not JobPhase.POSTING
            ]
        if kinds:
            published = "the published " if view.step is ReleaseStep.LIVE else ""
            return f"{published}{' and '.join(label(k) for k in kinds)} training failed"
    return f"{_name(view.step, view)} failed"


def checklist(view: ReleaseView) -> Message:
    """The release's one message in the channel, updated in place as steps start and end."""
    if view.outcome is None:
        name, lang = escape(view.bot_name), escape(view.language, 16)
        first = f":hourglass_flowing_sand: <@{view.user_id}> is releasing {name} ({lang})"
    else:
        first = f"{_OUTCOME_MARK[view.outcome]} <@{view.user_id}>'s release: {headline(view)}"
    lines = [_step_line(step, view) for step in view.progress.steps]
    blocks: list[Block] = [section(f"*{first}*"), section("\n".join(lines))]
    took = _took(view)
    if took:
        blocks.append(context_line(took))
    if view.state is ReleaseState.RUNNING:
        blocks.append(
            ActionsBlock(
                elements=[
                    ButtonElement(
                        text="Stop release",
                        action_id=STOP_RELEASE_ACTION,
                        value=view.token,
                        style="danger",
                    )
                ]
            )
        )
    return Message(text=first, blocks=tuple(blocks))


def step_line(view: ReleaseView, step: ReleaseStep) -> Message:
    """The thread's line of an ended step (the fallback text without the bold)."""
    text = _step_line(view.progress.step(step), view)
    return Message(text=text.replace("*", ""), blocks=(section(text),))


def end_line(view: ReleaseView) -> Message:
    """The thread's last line, mentioning the releaser."""
    mark = _OUTCOME_MARK[view.outcome] if view.outcome else ""
    text = f"<@{view.user_id}> {mark} {headline(view)}"
    took = _took(view)
    return Message(text=text, blocks=(section(text), *([context_line(took)] if took else [])))


def _took(view: ReleaseView) -> str:
    if view.started_at is None or view.ended_at is None:
        return ""
    seconds = (view.ended_at - view.started_at).total_seconds()
    return f"The release took {duration(round(seconds))}."


def already_running(view: ReleaseView, link: str | None) -> Message:
    where = f"<{link}|its thread>" if link else f"its thread in <#{view.channel_id}>"
    text = (
        f"A release of {escape(view.bot_name)} is already running (started by "
        f"<@{view.user_id}>, now at {_name(view.step, view)}): follow {where}."
    )
    return Message(text=text, blocks=(section(text),))


def running_lines(views: Sequence[ReleaseView]) -> list[str]:
    """One line per running release: the bot, its current step, who and since when."""
    return [
        f"• :rocket: release of {escape(v.bot_name)} ({escape(v.language, 16)}): "
        f"{_name(v.step, v)}, by <@{v.user_id}>"
        + (f" since {slack_date(v.started_at)}" if v.started_at else "")
        + f" in <#{v.channel_id}>"
        for v in views
    ]


def history_lines(views: Sequence[ReleaseView]) -> list[str]:
    """The bot's releases, newest first, each with its outcome."""
    lines = []
    for view in views:
        state = "running" if view.outcome is None else view.outcome.value.replace("_", " ")
        mark = _OUTCOME_MARK[view.outcome] if view.outcome else ":hourglass_flowing_sand:"
        parts = [f"{mark} {state}", f"by <@{view.user_id}>"]
        if view.started_at:
            parts.append(slack_date(view.started_at))
        parts.append(headline(view) if view.outcome else _name(view.step, view))
        if took := _took(view):
            parts.append(took.removeprefix("The release ").rstrip("."))
        lines.append("• " + " · ".join(parts))
    return lines


def answer(text: str) -> Message:
    return Message(text=text, blocks=(section(text),))
