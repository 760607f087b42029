"""The words of ``/publish-status``: a bot's latest publish, its watch and result, the
dialogs awaiting an admin's approval, the history of publishes, the confirmation of a
publish from Slack, and the command's help. Everything from Kore.ai or a user is escaped.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from slack_sdk.models.blocks import ActionsBlock, ButtonElement

from korebot.kore import JobStatus, Kind, Status
from korebot.kore.kinds.publish import NEVER, UNBLOCK, Publish
from korebot.registry import Bot
from korebot.slack import messages, release_messages
from korebot.slack.messages import (
    EMOJI,
    Message,
    context_line,
    duration,
    escape,
    job,
    section,
    slack_date,
)
from korebot.slack.parsing import PUBLISH_COMMAND, PUBLISH_USAGE
from korebot.watch.types import ReleaseView, RunView, WatchView

#: The confirmation's buttons (korebot.slack.listeners.actions.publish).
PUBLISH_ACTION = "publish_confirm"
CANCEL_ACTION = "publish_cancel"
_STATES = {
    Status.SUCCESS: "successful",
    Status.FAILURE: "failed",
    Status.IN_PROGRESS: "in progress",
    Status.UNKNOWN: "in an unknown state",
}


def state_words(result: JobStatus) -> str:
    if result.raw_status == NEVER:
        return "not found: the bot was never published"
    words = _STATES[result.status]
    if result.status is Status.UNKNOWN:
        words += f" `{escape(result.raw_status, 60)}`"
    return words


def details(publish: Publish | None) -> str:
    """Who requested it and when, how far it is, each resource, the comment."""
    if publish is None:
        return "Kore.ai gave no details."
    parts = []
    if publish.created_by:
        parts.append(f"requested by `{escape(publish.created_by, 80)}`")
    if publish.requested_at:
        parts.append(slack_date(publish.requested_at))
    if publish.percent is not None:
        parts.append(f"{publish.percent} % complete")
    if publish.comment:
        parts.append(f"\u201c{escape(publish.comment, 200)}\u201d")
    lines = [" · ".join(parts)] if parts else []
    if publish.resources:
        shown = [
            f"{escape(r.name, 60)} "
            + (f":x: {escape(r.status or '', 20)}" if r.failed else ":white_check_mark:")
            for r in publish.resources[:20]
        ]
        lines.append("resources: " + ", ".join(shown))
    if publish.awaiting:
        lines.append(approvals(publish))
    if publish.trainings:
        trained = ", ".join(
            f"{_kind(t.kind)} {escape(t.language, 10)} "
            + (EMOJI[t.status] if t.done else EMOJI[Status.IN_PROGRESS])
            for t in publish.trainings
        )
        lines.append(f"the published version's trainings: {trained}")
    return "\n".join(lines)


def approvals(publish: Publish) -> str:
    """The dialogs awaiting approval, their languages, and what unblocks them."""
    names = ", ".join(
        f"{escape(a.name, 60)}"
        + (f" ({', '.join(escape(x, 10) for x in a.languages)})" if a.languages else "")
        for a in publish.awaiting
    )
    return f":hourglass: awaiting approval: {names}; {UNBLOCK}."


def headline(name: str, result: JobStatus, bot_name: str | None = None) -> str:
    """ "✅ publish of support successful", which resources failed, or (korebot's own
    publish, its published trainings followed) whether the bot is live."""
    job = result.publish
    if job is not None and job.follows_trainings and result.status.is_final:
        who = escape(bot_name or "the bot")
        failed = job.failed_trainings
        if not failed:
            return f"{EMOJI[Status.SUCCESS]} {name} successful: {who} is live"
        names = ", ".join(f"{_kind(t.kind)} training ({escape(t.language, 10)})" for t in failed)
        return (
            f"{EMOJI[Status.FAILURE]} {name} successful, but the published version's "
            f"{names} failed: {who} is not live"
        )
    line = f"{EMOJI[result.status]} {name} {state_words(result)}"
    failed_resources = job.failed_resources if job else ()
    if result.status is Status.FAILURE and failed_resources:
        line += ": " + ", ".join(escape(r.name, 60) for r in failed_resources) + " failed"
    return line


def _kind(value: str) -> str:
    return {"faq": "FAQ", "ml": "ML"}.get(value, escape(value, 10))


def status(bot: Bot, result: JobStatus, user: str, age: float = 0.0) -> Message:
    """The answer to ``/publish-status BOT``, visible in the channel."""
    name = f"latest publish of {escape(bot.name)}"
    first = headline(name, result)
    fresh = f" · as of {round(age)} s ago" if age >= 1 else ""
    return Message(
        text=first,
        blocks=(
            section(f"*{first}*\n*{escape(bot.name)}* (`{escape(bot.bot_id)}`)"),
            context_line(f"{details(result.publish)} · asked by <@{user}>{fresh}"),
        ),
    )


def watching(
    watch: WatchView,
    result: JobStatus,
    failing_since: datetime | None = None,
    note: str | None = None,
) -> Message:
    """The parent message while a publish runs (``messages.watching``, with its details)."""
    return messages.watching(watch, result, failing_since, note, details(result.publish))


def final_reply(watch: WatchView, result: JobStatus, took: float | None = None) -> Message:
    mentions = " ".join(f"<@{user}>" for user in watch.askers)
    first = headline(job(watch), result, watch.bot_name)
    text = f"{mentions} {first}".strip()
    about = details(result.publish)
    if took is not None:
        about += f"\ntook {duration(round(took))}"
    return Message(text=text, blocks=(section(f"*{text}*"), context_line(about)))


def final_parent(watch: WatchView, result: JobStatus) -> Message:
    first = headline(job(watch), result, watch.bot_name)
    return Message(
        text=first,
        blocks=(section(f"*{first}*"), context_line("result in the thread")),
    )


def ran_between_checks(watch: WatchView, result: JobStatus) -> Message:
    first = headline(job(watch), result)
    return Message(
        text=f"{first} (it started and ended between my checks).",
        blocks=(section(f"*{first}*"), context_line(details(result.publish))),
    )


def history(
    bot_name: str, runs: Sequence[RunView], releases: Sequence[ReleaseView] = ()
) -> Message:
    """The last publishes korebot saw, newest first; then the bot's releases."""
    subject = messages.what(Kind.PUBLISH) + f"es of {escape(bot_name)}"
    released = (
        [section(f"*Releases of {escape(bot_name)}, newest first:*\n" + "\n".join(lines))]
        if (lines := release_messages.history_lines(releases))
        else []
    )
    if not runs:
        text = (
            f"No {subject} are recorded yet: I record those I see while a channel watches "
            "or is subscribed to the bot's publishes."
        )
        return Message(text=text, blocks=(section(text), *released))
    lines = []
    for run in runs:
        publish = run.result.publish if run.result is not None else None
        state = "running" if run.outcome is None else run.outcome.value
        emoji = EMOJI[run.outcome or Status.IN_PROGRESS]
        parts = [f"{emoji} {state}"]
        when = (publish.requested_at if publish else None) or run.started_at or run.ended_at
        if when:
            parts.append(slack_date(when))
        if publish and publish.created_by:
            parts.append(f"by `{escape(publish.created_by, 80)}`")
        if run.started_by:
            parts.append(f"started by <@{run.started_by}>")
        if run.duration is not None:
            parts.append(f"took {duration(round(run.duration))}")
        if publish and publish.comment:
            parts.append(f"\u201c{escape(publish.comment, 100)}\u201d")
        lines.append("• " + " · ".join(parts))
    text = f"*Last {len(runs)} {subject}, newest first:*\n" + "\n".join(lines)
    return Message(text=text, blocks=(section(text[:2900]), *released))


