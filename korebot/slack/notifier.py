"""Delivers what the watch engine reports to Slack: threads, updates, DM fallback.

Every message the engine asks for is tagged with Slack message metadata naming
its watch, so that after a crash ``find_announcement`` / ``find_outcome`` can
tell whether it was already posted (and nothing is posted twice).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from korebot.kore import JobStatus, Kind
from korebot.kore.kinds.batch import Bar
from korebot.slack import (
    batch_messages,
    history_messages,
    messages,
    publish_messages,
    release_messages,
)
from korebot.watch.types import (
    Outcome,
    ReleaseShown,
    ReleaseState,
    ReleaseStep,
    ReleaseView,
    SubscriptionView,
    Undeliverable,
    WatchView,
)

log = logging.getLogger(__name__)

# The bot cannot post in the channel: deliver to the askers by DM instead.
CANNOT_POST = frozenset({"not_in_channel", "channel_not_found", "is_archived", "restricted_action"})
# The token itself is dead: nothing can be delivered anywhere in that workspace.
DEAD_TOKEN = frozenset({"invalid_auth", "token_revoked", "account_inactive", "not_authed"})
# A look-up after a crash that Slack refuses for good (nothing there, or no right to read):
# post anyway. Any other failure (rate limit, 5xx) means "look again later", never "not there".
CANNOT_LOOK = frozenset(
    {
        "channel_not_found",
        "thread_not_found",
        "not_in_channel",
        "is_archived",
        "missing_scope",
        "not_allowed_token_type",
        "access_denied",
    }
)

ANNOUNCED = "korebot_watch"
CONCLUDED = "korebot_outcome"
#: A release's checklist and thread lines ("checklist", a step's name, "end").
RELEASED = "korebot_release"
# How far back to look for a message after a crash (a watch's messages are recent).
_LOOKBACK = 100


def slack_error(error: SlackApiError) -> str:
    """The Web API's error code (``not_in_channel``, ``ratelimited``, ...)."""
    return str(error.response.get("error", "unknown_error"))


def _metadata(kind: str, watch: WatchView) -> dict[str, Any]:
    return {"event_type": kind, "event_payload": {"watch_id": watch.watch_id}}


def _release_metadata(release: ReleaseView, line: str) -> dict[str, Any]:
    return {
        "event_type": RELEASED,
        "event_payload": {"release_id": release.release_id, "line": line},
    }


def _release_line(message: dict[str, Any], release: ReleaseView) -> str | None:
    """Which of the release's posts the message is, if it is one."""
    metadata = message.get("metadata") or {}
    payload = metadata.get("event_payload") or {}
    if metadata.get("event_type") != RELEASED or payload.get("release_id") != release.release_id:
        return None
    return str(payload.get("line"))


def _tagged(message: dict[str, Any], kind: str, watch: WatchView) -> bool:
    metadata = message.get("metadata") or {}
    payload = metadata.get("event_payload") or {}
    return bool(metadata.get("event_type") == kind and payload.get("watch_id") == watch.watch_id)


