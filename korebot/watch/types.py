"""The values and enums the engine, its store and the chat side exchange, and the Notifier.

Every state the engine names is here (how a watch started and ended, where a job
asked for from Slack is, what a poll saw); so are the snapshots the store hands out
(views, claims, what a poll changed) and the chat side's interface (``Notifier``). None
of them is a database row: the rows are ``korebot.watch.store.tables``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Literal, Protocol

from korebot.errors import LimitReached as LimitReached
from korebot.errors import Undeliverable as Undeliverable
from korebot.kore import JobStatus, Kind, State, Status
from korebot.registry import Bot, JobKey


def now() -> datetime:
    """Wall time in UTC: the engine's and the store's clock unless a test gives another."""
    return datetime.now(UTC)


class Via(StrEnum):
    """How a watch started."""

    ASK = "ask"  # someone typed the command
    SUBSCRIPTION = "subscription"  # a poll saw a subscribed job's run start or end
    TRAIN = "train"  # someone started the job from Slack (its first asker)


class StartState(StrEnum):
    """Where a job asked for from Slack is (``korebot_train_requests.state``)."""

    PENDING = "pending"  # the confirmation is shown; nothing started
    CANCELLED = "cancelled"  # Cancel was clicked
    EXPIRED = "expired"  # clicked too late
    STARTING = "starting"  # claimed by one click: its POST may be under way
    STARTED = "started"  # Kore.ai accepted the POST
    JOINED = "joined"  # a run was already going: nothing started, its watch joined
    FAILED = "failed"  # Kore.ai refused the POST (or nothing was sent)
    UNKNOWN = "unknown"  # the POST's answer was lost: never sent again for this request


class Ended(StrEnum):
    """How a watch ended (it is active until then)."""

    DELIVERED = "delivered"  # its outcome was posted
    STOPPED = "stopped"  # someone stopped it, or unsubscribed
    UNDELIVERABLE = "undeliverable"  # Slack will not take its messages


class RunEvent(StrEnum):
    """What a poll saw happen since the previous one."""

    SAME = "same"  # nothing: still running, or still ended
    STARTED = "started"  # in progress after a final status
    ENDED = "ended"  # final after in progress
    RAN = "ran"  # final again, with a new run: it started and ended between two polls


class Subscribed(StrEnum):
    """What ``subscribe`` did."""

    CREATED = "created"
    RESUMED = "resumed"  # it was paused
    ALREADY = "already"


@dataclass(frozen=True)
class WatchView:
    """A read-only snapshot of one channel's watch, for the notifier to render."""

    watch_id: int
    via: Via
    bot_name: str
    bot_id: str
    language: str
    state: State
    team_id: str
    channel_id: str
    thread_channel: str | None
    thread_ts: str | None
    askers: tuple[str, ...]
    started_at: datetime
    last_status: str | None
    failing_since: datetime | None
    kind: Kind = Kind.FAQ
    #: Seconds the target's successful runs usually take, from how many
    #: (korebot.watch.store.runs);
    #: None (and 0) until at least three are known.
    usual_seconds: float | None = None
    usual_runs: int = 0
    #: When the run in progress started (exact if from Slack) or was first seen.
    run_started_at: datetime | None = None
    #: A poll found the run far longer than usual (korebot.watch.store.runs.overdue): the
    #: message says so.
    overdue: bool = False
    #: A batch test's suite ("" for trainings).
    subject: str = ""


@dataclass(frozen=True)
class SubscriptionView:
    subscription_id: int
    bot_name: str
    bot_id: str
    language: str
    state: State
    team_id: str
    channel_id: str
    paused: str | None
    last_status: str | None
    kind: Kind = Kind.FAQ
    #: Set by ``subscribe`` when a run is in progress (as of its last poll): the channel
    #: will get its result, as for any run the subscription sees.
    running: bool = False
    #: A batch test's suite ("" for trainings).
    subject: str = ""


