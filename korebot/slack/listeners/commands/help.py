"""`/faq-status help` (or nothing; `/ml-status help` alike): what the command can do."""

from __future__ import annotations

from slack_bolt import Respond

from korebot.kore import Kind
from korebot.slack import messages


def show_help(respond: Respond, kind: Kind = Kind.FAQ) -> None:
    respond(**messages.usage(kind).kwargs())
