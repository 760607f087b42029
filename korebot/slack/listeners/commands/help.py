"""`/faq-status help` (or nothing): what the command can do."""

from __future__ import annotations

from slack_bolt import Respond

from korebot.slack import messages


def show_help(respond: Respond) -> None:
    respond(**messages.usage().kwargs())