@dataclass(frozen=True)
class Outcome:
    """The final word of a watch: the job's result, or why watching stopped."""

    result: JobStatus | None = None
    reason: str | None = None
    #: Seconds the run took (None: its start is unknown), and how long its target's runs
    #: usually took before it (None: not known yet).
    took: float | None = None
    usual: float | None = None

    def dumps(self) -> str:
        if self.result is not None:
            data = {"result": self.result.as_json(), "kind": self.result.kind.value}
            return json.dumps({**data, "took": self.took, "usual": self.usual})
        return json.dumps({"reason": self.reason})

    @classmethod
    def loads(cls, text: str) -> Outcome:
        data = json.loads(text)
        if "result" in data:
            # Outcomes recorded before ML training existed carry no kind: FAQ ones; before
            # the run history, no lengths.
            kind = Kind(data.get("kind", Kind.FAQ.value))
            result = JobStatus.from_json(data["result"], kind)
            return cls(result=result, took=data.get("took"), usual=data.get("usual"))
        return cls(reason=str(data["reason"]))


class Notifier(Protocol):
    """What the engine needs from the chat side. Transient failures raise any other error."""

    def announce(self, watch: WatchView, status: JobStatus) -> tuple[str, str]:
        """Post the watch's message; return (channel, ts) of the thread it starts."""

    def timed_out(self, waited: float, last_status: str, error: str | None) -> str:
        """The words of a watch that ends without a result after ``waited`` seconds (its
        outcome's reason, recorded before it is posted); ``error``: Kore.ai is failing."""

    def find_announcement(self, watch: WatchView) -> tuple[str, str] | None:
        """After a crash: the watch's message if it was already posted."""

    def finish(self, watch: WatchView, outcome: Outcome, *, posted: bool = False) -> None:
        """Post the outcome (in the thread if there is one) and update the watch's message.

        ``posted``: the outcome was found already posted (a crash came before its
        record); only update the watch's message, which the crash may have prevented.
        """

    def find_outcome(self, watch: WatchView) -> bool:
        """After a crash: whether the outcome was already posted."""

    def stopped(self, watch: WatchView, user_id: str) -> None:
        """Update the watch's message after it was stopped."""

    def unreachable(self, watch: WatchView, since: datetime | None, error: str) -> None:
        """Show on the watch's message that Kore.ai is failing (or, with since=None, is back)."""

    def paused(self, subscription: SubscriptionView, reason: str) -> None:
        """Tell a subscribed channel, once, that its subscription is paused and why."""

    def overdue(self, watch: WatchView) -> None:
        """Show on the watch's message that its run takes far longer than usual (called
        once per watch, after that was recorded; a failure is only logged)."""

    def training_changed(self, bot_name: str) -> None:
        """A training of the bot changed (a poll saw a run start or end; a watch started
        or ended): refresh what shows it (open App Home tabs). Called outside any
        transaction; must return at once (the refresh is queued, coalesced, capped)."""

    def release_changed(self, release: ReleaseView) -> ReleaseShown:
        """Show the release as it is now: post its checklist (``release.message_ts`` None:
        after a crash, look for it first), update it in place, and post in its thread the
        line of each ended step not in ``release.progress.lines`` (looking first for those a crash
        may have posted), and the end's line once it ended; what is in Slack now."""


@dataclass(frozen=True)
class JobSnapshot:
    """What the store knows of one training (its target row), for the App Home: the last
    poll's answer and when it came, never a fresh call to Kore.ai."""

    key: JobKey
    bot_name: str
    #: The last status seen, in Kore.ai's words, and the parsed answer it came in.
    last_status: str | None
    last_result: JobStatus | None
    checked_at: datetime | None
    #: When the run in progress was first seen (None: not running as of the last poll).
    running_since: datetime | None
    failing_since: datetime | None
    last_error: str | None
    #: Polled now (a watch or a subscription needs it).
    polled: bool
    #: Seconds its runs usually take, from the run history (None: no history yet).
    usual_seconds: float | None = None
    #: Seconds the last finished run took (None: none recorded, or its start unknown).
    last_took: float | None = None


@dataclass(frozen=True)
class HomeActivity:
    """A user's part of the store, for their App Home (korebot.watch.store.home_tabs)."""

    #: Every target the store has for the trainings asked about, by key.
    trainings: dict[JobKey, JobSnapshot]
    #: Active watches the user asked for (is an asker of), oldest first.
    watches: list[WatchView]
    #: Subscriptions the user created, and those of channels where they have a watch.
    subscriptions: list[SubscriptionView]


@dataclass(frozen=True)
class WatchRequest:
    team_id: str
    channel_id: str
    user_id: str
    bot: Bot
    language: str
    state: State
    kind: Kind = Kind.FAQ
    via: Via = Via.ASK
    #: A batch test's suite ("" for trainings).
    subject: str = ""

    @property
    def key(self) -> JobKey:
        return JobKey.of(self.bot, self.language, self.state, self.kind, self.subject)


