"""Every message the app sends, as Block Kit (slack_sdk.models.blocks) plus a text fallback.

Everything that came from a user or from Kore.ai goes through ``escape`` first,
so that typing ``<!channel>`` as a bot name can never ping a channel. Each message
names its kind of job ("FAQ training for …", "batch test “Smoke” of …"), and those
about a command name the kind's own (``/faq-status``, ``/ml-status``, ``/batch-test``);
a batch test's results are worded in korebot.slack.batch_messages.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    ContextBlock,
    MarkdownTextObject,
    SectionBlock,
)

from korebot.kore import JobStatus, Kind, State, Status
from korebot.kore.kinds.ml import part_names
from korebot.registry import Bot
from korebot.slack.kinds import command, label
from korebot.slack.parsing import usage as usage_line
from korebot.watch.types import SubscriptionView, WatchView

STOP_ACTION = "stop_watch"

EMOJI = {
    Status.SUCCESS: ":white_check_mark:",
    Status.FAILURE: ":x:",
    Status.IN_PROGRESS: ":hourglass_flowing_sand:",
    Status.UNKNOWN: ":grey_question:",
}
_VERB = {
    Status.SUCCESS: "succeeded",
    Status.FAILURE: "failed",
    Status.IN_PROGRESS: "is in progress",
    Status.UNKNOWN: "reports an unknown status",
}


@dataclass(frozen=True)
class Message:
    text: str
    blocks: tuple[Block, ...] = ()

    def kwargs(self) -> dict[str, Any]:
        """Arguments for chat.postMessage / chat.update / respond."""
        return {"text": self.text, "blocks": [block.to_dict() for block in self.blocks]}


def escape(value: str, limit: int = 200) -> str:
    """Make user- or Kore-supplied text inert in mrkdwn and keep it short and printable."""
    cleaned = "".join(
        " " if unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp") else ch for ch in value
    )
    cleaned = " ".join(cleaned.split())
    if len(cleaned) > limit:
        cleaned = cleaned[: limit - 1] + "…"
    return cleaned.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def md(text: str) -> MarkdownTextObject:
    return MarkdownTextObject(text=text)


def section(text: str) -> SectionBlock:
    return SectionBlock(text=md(text))


def context_line(text: str) -> ContextBlock:
    return ContextBlock(elements=[md(text)])


def duration(seconds: float) -> str:
    minutes = round(seconds / 60)
    if seconds < 90:
        return f"{seconds:g} s"
    if minutes < 90:
        return f"{minutes} min"
    return f"{minutes / 60:.1f} h".replace(".0 h", " h")


def timed_out(waited: float, last_status: str, error: str | None) -> str:
    """Why a watch ended without a result (``Notifier.timed_out``)."""
    reason = (
        f"I stopped watching after {duration(waited)} without a final "
        f"result; the last status was *{last_status}*."
    )
    return reason if error is None else f"{reason} Kore.ai is failing: {error}"


def slack_date(moment: datetime) -> str:
    """A date Slack shows in each reader's own time zone, with a UTC fallback."""
    fallback = moment.strftime("%Y-%m-%d %H:%M UTC")
    return f"<!date^{int(moment.timestamp())}^{{date_short_pretty}} at {{time}}|{fallback}>"


def target_line(name: str, bot_id: str, language: str, state: State) -> str:
    bot = escape(name) if name == bot_id else f"{escape(name)} (`{escape(bot_id)}`)"
    if not language:  # a job of the whole bot (a publish)
        return f"*{bot}*"
    return f"*{bot}* · `{escape(language)}` · {state.value}"


def what(kind: Kind, subject: str = "") -> str:
    """The kind of job: "ML training", "batch test “Smoke tests”"."""
    if kind is Kind.BATCH:
        return f"{label(kind)} \u201c{escape(subject, 100)}\u201d"
    if kind is Kind.PUBLISH:
        return label(kind)
    return f"{label(kind)} training"


def _training(kind: Kind, name: str, language: str, subject: str = "") -> str:
    """The job, as in "ML training for support (en)", "batch test “Smoke” of support (en)",
    "publish of support" (a publish is per bot)."""
    if kind is Kind.PUBLISH:
        return f"{label(kind)} of {escape(name)}"
    of = "of" if kind is Kind.BATCH else "for"
    return f"{what(kind, subject)} {of} {escape(name)} ({escape(language)})"