class SlackNotifier:
    """The engine's ``Notifier`` for Slack, posting with the bot token."""

    def __init__(self, client: WebClient) -> None:
        self.client = client
        #: Told a bot's training changed (korebot.slack.home_refresh queues the open Home
        #: tabs to refresh); set once the app is built, as it needs the listeners' services.
        self.on_training_changed: Callable[[str], None] = lambda _bot_name: None
        #: A bot's batch test bar, by the bot's name (korebot.config.Config.bar_of); set
        #: once the configuration is known.
        self.bar_of: Callable[[str], Bar] = lambda _bot_name: Bar()

    def training_changed(self, bot_name: str) -> None:
        try:
            self.on_training_changed(bot_name)
        except Exception:  # a Home refresh is never worth failing a poll or a post
            log.exception("Could not queue the Home refresh for %s", bot_name)

    # Announcing ------------------------------------------------------------------

    def announce(self, watch: WatchView, status: JobStatus) -> tuple[str, str]:
        message = self._watching(watch, status, None)
        meta = _metadata(ANNOUNCED, watch)
        try:
            return self._post(watch.channel_id, message, metadata=meta)
        except SlackApiError as error:
            if slack_error(error) in CANNOT_POST and watch.via == "subscription":
                # Nobody asked (no one to DM): the channel is gone for its subscriptions.
                raise Undeliverable(slack_error(error), "channel") from None
            if slack_error(error) not in CANNOT_POST or not watch.askers:
                raise
        # Posting to a user ID opens the app's DM with them; the thread lives there.
        return self._dm(watch.askers[0], message, metadata=meta)

    def timed_out(self, waited: float, last_status: str, error: str | None) -> str:
        return messages.timed_out(waited, last_status, error)

    def find_announcement(self, watch: WatchView) -> tuple[str, str] | None:
        found = self._search_history(watch.channel_id, lambda m: _tagged(m, ANNOUNCED, watch))
        if found is None and watch.askers:
            # It may have gone to the first asker's DM (the channel was closed to the bot).
            dm = self._dm_channel(watch.askers[0])
            found = self._search_history(dm, lambda m: _tagged(m, ANNOUNCED, watch)) if dm else None
        return found

    # Concluding ------------------------------------------------------------------

    def finish(self, watch: WatchView, outcome: Outcome, *, posted: bool = False) -> None:
        if outcome.result is not None and watch.kind is Kind.BATCH:
            bar = self.bar_of(watch.bot_name)
            if watch.thread_ts:
                reply = batch_messages.final_reply(watch, outcome.result, bar, outcome.took)
            else:
                reply = batch_messages.ran_between_checks(watch, outcome.result, bar)
            parent = batch_messages.final_parent(watch, outcome.result, bar)
        elif outcome.result is not None and watch.kind is Kind.PUBLISH:
            if watch.thread_ts:
                reply = publish_messages.final_reply(watch, outcome.result, outcome.took)
            else:
                reply = publish_messages.ran_between_checks(watch, outcome.result)
            parent = publish_messages.final_parent(watch, outcome.result)
        elif outcome.result is not None:
            if watch.thread_ts:
                took = history_messages.took_note(outcome)
                reply = messages.final_reply(watch, outcome.result, took)
            else:
                reply = messages.ran_between_checks(watch, outcome.result)
            parent = messages.final_parent(watch, outcome.result)
        else:
            reason = outcome.reason or "watching stopped."
            reply, parent = (
                messages.gave_up_reply(watch, reason),
                messages.gave_up_parent(watch, reason),
            )
        if not posted:
            self._conclude(watch, reply)
        self._update(watch, parent)

    def find_outcome(self, watch: WatchView) -> bool:
        channel = watch.thread_channel or watch.channel_id
        try:
            if watch.thread_ts:
                response = self.client.conversations_replies(
                    channel=channel,
                    ts=watch.thread_ts,
                    include_all_metadata=True,
                    limit=_LOOKBACK,
                )
            else:
                response = self.client.conversations_history(
                    channel=channel, include_all_metadata=True, limit=_LOOKBACK
                )
        except SlackApiError as error:
            self._raise_if_dead(error)
            if slack_error(error) not in CANNOT_LOOK:
                raise  # the result may be there: do not post it blind, look again later
            log.warning(
                "Could not look for watch %d's result: %s", watch.watch_id, slack_error(error)
            )
            return False
        if any(_tagged(m, CONCLUDED, watch) for m in response.get("messages") or []):
            return True
        # The result may have gone to the first asker by DM (the channel was closed to it).
        dm = self._dm_channel(watch.askers[0]) if watch.askers else None
        return bool(
            dm
            and dm != channel
            and self._search_history(dm, lambda m: _tagged(m, CONCLUDED, watch))
        )

    # Updates ---------------------------------------------------------------------

    def stopped(self, watch: WatchView, user_id: str) -> None:
        self._update(watch, messages.stopped_parent(watch, user_id))

    def unreachable(self, watch: WatchView, since: datetime | None, error: str) -> None:
        self._rewatch(watch, since)

    def overdue(self, watch: WatchView) -> None:
        self._rewatch(watch, watch.failing_since)

    def _rewatch(self, watch: WatchView, failing_since: datetime | None) -> None:
        """Update the watch's message, still watching, as it is now."""
        status = JobStatus.placeholder(watch.last_status, watch.kind)
        self._update(watch, self._watching(watch, status, failing_since))

    @staticmethod
    def _watching(
        watch: WatchView, status: JobStatus, failing_since: datetime | None
    ) -> messages.Message:
        """A watch's message while it waits, in its kind's words."""
        note = history_messages.usual_note(watch)
        if watch.kind is Kind.BATCH:
            return batch_messages.watching(watch, status, failing_since, note)
        if watch.kind is Kind.PUBLISH:
            return publish_messages.watching(watch, status, failing_since, note)
        return messages.watching(watch, status, failing_since, note)

    def paused(self, subscription: SubscriptionView, reason: str) -> None:
        try:
            self._post(subscription.channel_id, messages.subscription_paused(subscription, reason))
        except SlackApiError as error:
            log.warning(
                "Could not tell %s its subscription is paused: %s",
                subscription.channel_id,
                slack_error(error),
            )

    # Releases --------------------------------------------------------------------

    def release_changed(self, release: ReleaseView) -> ReleaseShown:
        self.training_changed(release.bot_name)  # the Home tabs show its current step
        checklist = release_messages.checklist(release)
        channel, ts = release.message_channel, release.message_ts
        if channel is None or ts is None:  # never posted, or not recorded (a crash)
            channel, ts = self._post_checklist(release, checklist)
        else:
            try:
                self.client.chat_update(channel=channel, ts=ts, **checklist.kwargs())
            except SlackApiError as error:
                self._raise_if_dead(error)
                log.warning(
                    "Could not update release %d's checklist: %s",
                    release.release_id,
                    slack_error(error),
                )
        ended = [s.step.value for s in release.progress.steps if s.ended]
        if release.state is ReleaseState.ENDED:
            ended.append("end")
        lines = list(release.progress.lines)
        owed = [line for line in ended if line not in lines]
        if owed:
            there = self._release_lines(channel, ts, release)
            for line in owed:
                if line not in there:
                    message = (
                        release_messages.end_line(release)
                        if line == "end"
                        else release_messages.step_line(release, ReleaseStep(line))
                    )
                    meta = _release_metadata(release, line)
                    try:
                        self._post(channel, message, thread_ts=ts, metadata=meta)
                    except SlackApiError as error:
                        if slack_error(error) not in CANNOT_POST:
                            raise
                        # The thread is gone for good (say, the channel was archived).
                        log.warning(
                            "Release %d's %s line cannot be posted: %s",
                            release.release_id, line, slack_error(error),
                        )  # fmt: skip
                lines.append(line)
        return ReleaseShown((channel, ts), tuple(lines))

    def _post_checklist(self, release: ReleaseView, checklist: messages.Message) -> tuple[str, str]:
        """Post the checklist in the channel (the releaser's DM if korebot cannot post
        there), unless a crash came between posting it and recording it."""
        meta = _release_metadata(release, "checklist")
        dm = self._dm_channel(release.user_id)
        for channel in dict.fromkeys(c for c in (release.channel_id, dm) if c):
            found = self._search_history(
                channel, lambda m: _release_line(m, release) == "checklist"
            )
            if found is not None:
                return found
        try:
            return self._post(release.channel_id, checklist, metadata=meta)
        except SlackApiError as error:
            if slack_error(error) not in CANNOT_POST:
                raise
        log.warning(
            "Cannot post release %d in its channel; its thread goes to the releaser by DM",
            release.release_id,
        )
        return self._dm(release.user_id, checklist, metadata=meta)

    def _release_lines(self, channel: str, ts: str, release: ReleaseView) -> set[str]:
        """The lines already in the release's thread (a crash may have come between a
        post and its record)."""
        try:
            response = self.client.conversations_replies(
                channel=channel, ts=ts, include_all_metadata=True, limit=_LOOKBACK
            )
        except SlackApiError as error:
            self._raise_if_dead(error)
            if slack_error(error) not in CANNOT_LOOK:
                raise
            return set()
        found = (_release_line(m, release) for m in response.get("messages") or [])
        return {line for line in found if line is not None}

    def tell_user(self, channel: str, user: str, message: messages.Message) -> None:
        """Tell one user, without a response_url (the periodic jobs have none): only to
        them in the channel, or by DM when korebot cannot post there."""
        try:
            self.client.chat_postEphemeral(channel=channel, user=user, **message.kwargs())
            return
        except SlackApiError as error:
            self._raise_if_dead(error)
            if slack_error(error) not in CANNOT_POST | {"user_not_in_channel"}:
                raise
        self._dm(user, message)

    # Web API --------------------------------------------------------------------

    def _post(
        self,
        channel: str,
        message: messages.Message,
        *,
        thread_ts: str | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> tuple[str, str]:
        try:
            response = self.client.chat_postMessage(
                channel=channel, thread_ts=thread_ts, metadata=metadata, **message.kwargs()
            )
        except SlackApiError as error:
            self._raise_if_dead(error)
            raise
        return str(response["channel"]), str(response["ts"])

    def _dm(
        self, user: str, message: messages.Message, *, metadata: dict[str, Any] | None = None
    ) -> tuple[str, str]:
        try:
            return self._post(user, message, metadata=metadata)
        except SlackApiError as error:
            if slack_error(error) in CANNOT_POST:
                raise Undeliverable(f"cannot DM {user}: {slack_error(error)}", "user") from None
            raise

    def _conclude(self, watch: WatchView, message: messages.Message) -> None:
        meta = _metadata(CONCLUDED, watch)
        channel = watch.thread_channel or watch.channel_id
        try:
            self._post(channel, message, thread_ts=watch.thread_ts, metadata=meta)
            return
        except SlackApiError as error:
            if slack_error(error) not in CANNOT_POST:
                raise
            if not watch.askers:
                raise Undeliverable(slack_error(error), "channel") from None
            log.warning(
                "Cannot post in %s (%s); sending the result to the askers by DM",
                channel,
                slack_error(error),
            )
        # Only the first DM carries the tag: it is the one a crash-retry looks for.
        for index, user in enumerate(watch.askers):
            self._dm(user, message, metadata=meta if index == 0 else None)

    def _update(self, watch: WatchView, message: messages.Message) -> None:
        """Best effort: the thread reply already carries the news."""
        if watch.thread_channel is None or watch.thread_ts is None:
            return
        try:
            self.client.chat_update(
                channel=watch.thread_channel, ts=watch.thread_ts, **message.kwargs()
            )
        except SlackApiError as error:
            self._raise_if_dead(error)
            log.warning(
                "Could not update the message of watch %d: %s", watch.watch_id, slack_error(error)
            )

    def _search_history(
        self, channel: str, wanted: Callable[[dict[str, Any]], bool]
    ) -> tuple[str, str] | None:
        """(channel, ts) of the channel's recent message that is the one ``wanted`` (after
        a crash, before posting it again); None if it is not there or cannot be seen."""
        try:
            response = self.client.conversations_history(
                channel=channel, include_all_metadata=True, limit=_LOOKBACK
            )
        except SlackApiError as error:
            self._raise_if_dead(error)
            if slack_error(error) not in CANNOT_LOOK:
                raise  # the message may be there: do not post it blind, look again later
            return None
        for message in response.get("messages") or []:
            if wanted(message):
                return str(response.get("channel") or channel), str(message["ts"])
        return None

    def _dm_channel(self, user: str) -> str | None:
        """The ID of the app's DM with a user (history calls need it, not the user ID)."""
        try:
            response = self.client.conversations_open(users=user)
        except SlackApiError as error:
            self._raise_if_dead(error)
            if slack_error(error) not in CANNOT_LOOK:
                raise
            return None
        channel = response.get("channel") or {}
        return str(channel["id"]) if channel.get("id") else None

    @staticmethod
    def _raise_if_dead(error: SlackApiError) -> None:
        if slack_error(error) in DEAD_TOKEN:
            raise Undeliverable(slack_error(error), "workspace") from None