@dataclass(frozen=True)
class Started:
    """The answer to ``WatchEngine.watch``: the watch, and whether it already existed."""

    watch: WatchView
    existing: bool


class RunStart(StrEnum):
    """How a run's start is known."""

    STARTED = "started"  # started from Slack: the time of the train request's POST
    FIRST_SEEN = "first seen"  # the first poll (or ask) that saw it in progress


@dataclass(frozen=True)
class RunView:
    """One run as recorded, for the history."""

    run_id: int
    kind: Kind
    #: None while it runs; ``Status.UNKNOWN`` if korebot stopped looking before its end.
    outcome: Status | None
    #: None when it was seen only finished (it ran between two polls).
    start: RunStart | None
    started_at: datetime | None
    ended_at: datetime | None
    #: Seconds; None when the start is unknown (or it still runs).
    duration: float | None
    started_by: str | None
    #: Its final answer (a suite's scores); None while it runs, or recorded before 0010.
    result: JobStatus | None = None


@dataclass(frozen=True)
class StartAsk:
    """A job asked for from Slack, before it is started: a training before its
    confirmation is shown, a batch test run before it is claimed at once."""

    team_id: str
    channel_id: str
    user_id: str
    key: JobKey
    bot_name: str
    #: Seconds the request can be claimed for (the confirmation clicked).
    valid_for: float = 600.0
    #: The caller's own token: recording it again gives back the request recorded first
    #: (a slash command run again after a crash); None: a new random one.
    token: str | None = None
    #: What its POST will send (a publish's version comment).
    note: str | None = None


@dataclass(frozen=True)
class StartRequestView:
    """A start request as recorded, with where it is now."""

    request_id: int
    token: str
    team_id: str
    channel_id: str
    user_id: str
    key: JobKey
    bot_name: str
    created_at: datetime
    expires_at: datetime
    state: StartState
    claimed_at: datetime | None
    started_by: str | None
    result: str | None
    watch_id: int | None
    #: The request whose start this one joined (its claim found that one starting the
    #: same job): this request never POSTs. None for any other.
    follows: int | None = None
    note: str | None = None


@dataclass(frozen=True)
class StartClaim:
    """What a click's claim did (``StartRequests.claim_start``)."""

    #: The request as it is now; None if there is no such request.
    request: StartRequestView | None
    #: This call claimed it and holds its job's start: it may POST, once.
    won: bool = False
    #: This call claimed it as a follower of this request, which held the job's start
    #: at that moment (as it was then): it must not POST, but join what that one started.
    leader: StartRequestView | None = None


# The store's leases and what acquiring or recording hands back (korebot.watch.store.abc).


@dataclass(frozen=True)
class Lease:
    """Work held by one acquirer: a target's poll, a watch's posts, a slash command's work
    or a release's next step, until renewed or released."""

    kind: Literal["poll", "delivery", "command", "release"]
    id: int
    owner: str


@dataclass(frozen=True)
class PollClaim:
    """A due target, leased for polling."""

    lease: Lease
    bot_name: str
    language: str
    state: State
    kind: Kind = Kind.FAQ
    #: A batch test's suite, and the target's last answer (the run it follows).
    subject: str = ""
    last: JobStatus | None = None
    #: When that answer was recorded (the poll's ``record_status(read_after=…)``).
    seen: datetime | None = None


@dataclass(frozen=True)
class DeliveryClaim:
    """A watch that owes a post, leased for posting; attempts were counted on acquiring."""

    lease: Lease
    view: WatchView
    #: The final word to post, or None: only the watch's message is owed.
    outcome: Outcome | None
    #: Attempts before this one: non-zero means a post may already be there (look first).
    announce_attempts: int
    outcome_attempts: int


@dataclass(frozen=True)
class CommandRecord:
    """A slash command as Slack sent it: what re-running it after a crash needs."""

    team_id: str
    channel_id: str
    user_id: str
    #: The command's name ("/faq-status") and its text.
    command: str
    text: str
    response_url: str


@dataclass(frozen=True)
class CommandClaim:
    """An unfinished command, leased for running again; attempts were counted on acquiring."""

    lease: Lease
    record: CommandRecord
    received_at: datetime
    #: Runs so far, this one included (the first was the one acked).
    attempts: int