def job(watch: WatchView) -> str:
    """The watch's job, as ``_training`` words it."""
    return _training(watch.kind, watch.bot_name, watch.language, watch.subject)


def _headline(name: str, language: str, result: JobStatus) -> str:
    verb = _VERB[result.status]
    if result.status is Status.UNKNOWN:
        verb = f"reports an unknown status `{escape(result.raw_status, 60)}`"
    return f"{EMOJI[result.status]} {_training(result.kind, name, language)} {verb}"


def _out_of_sync(result: JobStatus) -> str:
    """What tells a developer an ML training is due; empty when nothing is out of sync."""
    if not result.out_of_sync:
        return ""
    parts = ", ".join(escape(part, 40) for part in part_names(result.out_of_sync))
    return f"the model is not in sync with: {parts}"


def _details(result: JobStatus) -> str:
    parts = [f"Kore.ai says: _{escape(result.message)}_"]
    if result.modified_on:
        parts.append(f"last change {slack_date(result.modified_on)}")
    if result.modified_by:
        parts.append(f"by `{escape(result.modified_by, 80)}`")
    if result.train_version is not None:
        parts.append(f"model version {result.train_version}")
    if sync := _out_of_sync(result):
        parts.append(f":warning: {sync}")
    return " · ".join(parts)


def status(
    bot: Bot, language: str, state: State, result: JobStatus, user: str, age: float = 0.0
) -> Message:
    """The answer to ``/faq-status BOT LANG``, visible in the channel."""
    headline = _headline(bot.name, language, result)
    # A shared or rate-limited answer says how old it is.
    fresh = f" · as of {round(age)} s ago" if age >= 1 else ""
    sync = _out_of_sync(result)
    return Message(
        text=f"{headline}. Kore.ai says: {escape(result.message)}" + (f"; {sync}." if sync else ""),
        blocks=(
            section(f"*{headline}*\n{target_line(bot.name, bot.bot_id, language, state)}"),
            context_line(f"{_details(result)} · asked by <@{user}>{fresh}"),
        ),
    )


def watching(
    watch: WatchView,
    result: JobStatus,
    failing_since: datetime | None = None,
    note: str | None = None,
    about: str | None = None,
) -> Message:
    """The parent message of a watch; the result will come in its thread. ``note`` (how
    long it usually takes, korebot.slack.history_messages) comes first in its context;
    ``about`` (a batch test's progress and version) replaces a training's details."""
    name = job(watch)
    running = "is running" if watch.kind is Kind.BATCH else "is in progress"
    if watch.via == "subscription" and watch.kind is not Kind.BATCH:
        line = f"{name} started; I will post the result in this thread."
    elif watch.via == "train" and watch.askers:
        # Its first asker is who started it from Slack (korebot.slack.listeners.actions.train).
        line = f"<@{watch.askers[0]}> started {name}; I will post the result in this thread."
    else:
        line = f"{name} {running}; I will post the result in this thread."
    context = f"{about or _details(result)} · watching since {slack_date(watch.started_at)}"
    if note:
        context = f"{note} · {context}"
    if failing_since is not None:
        context = (
            f":warning: Kore.ai unreachable since {slack_date(failing_since)}; "
            f"I keep trying · {context}"
        )
    target = target_line(watch.bot_name, watch.bot_id, watch.language, watch.state)
    return Message(
        text=line,
        blocks=(
            section(f"{EMOJI[Status.IN_PROGRESS]} *{line}*\n{target}"),
            context_line(context),
            ActionsBlock(
                elements=[
                    ButtonElement(
                        text="Stop watching", action_id=STOP_ACTION, value=str(watch.watch_id)
                    )
                ]
            ),
        ),
    )


def ran_between_checks(watch: WatchView, result: JobStatus) -> Message:
    """One message for a run that started and ended between two polls (subscriptions)."""
    headline = _headline(watch.bot_name, watch.language, result)
    target = target_line(watch.bot_name, watch.bot_id, watch.language, watch.state)
    return Message(
        text=f"{headline} (it started and ended between my checks).",
        blocks=(section(f"*{headline}*\n{target}"), context_line(_details(result))),
    )


def final_reply(watch: WatchView, result: JobStatus, note: str | None = None) -> Message:
    """The thread reply with the result, mentioning everyone who asked; ``note`` (how long
    it took against the usual) follows the headline."""
    mentions = " ".join(f"<@{user}>" for user in watch.askers)
    headline = _headline(watch.bot_name, watch.language, result)
    took = f" ({note})" if note else ""
    return Message(
        text=f"{mentions} {headline}{took}.".strip(),
        blocks=(section(f"{mentions} *{headline}*{took}".strip()), context_line(_details(result))),
    )


