"""The App Home tab: what korebot knows for one user, as a Block Kit ``home`` view.

``HomeSnapshot`` is the view model, built from the store (korebot.slack.listeners.home)
without calling Kore.ai; ``home_view`` renders it. Everything that came from a user or
Kore.ai is escaped as in messages. A view holds at most 100 blocks: bots past that are
left out with a note saying how many and where to see them all.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    ConversationFilter,
    ConversationSelectElement,
    DividerBlock,
    HeaderBlock,
    PlainTextObject,
    SectionBlock,
)
from slack_sdk.models.views import View

from korebot.kore import Kind, State, Status
from korebot.registry import Bot
from korebot.slack import release_messages
from korebot.slack.kinds import command, label
from korebot.slack.messages import context_line, duration, escape, job, md, slack_date, what
from korebot.watch.types import JobSnapshot, ReleaseView, SubscriptionView, WatchView

#: A conversations_select per training: the channel chosen gets a watch of it.
WATCH_ACTION = "home_watch"
#: A trainer's "Train…" button: the same confirmation as `train BOT LANG`, by DM.
TRAIN_ACTION = "home_train"
MAX_BLOCKS = 100
#: Watches and subscriptions listed at most (each watch link is one chat.getPermalink).
MAX_LISTED = 20
_PER_SECTION = 10  # lines per section: well under its 3000 characters
_EMOJI = {
    Status.SUCCESS: ":white_check_mark:",
    Status.FAILURE: ":x:",
    Status.IN_PROGRESS: ":hourglass_flowing_sand:",
    Status.UNKNOWN: ":grey_question:",
}
SHOWS = (
    "What I knew when this tab was drawn (opening it asks Kore.ai nothing): the bots you "
    "may ask about, each training's last status I saw, the watches you asked for, and the "
    "subscriptions you created or of channels where you watch (I cannot list the channels "
    "you are in). It refreshes while open when a training here starts or ends."
)


@dataclass(frozen=True)
class HomeTraining:
    """One training of a configured bot, as the store last saw it."""

    bot: Bot
    language: str
    kind: Kind
    #: None: no poll or ask ever recorded it.
    known: JobSnapshot | None
    may_train: bool
    #: Configured (in development) unless the store knows the published one's too.
    state: State = State.CONFIGURED

    @property
    def usual_seconds(self) -> float | None:
        """How long its runs usually take (from the run history), when known."""
        return None if self.known is None else self.known.usual_seconds

    def ref(self) -> str:
        """What a click on its controls names it by (re-resolved, with the rules, then)."""
        return f"{self.bot.name}|{self.language}|{self.kind.value}|{self.state.value}"


@dataclass(frozen=True)
class HomeSnapshot:
    user_id: str
    as_of: datetime
    trainings: list[HomeTraining]
    #: The user's watches, each with a link to its thread when Slack gave one.
    watches: list[tuple[WatchView, str | None]] = field(default_factory=list)
    subscriptions: list[SubscriptionView] = field(default_factory=list)
    #: One line on top: what the user's last click did.
    notice: str | None = None
    #: Every bot shown, in order, also those with no training to show yet.
    bots: list[Bot] = field(default_factory=list)
    #: The batch test suites korebot has run or followed for those bots, as last seen.
    suites: list[JobSnapshot] = field(default_factory=list)
    #: Their latest publishes, as korebot last saw them (a bot's publishes followed once).
    publishes: list[JobSnapshot] = field(default_factory=list)
    #: Their running releases, with their current step.
    releases: list[ReleaseView] = field(default_factory=list)


def _plain(text: str) -> PlainTextObject:
    return PlainTextObject(text=text, emoji=True)


def _clock(moment: datetime) -> str:
    fallback = moment.strftime("%H:%M UTC")
    return f"<!date^{int(moment.timestamp())}^{{time}}|{fallback}>"


def training_line(training: HomeTraining, now: datetime) -> str:
    """The training's last known status, its time, and (while it runs) for how long."""
    name = f"*{label(training.kind)}* · `{escape(training.language)}`"
    if training.state is State.PUBLISHED:
        name += " · published"
    known, usual = training.known, training.usual_seconds
    if known is None or known.checked_at is None:
        return f"{name}: never checked yet (ask with `{command(training.kind)} …` to know)"
    parts: list[str] = []
    if known.running_since is not None:
        running_for = max((now - known.running_since).total_seconds(), 0.0)
        parts.append(f"{_EMOJI[Status.IN_PROGRESS]} running for {duration(round(running_for))}")
        if usual is not None:
            left = usual - running_for
            when = "any moment now"
            if left > 0:
                end = known.running_since + timedelta(seconds=usual)
                when = f"expected in about {duration(round(left))} (around {_clock(end)})"
            parts.append(f"usually {duration(round(usual))}, {when}")
    elif known.last_result is not None:
        result = known.last_result
        parts.append(f"{_EMOJI[result.status]} {escape(result.message, 80)}")
        if result.modified_on is not None:
            parts.append(f"ended {slack_date(result.modified_on)}")
        if known.last_took is not None:
            parts.append(f"took {duration(round(known.last_took))}")
        if usual is not None:
            parts.append(f"usually takes {duration(round(usual))}")
    else:
        parts.append(f"last status `{escape(known.last_status or 'unknown', 60)}`")
    parts.append(f"as of {slack_date(known.checked_at)}")
    if known.failing_since is not None:
        parts.append(f":warning: Kore.ai failing since {slack_date(known.failing_since)}")
    return f"{name}: " + " · ".join(parts)