@dataclass(frozen=True)
class Joined:
    """What ``join_watch`` did: the channel's watch, and the delivery lease of a new one."""

    view: WatchView
    #: Set when this call created the watch: the caller posts its message, then releases.
    lease: Lease | None


@dataclass(frozen=True)
class Observed:
    """What recording a poll's status changed, for the engine to tell Slack."""

    #: Watches still waiting that Kore.ai is back for (it was failing until this poll).
    recovered: list[WatchView]
    #: Watches whose run this poll found far longer than usual (marked: once each).
    overdue: list[WatchView] = field(default_factory=list)
    #: What the poll saw happen to the run (anything but SAME refreshes open Home tabs).
    event: RunEvent = RunEvent.SAME


@dataclass(frozen=True)
class Failed:
    """What recording a failed poll changed, for the engine to tell Slack."""

    #: When the failure began, and the watches to show it on (first failure only).
    since: datetime | None
    failing: list[WatchView]
    #: Subscriptions paused by a permanent failure.
    paused: list[SubscriptionView]


@dataclass(frozen=True)
class TargetState:
    """A target's last poll, for answering asks between polls."""

    status: JobStatus | None
    last_status: str | None
    checked_at: datetime | None
    next_poll_at: datetime | None
    #: A poll holds its lease now.
    polling: bool
    failing: bool


# Releases: a bot from edited to live, step after step (korebot.watch.releasing).


class ReleaseState(StrEnum):
    """Where a release is (``korebot_releases.state``)."""

    PENDING = "pending"  # its confirmation is shown; nothing started
    CANCELLED = "cancelled"  # Cancel was clicked
    RUNNING = "running"  # Release was clicked: its steps run (it holds the bot's one release)
    ENDED = "ended"  # it came to its outcome


class ReleaseStep(StrEnum):
    """A release's steps, in their order."""

    TRAIN = "train"  # FAQ and ML training of the configured version, side by side
    GATE = "gate"  # the suite's run judged against the bar (skipped without a suite)
    PUBLISH = "publish"  # one publish, with the Admin Console app
    LIVE = "live"  # the published version's FAQ and ML trainings


class StepState(StrEnum):
    """Where one step of a release is."""

    WAITING = "waiting"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    SKIPPED = "skipped"  # the gate, without a suite
    FAILED = "failed"
    AWAITING_APPROVAL = "awaiting_approval"  # published, with dialogs an admin must approve
    STOPPED = "stopped"  # the release was stopped or timed out while this step ran


class ReleaseOutcome(StrEnum):
    """What a release came to."""

    LIVE = "live"
    FAILED = "failed"  # a step failed, or the gate did
    STOPPED = "stopped"  # someone clicked Stop release
    AWAITING_APPROVAL = "awaiting_approval"
    TIMED_OUT = "timed_out"


class JobPhase(StrEnum):
    """How far a release got with one Kore.ai job (a training, the suite's run, the publish).

    ``POSTING`` is written (committed) before the POST: a holder that finds it after a
    crash never POSTs again; it asks the status whether the job started.
    """

    POSTING = "posting"
    STARTED = "started"  # the POST answered: korebot started it
    JOINED = "joined"  # one was running already: followed, nothing sent
    LOST = "lost"  # the POST's answer was lost, or its holder died: the status decides


@dataclass(frozen=True)
class ReleaseJob:
    """One Kore.ai job of a release and what is known of it."""

    kind: Kind
    phase: JobPhase
    #: The last answer about it (a run's request ID, korebot's publish: all it follows).
    last: JobStatus | None = None
    #: A training: seen running since the release asked, and final answers seen since
    #: (``publish.Published``'s rule: its first final answer may still be the last run's).
    seen_running: bool = False
    finals: int = 0
    #: When the POST was sent (less the clock skew: a publish not older is korebot's).
    posted_at: datetime | None = None

    def as_dict(self) -> dict[str, object]:
        return {
            "kind": self.kind.value,
            "phase": self.phase.value,
            "last": self.last.as_json() if self.last is not None else None,
            "seen_running": self.seen_running,
            "finals": self.finals,
            "posted_at": self.posted_at.isoformat() if self.posted_at else None,
        }

    @classmethod
    def of(cls, data: dict[str, object]) -> ReleaseJob:
        kind, last, posted = Kind(str(data["kind"])), data.get("last"), data.get("posted_at")
        return cls(
            kind,
            JobPhase(str(data["phase"])),
            JobStatus.from_json(last, kind) if last is not None else None,
            bool(data.get("seen_running")),
            int(str(data.get("finals") or 0)),
            datetime.fromisoformat(str(posted)) if posted else None,
        )