def final_parent(watch: WatchView, result: JobStatus) -> Message:
    """The parent message once the training has ended (no more buttons)."""
    headline = _headline(watch.bot_name, watch.language, result)
    return Message(
        text=f"{headline}.",
        blocks=(
            section(
                f"*{headline}*\n"
                f"{target_line(watch.bot_name, watch.bot_id, watch.language, watch.state)}"
            ),
            context_line(f"{_details(result)} · result in the thread"),
        ),
    )


def gave_up_reply(watch: WatchView, reason: str) -> Message:
    mentions = " ".join(f"<@{user}>" for user in watch.askers)
    training = job(watch)
    line = f"{mentions} :warning: Watch of {training} ended: {reason}".strip()
    return Message(text=line, blocks=(section(line),))


def gave_up_parent(watch: WatchView, reason: str) -> Message:
    line = f":warning: *No longer watching {job(watch)}*\n{reason}"
    return Message(text=line, blocks=(section(line),))


def stopped_parent(watch: WatchView, user: str) -> Message:
    line = f":octagonal_sign: <@{user}> stopped watching {job(watch)}."
    return Message(text=line, blocks=(section(line),))


def already_watching(watch: WatchView, link: str | None, note: str | None = None) -> Message:
    where = f"<{link}|this thread>" if link else "the thread of my earlier message"
    line = (
        f"{job(watch)} is already "
        f"being watched here; I added you, and the result will come in {where}."
    )
    if note:
        line += f"\n{note}."
    return Message(text=line, blocks=(section(line),))


def moved_to_dm(channel_id: str) -> Message:
    line = (
        f":information_source: I can't post in <#{channel_id}>, so I'll send the result to you "
        "by direct message. To have results in the channel, invite me there with "
        "`/invite @korebot` and ask again."
    )
    return Message(text=line, blocks=(section(line),))


def _kind(item: WatchView | SubscriptionView) -> str:
    """A list line's kind: "FAQ", "ML", or the batch test with its suite."""
    return what(item.kind, item.subject) if item.kind is Kind.BATCH else label(item.kind)


def watch_list(
    watches: Iterable[tuple[WatchView, str | None]],
    subscriptions: Iterable[SubscriptionView] = (),
    kind: Kind = Kind.FAQ,
    releases: list[str] | None = None,
) -> Message:
    """The channel's watches and subscriptions of every kind, each labelled with its kind,
    and its running releases (``releases``: their lines); ``kind`` is the command's, for
    the usage line when there is none."""
    lines = []
    for watch, link in watches:
        target = target_line(watch.bot_name, watch.bot_id, watch.language, watch.state)
        since = slack_date(watch.started_at)
        where = f" · <{link}|thread>" if link else ""
        status = escape(watch.last_status or "unknown")
        by = f" · started by <@{watch.askers[0]}>" if watch.via == "train" and watch.askers else ""
        lines.append(f"• {_kind(watch)} · {target} · {status} since {since}{by}{where}")
    subscribed = [
        f"• {_kind(sub)} · "
        f"{target_line(sub.bot_name, sub.bot_id, sub.language, sub.state)}"
        + (f" · :double_vertical_bar: paused: {escape(sub.paused)}" if sub.paused else "")
        for sub in subscriptions
    ]
    releases = releases or []
    if not lines and not subscribed and not releases:
        text = (
            "Nothing is watched or subscribed in this channel. "
            f"Ask with `{usage_line(command(kind))}`."
        )
        return Message(text=text, blocks=(section(text),))
    blocks: list[Block] = []
    if releases:
        blocks += [section(f"*Releases running ({len(releases)}):*\n" + "\n".join(releases))]
    if lines:
        blocks += [section(f"*Watched in this channel ({len(lines)}):*\n" + "\n".join(lines))]
    if subscribed:
        blocks += [section(f"*Subscriptions ({len(subscribed)}):*\n" + "\n".join(subscribed))]
    text = f"{len(lines)} watched, {len(subscribed)} subscribed in this channel."
    if releases:
        text = f"{len(releases)} releasing, {text}"
    return Message(text=text, blocks=tuple(blocks))