def suite_line(suite: JobSnapshot, now: datetime) -> str:
    """A suite's last run as korebot saw it: its verdict-free scores, or that it runs."""
    key = suite.key
    name = f"{what(Kind.BATCH, key.subject)} · `{escape(key.language)}`"
    if key.state is State.PUBLISHED:
        name += " · published"
    parts: list[str] = []
    result = suite.last_result
    run = result.batch if result is not None else None
    if suite.running_since is not None:
        running_for = max((now - suite.running_since).total_seconds(), 0.0)
        parts.append(f"{_EMOJI[Status.IN_PROGRESS]} running for {duration(round(running_for))}")
    elif result is not None and run is not None and run.scores.known:
        scores = run.scores
        parts.append(
            f"{_EMOJI[result.status]} F1 *{scores.f1:.2f}*"
            + (f", precision {scores.precision:.2f}" if scores.precision is not None else "")
            + (f", recall {scores.recall:.2f}" if scores.recall is not None else "")
        )
        if run.ended_at is not None:
            parts.append(f"ended {slack_date(run.ended_at)}")
    else:
        parts.append(f"last status `{escape(suite.last_status or 'unknown', 60)}`")
    if suite.checked_at is not None:
        parts.append(f"as of {slack_date(suite.checked_at)}")
    return f"• {name}: " + " · ".join(parts)


def publish_line(latest: JobSnapshot, now: datetime) -> str:
    """A bot's latest publish as korebot last saw it."""
    result = latest.last_result
    if latest.running_since is not None:
        running_for = max((now - latest.running_since).total_seconds(), 0.0)
        state = f"{_EMOJI[Status.IN_PROGRESS]} publishing for {duration(round(running_for))}"
    elif result is not None:
        state = f"{_EMOJI[result.status]} {escape(result.raw_status, 40)}"
        job = result.publish
        if job is not None and job.requested_at is not None:
            state += f", requested {slack_date(job.requested_at)}"
    else:
        state = f"`{escape(latest.last_status or 'unknown', 40)}`"
    seen = f" · as of {slack_date(latest.checked_at)}" if latest.checked_at else ""
    return f"*Latest publish*: {state}{seen}"


def _controls(training: HomeTraining) -> ActionsBlock:
    elements: list[ConversationSelectElement | ButtonElement] = [
        ConversationSelectElement(
            action_id=WATCH_ACTION,
            placeholder=_plain("Watch in a channel…"),
            filter=ConversationFilter(include=["public", "private"], exclude_bot_users=True),
        )
    ]
    if training.may_train and training.state is State.CONFIGURED:
        elements.append(ButtonElement(text="Train…", action_id=TRAIN_ACTION, value=training.ref()))
    return ActionsBlock(block_id=f"home|{training.ref()}", elements=elements)


def _bot_blocks(
    bot: Bot,
    trainings: list[HomeTraining],
    suites: list[JobSnapshot],
    latest: JobSnapshot | None,
    now: datetime,
) -> list[Block]:
    about = f"*{escape(bot.name)}* (`{escape(bot.bot_id)}`)"
    if bot.languages:
        about += " · languages " + ", ".join(f"`{escape(lang)}`" for lang in bot.languages)
    if bot.channels:
        about += " · asked about only in " + ", ".join(f"<#{c}>" for c in bot.channels[:5])
    blocks: list[Block] = [SectionBlock(text=md(about))]
    if not trainings:
        blocks.append(
            context_line(
                f"No language configured or asked about yet: `/faq-status {escape(bot.name)} LANG`."
            )
        )
    for training in trainings:
        blocks.append(SectionBlock(text=md(training_line(training, now))))
        blocks.append(_controls(training))
    if suites:
        lines = [suite_line(suite, now) for suite in suites[:_PER_SECTION]]
        more = len(suites) - len(lines)
        if more:
            lines.append(f"… and {more} more: `/batch-test {escape(bot.name)} LANG` lists them.")
        blocks.append(SectionBlock(text=md("*Batch tests*\n" + "\n".join(lines))))
    if latest is not None:
        blocks.append(SectionBlock(text=md(publish_line(latest, now))))
    return blocks