@dataclass(frozen=True)
class StepView:
    """One step of a release: where it is, when it began and ended, its result in words."""

    step: ReleaseStep
    state: StepState = StepState.WAITING
    began_at: datetime | None = None
    ended_at: datetime | None = None
    summary: str = ""

    @property
    def ended(self) -> bool:
        return self.state not in (StepState.WAITING, StepState.RUNNING)

    @property
    def seconds(self) -> float | None:
        if self.began_at is None or self.ended_at is None:
            return None
        return (self.ended_at - self.began_at).total_seconds()


@dataclass(frozen=True)
class ReleaseProgress:
    """A release's steps and jobs, kept as one JSON document on its row."""

    steps: tuple[StepView, ...] = tuple(StepView(step) for step in ReleaseStep)
    jobs: tuple[ReleaseJob, ...] = ()
    #: The thread's lines already posted: the ended steps', and "end".
    lines: tuple[str, ...] = ()

    def step(self, which: ReleaseStep) -> StepView:
        return next(view for view in self.steps if view.step is which)

    def job(self, kind: Kind) -> ReleaseJob | None:
        return next((job for job in self.jobs if job.kind is kind), None)

    def dumps(self) -> str:
        def moment(value: datetime | None) -> str | None:
            return value.isoformat() if value else None

        return json.dumps(
            {
                "steps": [
                    {
                        "step": s.step.value,
                        "state": s.state.value,
                        "summary": s.summary,
                        "began_at": moment(s.began_at),
                        "ended_at": moment(s.ended_at),
                    }
                    for s in self.steps
                ],
                "jobs": [job.as_dict() for job in self.jobs],
                "lines": list(self.lines),
            }
        )

    @classmethod
    def loads(cls, text: str) -> ReleaseProgress:
        data = json.loads(text)

        def moment(value: str | None) -> datetime | None:
            return datetime.fromisoformat(value) if value else None

        steps = tuple(
            StepView(
                ReleaseStep(s["step"]),
                StepState(s["state"]),
                moment(s["began_at"]),
                moment(s["ended_at"]),
                s["summary"],
            )
            for s in data["steps"]
        )
        jobs = tuple(ReleaseJob.of(job) for job in data["jobs"])
        return cls(steps, jobs, tuple(data["lines"]))


@dataclass(frozen=True)
class ReleaseAsk:
    """A release asked for from Slack, before its confirmation is shown."""

    team_id: str
    channel_id: str
    user_id: str
    #: The bot (its alias as typed, re-resolved on click), the language, the suite ("":
    #: no gate) and the bar it must pass, the version comment's first words.
    bot: Bot
    language: str
    suite: str
    min_f1: float | None
    max_drop: float | None
    valid_for: float = 600.0


@dataclass(frozen=True)
class ReleaseView:
    """A release as recorded."""

    release_id: int
    token: str
    team_id: str
    channel_id: str
    user_id: str
    host: str
    bot_id: str
    bot_name: str
    language: str
    suite: str
    min_f1: float | None
    max_drop: float | None
    state: ReleaseState
    step: ReleaseStep
    progress: ReleaseProgress
    created_at: datetime
    expires_at: datetime
    started_at: datetime | None = None
    ended_at: datetime | None = None
    outcome: ReleaseOutcome | None = None
    #: Who clicked Stop release (the release ends at its next step).
    stopped_by: str | None = None
    #: The checklist message (its thread tells the story): in the channel, or the
    #: releaser's DM if korebot cannot post there.
    message_channel: str | None = None
    message_ts: str | None = None


@dataclass(frozen=True)
class ReleaseShown:
    """What ``Notifier.release_changed`` left in Slack: the checklist (channel, ts) and
    the thread's lines."""

    message: tuple[str, str]
    lines: tuple[str, ...]


@dataclass(frozen=True)
class ReleaseClaim:
    """A running release, leased for its next step."""

    lease: Lease
    view: ReleaseView


@dataclass(frozen=True)
class ReleaseBegun:
    """What clicking Release did (``Releases.begin_release``)."""

    #: The release as it is now (None: no such release).
    release: ReleaseView | None
    #: This click began it.
    won: bool = False
    #: Another release of the bot runs (this one stays pending): that one.
    running: ReleaseView | None = None
