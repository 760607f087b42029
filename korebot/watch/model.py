"""What the watching engine and the chat side exchange: snapshots, outcomes, the Notifier.

Kept apart from the engine so the Slack layer depends on these small types only.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Protocol

from korebot.errors import LimitReached as LimitReached
from korebot.errors import Undeliverable as Undeliverable
from korebot.kore import Kind, State, TrainingStatus
from korebot.registry import Bot, TrainingKey


class Via(StrEnum):
    """How a watch started."""

    ASK = "ask"  # someone typed the command
    SUBSCRIPTION = "subscription"  # a poll saw a subscribed training's run start or end
    TRAIN = "train"  # someone started the training from Slack (its first asker)


class TrainState(StrEnum):
    """Where a training requested from Slack is (``korebot_train_requests.state``)."""

    PENDING = "pending"  # the confirmation is shown; nothing started
    CANCELLED = "cancelled"  # Cancel was clicked
    EXPIRED = "expired"  # clicked too late
    STARTING = "starting"  # claimed by one click: its POST may be under way
    STARTED = "started"  # Kore.ai accepted the POST
    JOINED = "joined"  # a training was already running: nothing started, its watch joined
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
    #: Seconds the target's successful runs usually take, from how many (korebot.watch.runs);
    #: None (and 0) until at least three are known.
    usual_seconds: float | None = None
    usual_runs: int = 0
    #: When the run in progress started (exact if from Slack) or was first seen.
    run_started_at: datetime | None = None
    #: A poll found the run far longer than usual (``runs.overdue``): the message says so.
    overdue: bool = False


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


@dataclass(frozen=True)
class Outcome:
    """The final word of a watch: the training's result, or why watching stopped."""

    result: TrainingStatus | None = None
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
            result = TrainingStatus.from_json(data["result"], kind)
            return cls(result=result, took=data.get("took"), usual=data.get("usual"))
        return cls(reason=str(data["reason"]))


class Notifier(Protocol):
    """What the engine needs from the chat side. Transient failures raise any other error."""

    def announce(self, watch: WatchView, status: TrainingStatus) -> tuple[str, str]:
        """Post the watch's message; return (channel, ts) of the thread it starts."""

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


@dataclass(frozen=True)
class TrainingSnapshot:
    """What the store knows of one training (its target row), for the App Home: the last
    poll's answer and when it came, never a fresh call to Kore.ai."""

    key: TrainingKey
    bot_name: str
    #: The last status seen, in Kore.ai's words, and the parsed answer it came in.
    last_status: str | None
    last_result: TrainingStatus | None
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
    """A user's part of the store, for their App Home (korebot.watch.homes)."""

    #: Every target the store has for the trainings asked about, by key.
    trainings: dict[TrainingKey, TrainingSnapshot]
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

    @property
    def key(self) -> TrainingKey:
        return TrainingKey.of(self.bot, self.language, self.state, self.kind)


@dataclass(frozen=True)
class Started:
    """The answer to ``WatchEngine.watch``: the watch, and whether it already existed."""

    watch: WatchView
    existing: bool