def help_message() -> Message:
    name = PUBLISH_COMMAND
    text = (
        "*Kore.ai publishing*\n"
        f"`{PUBLISH_USAGE}` shows the bot's latest publish: its state, who requested it and "
        "when, how far it is, each resource; if it is running I watch it and post the result "
        "in a thread.\n"
        f"• `{name} support` — the latest publish of support\n"
        f"• `{name} publish support [comment]` — publish it (you confirm; publishers only)\n"
        f'• `{name} release support en "smoke tests"` — train FAQ and ML, run the suite '
        "and judge it, publish, follow it until live (you confirm; trainers who publish)\n"
        f"• `{name} history support` — the last 10 publishes I saw\n"
        f"• `{name} subscribe support` — announce every publish of the bot here\n"
        f"• `{name} unsubscribe support` — stop announcing\n"
        f"• `{name} stop support` — stop watching its publish here\n"
        f"• `{name} list` — what is watched and subscribed in this channel\n"
        f"• `{name} bots` — the bots I know\n"
        f"• `{name} help` — this message"
    )
    return Message(text=text, blocks=(section(text),))


def confirmation(bot: Bot, comment: str, train: bool, token: str) -> Message:
    """Only the publisher sees it: what publishing will do, with Publish / Cancel."""
    trained = (
        "Kore.ai then trains the published version (FAQ and ML)"
        if train
        else "the published version is not trained"
    )
    text = (
        f"*Publish {escape(bot.name)}* (`{escape(bot.bot_id)}`) on {escape(bot.host)}?\n"
        f"Version comment: \u201c{escape(comment, 300)}\u201d\n"
        f"{trained}. Dialogs may wait for an admin's approval; I watch the publish and "
        "post its result in a thread here, mentioning you."
    )
    buttons = ActionsBlock(
        elements=[
            ButtonElement(text="Publish", action_id=PUBLISH_ACTION, value=token, style="primary"),
            ButtonElement(text="Cancel", action_id=CANCEL_ACTION, value=token),
        ]
    )
    return Message(text=f"Publish {bot.name}?", blocks=(section(text), buttons))


def answer(text: str) -> Message:
    return Message(text=text, blocks=(section(escape(text, 600)),))
