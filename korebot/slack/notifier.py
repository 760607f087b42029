"""Delivers what the watch engine reports to Slack: threads, updates, DM fallback."""

from __future__ import annotations

import logging

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from korebot.kore import TrainingStatus
from korebot.slack import messages
from korebot.watch.engine import Undeliverable, WatchView

log = logging.getLogger(__name__)

# The bot cannot post in the channel: deliver to the askers by DM instead.
CANNOT_POST = frozenset({"not_in_channel", "channel_not_found", "is_archived", "restricted_action"})
# The token itself is dead: nothing can be delivered anywhere.
DEAD_TOKEN = frozenset({"invalid_auth", "token_revoked", "account_inactive", "not_authed"})


def slack_error(error: SlackApiError) -> str:
    """The Web API's error code (``not_in_channel``, ``ratelimited``, ...)."""
    return str(error.response.get("error", "unknown_error"))


class SlackNotifier:
    """The engine's ``Notifier`` for Slack, posting with the bot token."""

    def __init__(self, client: WebClient) -> None:
        self.client = client

    def announce(self, watch: WatchView, status: TrainingStatus) -> tuple[str, str]:
        message = messages.watching(watch, status)
        try:
            return self._post(watch.channel_id, message)
        except SlackApiError as error:
            if slack_error(error) not in CANNOT_POST or not watch.askers:
                raise
        # Posting to a user ID opens the app's DM with them; the thread lives there.
        return self._dm(watch.askers[0], message)

    def finish(self, watch: WatchView, result: TrainingStatus) -> None:
        self._reply(watch, messages.final_reply(watch, result))
        self._update(watch, messages.final_parent(watch, result))

    def give_up(self, watch: WatchView, reason: str) -> None:
        self._reply(watch, messages.gave_up_reply(watch, reason))
        self._update(watch, messages.gave_up_parent(watch, reason))

    def stopped(self, watch: WatchView, user_id: str) -> None:
        self._update(watch, messages.stopped_parent(watch, user_id))

    def _post(
        self, channel: str, message: messages.Message, thread_ts: str | None = None
    ) -> tuple[str, str]:
        try:
            response = self.client.chat_postMessage(
                channel=channel, thread_ts=thread_ts, **message.kwargs()
            )
        except SlackApiError as error:
            if slack_error(error) in DEAD_TOKEN:
                raise Undeliverable(slack_error(error)) from None
            raise
        return str(response["channel"]), str(response["ts"])

    def _dm(self, user: str, message: messages.Message) -> tuple[str, str]:
        try:
            return self._post(user, message)
        except SlackApiError as error:
            if slack_error(error) in CANNOT_POST:
                raise Undeliverable(f"cannot DM {user}: {slack_error(error)}") from None
            raise

    def _reply(self, watch: WatchView, message: messages.Message) -> None:
        if watch.thread_channel is None or watch.thread_ts is None:
            raise RuntimeError(f"watch {watch.watch_id} has no thread yet")
        try:
            self._post(watch.thread_channel, message, thread_ts=watch.thread_ts)
        except SlackApiError as error:
            if slack_error(error) not in CANNOT_POST:
                raise
            log.warning(
                "Cannot post in %s (%s); sending the result by DM",
                watch.thread_channel,
                slack_error(error),
            )
            for user in watch.askers:
                self._dm(user, message)

    def _update(self, watch: WatchView, message: messages.Message) -> None:
        """Best effort: the thread reply already carries the news."""
        if watch.thread_channel is None or watch.thread_ts is None:
            return
        try:
            self.client.chat_update(
                channel=watch.thread_channel, ts=watch.thread_ts, **message.kwargs()
            )
        except SlackApiError as error:
            log.warning(
                "Could not update the message of watch %d: %s", watch.watch_id, slack_error(error)
            )
