"""The watch commands: what the Slack layer and the CLI may ask of the engine.

Watch, stop, subscribe, unsubscribe, list, and the status a watched training had at
its last poll. Each is one store call and, where a person waits for it, one post (a
new watch's message, through delivery; a stopped watch's message update). It touches
nothing else: polling and delivery run on the engine's tick.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from korebot.gateway import Fetched
from korebot.kore import Kind, State, TrainingStatus
from korebot.registry import Bot, TrainingKey
from korebot.watch.contract import WatchStore
from korebot.watch.delivery import Delivery
from korebot.watch.model import (
    Notifier,
    Started,
    Subscribed,
    SubscriptionView,
    WatchRequest,
    WatchView,
)

log = logging.getLogger(__name__)


class WatchCommands:
    def __init__(
        self,
        store: WatchStore,
        notifier: Notifier,
        delivery: Delivery,
        *,
        clock: Callable[[], datetime],
        grace: float,
    ) -> None:
        self.store, self.notifier, self.delivery, self.clock = store, notifier, delivery, clock
        #: How late a poll may be (waiting for the tick) and still count as on time.
        self.grace = timedelta(seconds=grace)

    def watch(self, request: WatchRequest, status: TrainingStatus) -> Started:
        """Watch a training for a channel, or add the asker to the channel's existing watch."""
        joined = self.store.join_watch(request, status)
        # The asker's Home tab lists their watches (a queued refresh: it returns at once).
        self.notifier.training_changed(request.bot.name)
        if joined.lease is None:
            return Started(joined.view, True)
        return Started(self.delivery.announce(joined, status), False)

    def watched_status(
        self, bot: Bot, language: str, state: State, kind: Kind = Kind.FAQ
    ) -> Fetched | None:
        """The last poll's answer while the training runs and its next poll is on time.

        A watch posts a change within one interval, so asking Kore.ai in between would
        tell nothing more and spend the bot's budget: asks ride on the polls, and many
        channels asking about one training cost no more calls than one. A poll just due
        (waiting for the tick, or under way) still counts as on time. None otherwise.
        """
        target = self.store.target_state(TrainingKey.of(bot, language, state, kind))
        moment = self.clock()
        if (
            target is None
            or target.status is None
            or target.checked_at is None
            or target.failing
            or target.next_poll_at is None
            or (moment > target.next_poll_at + self.grace and not target.polling)
        ):
            return None
        return Fetched(target.status, (moment - target.checked_at).total_seconds())

    def stop(
        self,
        channel_id: str,
        bot: Bot,
        language: str,
        state: State,
        user_id: str,
        kind: Kind = Kind.FAQ,
    ) -> WatchView | None:
        """Stop the channel's watch of this training; None if there was none."""
        key = TrainingKey.of(bot, language, state, kind)
        watch_id = self.store.find_watch(key, channel_id)
        return None if watch_id is None else self.stop_by_id(watch_id, channel_id, user_id)

    def stop_by_id(self, watch_id: int, channel_id: str, user_id: str) -> WatchView | None:
        """Stop a watch by ID (the button), only from the channel it belongs to."""
        view = self.store.stop_watch(watch_id, channel_id)
        if view is not None:
            self._tell_stopped(view, user_id)
        return view

    def watches_in(self, channel_id: str) -> list[WatchView]:
        return self.store.watches_in(channel_id)

    def subscribe(
        self,
        team_id: str,
        channel_id: str,
        user_id: str,
        bot: Bot,
        language: str,
        state: State,
        kind: Kind = Kind.FAQ,
    ) -> tuple[SubscriptionView, Subscribed]:
        key = TrainingKey.of(bot, language, state, kind)
        return self.store.subscribe(team_id, channel_id, user_id, key, bot.name)

    def unsubscribe(
        self,
        channel_id: str,
        bot: Bot,
        language: str,
        state: State,
        user_id: str,
        kind: Kind = Kind.FAQ,
    ) -> SubscriptionView | None:
        key = TrainingKey.of(bot, language, state, kind)
        gone = self.store.unsubscribe(channel_id, key)
        if gone is None:
            return None
        subscription, stopped = gone
        for view in stopped:
            self._tell_stopped(view, user_id)
        return subscription

    def subscriptions_in(self, channel_id: str) -> list[SubscriptionView]:
        return self.store.subscriptions_in(channel_id)

    def active_count(self) -> int:
        """Targets being polled (one per watched or subscribed training)."""
        return self.store.active_count()

    def _tell_stopped(self, view: WatchView, user_id: str) -> None:
        try:
            self.notifier.stopped(view, user_id)
        except Exception:
            log.exception("Could not update the message of watch %d", view.watch_id)