def _watch_line(watch: WatchView, link: str | None) -> str:
    where = f"<{link}|thread in <#{watch.channel_id}>>" if link else f"in <#{watch.channel_id}>"
    return f"• {job(watch)} · {where} · since {slack_date(watch.started_at)}"


def _sub_line(sub: SubscriptionView) -> str:
    about = f"{what(sub.kind, sub.subject)} of {escape(sub.bot_name)} ({escape(sub.language)})"
    paused = f" · paused: {escape(sub.paused, 100)}" if sub.paused else ""
    return f"• {about}, {sub.state.value} · in <#{sub.channel_id}>{paused}"


def _listed(title: str, lines: list[str], empty: str) -> list[Block]:
    blocks: list[Block] = [HeaderBlock(text=_plain(title))]
    if not lines:
        return [*blocks, context_line(empty)]
    shown = lines[:MAX_LISTED]
    for start in range(0, len(shown), _PER_SECTION):
        blocks.append(SectionBlock(text=md("\n".join(shown[start : start + _PER_SECTION]))))
    if len(lines) > len(shown):
        blocks.append(context_line(f"… and {len(lines) - len(shown)} more."))
    return blocks


def home_view(snapshot: HomeSnapshot) -> View:
    """The Home tab of the snapshot's user, at most ``MAX_BLOCKS`` blocks."""
    now = snapshot.as_of
    head: list[Block] = [
        HeaderBlock(text=_plain("Kore.ai trainings")),
        context_line(f"As of {_clock(now)}. {SHOWS}"),
    ]
    if snapshot.notice:
        head.insert(1, SectionBlock(text=md(snapshot.notice)))
    watches = [_watch_line(watch, link) for watch, link in snapshot.watches]
    subs = [_sub_line(sub) for sub in snapshot.subscriptions]
    releases = release_messages.running_lines(snapshot.releases)
    tail: list[Block] = [
        DividerBlock(),
        *_listed(
            "Releases running",
            releases,
            "None: release a bot with `/publish-status release BOT LANG [SUITE]`.",
        ),
        *_listed("Your watches", watches, "None: ask with `/faq-status BOT LANG` in a channel."),
        *_listed("Subscriptions", subs, "None that I can show you."),
    ]
    by_bot: dict[str, tuple[Bot, list[HomeTraining]]] = {
        bot.name: (bot, []) for bot in snapshot.bots
    }
    for training in snapshot.trainings:
        by_bot.setdefault(training.bot.name, (training.bot, []))[1].append(training)
    suites: dict[tuple[str, str], list[JobSnapshot]] = {}
    for suite in snapshot.suites:
        suites.setdefault(suite.key.bot, []).append(suite)
    latest = {known.key.bot: known for known in snapshot.publishes}
    room = MAX_BLOCKS - len(head) - len(tail) - 1  # one for the note on bots left out
    body: list[Block] = []
    shown = 0
    for bot, trainings in by_bot.values():
        key = (bot.host, bot.bot_id)
        blocks = _bot_blocks(bot, trainings, suites.get(key, []), latest.get(key), now)
        if len(body) + len(blocks) > room:
            break
        body.extend(blocks)
        shown += 1
    if not by_bot:
        body.append(context_line("No bots are configured for you (`KOREBOT_BOTS`; ask an admin)."))
    elif shown < len(by_bot):
        body.append(
            context_line(
                f"… and {len(by_bot) - shown} more bots, left out (a tab holds "
                f"{MAX_BLOCKS} blocks): `/faq-status bots` lists them all."
            )
        )
    return View(type="home", blocks=[*head, *body, *tail])


def problem_view(reason: str) -> View:
    """The minimal tab when the real one cannot be drawn (database down, …)."""
    return View(
        type="home",
        blocks=[
            HeaderBlock(text=_plain("Kore.ai trainings")),
            SectionBlock(text=md(f":warning: {reason}")),
        ],
    )