#: What one run of each kind is called ("each training's start").
_RUN_WORD = {Kind.FAQ: "training", Kind.ML: "training", Kind.BATCH: "run", Kind.PUBLISH: "publish"}


def subscribed(sub: SubscriptionView, how: str, user: str) -> Message:
    """Told to the whole channel: the team should know it is subscribed."""
    target = target_line(sub.bot_name, sub.bot_id, sub.language, sub.state)
    kind = what(sub.kind, sub.subject)
    if how == "already":
        text = f"This channel is already subscribed to {kind} of {target}."
    elif how == "resumed":
        text = f":bell: <@{user}> resumed this channel's subscription to {kind} of {target}."
    elif sub.kind is Kind.BATCH:
        text = (
            f":bell: <@{user}> subscribed this channel to {kind} of {target}: I will post "
            "each run's result here when it ends, whoever started it."
        )
    else:
        text = (
            f":bell: <@{user}> subscribed this channel to {kind} of {target}: I will "
            f"announce each {_RUN_WORD[sub.kind]}'s start here and post its result in the thread."
        )
    if sub.running and how != "already":
        run = _RUN_WORD[sub.kind]
        text += f" A {run} is in progress now: its result will come in a thread here."
    return Message(text=text, blocks=(section(text),))


def unsubscribed(sub: SubscriptionView, user: str) -> Message:
    target = target_line(sub.bot_name, sub.bot_id, sub.language, sub.state)
    kind = what(sub.kind, sub.subject)
    text = f":no_bell: <@{user}> unsubscribed this channel from {kind} of {target}."
    return Message(text=text, blocks=(section(text),))


def subscription_paused(sub: SubscriptionView, reason: str) -> Message:
    target = target_line(sub.bot_name, sub.bot_id, sub.language, sub.state)
    again = f"{command(sub.kind)} subscribe {escape(sub.bot_name)} {escape(sub.language)}"
    if sub.subject:
        again += f' "{escape(sub.subject, 100)}"'
    kind = what(sub.kind, sub.subject)
    text = (
        f":double_vertical_bar: Subscription to {kind} of {target} is paused: "
        f"{escape(reason, 400)} Fix it, then `{again}` to resume."
    )
    return Message(text=text, blocks=(section(text),))


def bot_list(bots: Iterable[Bot]) -> Message:
    lines = []
    for bot in bots:
        line = f"• *{escape(bot.name)}* `{escape(bot.bot_id)}`"
        if bot.languages:
            line += " · languages: " + ", ".join(escape(lang) for lang in bot.languages)
        lines.append(line)
    if not lines:
        text = "No bots are configured yet: an admin sets `KOREBOT_BOTS=alias=st-…`."
    else:
        text = "*Bots I know:*\n" + "\n".join(lines)
    return Message(text=text, blocks=(section(text),))


def usage(kind: Kind = Kind.FAQ) -> Message:
    """The help of the kind's command, naming that command."""
    name = command(kind)
    text = (
        f"*Kore.ai {label(kind)} training status*\n"
        f"`{usage_line(name)}` shows the status; if the training is still running I watch it "
        "and post the result in a thread.\n"
        f"• `{name} support en` — the status of the in-development version\n"
        f"• `{name} support en published` — the published version\n"
        f"• `{name} list` — trainings watched (of every kind) and subscriptions in this channel\n"
        f"• `{name} subscribe support en` — announce every training here\n"
        f"• `{name} unsubscribe support en` — stop announcing\n"
        f"• `{name} stop support en` — stop watching\n"
        f"• `{name} train support en` — start a training (asks you to confirm; trainers only)\n"
        f"• `{name} history support en` — its last 10 runs: outcome, length, who started it\n"
        f"• `{name} bots` — the bots I know\n"
        f"• `{name} help` — this message"
    )
    return Message(text=text, blocks=(section(text),))


def problem(reason: str, *, show_usage: bool = True, kind: Kind = Kind.FAQ) -> Message:
    """A short, specific error for the asker only, with the usage line of the kind's command."""
    text = f":warning: {escape(reason, 600)}"
    if show_usage:
        name = command(kind)
        text += f"\nUsage: `{usage_line(name)}` · `{name} help` for more."
    return Message(text=text, blocks=(section(text),))


def stopped_confirmation(watch: WatchView) -> Message:
    text = f"Stopped watching {job(watch)}."
    return Message(text=text, blocks=(section(text),))
