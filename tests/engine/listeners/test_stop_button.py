"""Unit tests of the "Stop watching" button (actions/stop_watching.py), called directly with
the payload Slack sends for a click, Bolt's `Respond` and real services.

Whatever happens, the clicker hears back beside the watch's message (never over it:
``replace_original`` is false), or sees the message itself updated.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from support.in_process import Listeners, new_language
from support.slack_app import BOT, alltext, has_buttons, new_channel

from korebot.kore import State
from korebot.slack.listeners.actions.stop_watching import stop_watching
from korebot.slack.listeners.commands.status import ask_status
from korebot.slack.messages import STOP_ACTION
from korebot.slack.parsing import AskStatus
from korebot.testing.fake_kore import Status
from korebot.testing.slack_payloads import block_actions_payload, slash_command_fields


def start_watch(listeners: Listeners, channel: str) -> dict[str, Any]:
    """A watch of a running training in the channel; returns its message."""
    language = new_language()
    listeners.kore.script(BOT, language, Status("in-progress"))
    asked = AskStatus("support", language, State.CONFIGURED)
    fields = dict(slash_command_fields("", channel_id=channel))
    ask_status(listeners.services, asked, fields, listeners.respond(), listeners.client)
    (parent,) = listeners.slack.messages(channel)
    return parent


def button_value(parent: dict[str, Any]) -> str:
    (actions,) = [block for block in parent["blocks"] if block["type"] == "actions"]
    (button,) = [e for e in actions["elements"] if e["action_id"] == STOP_ACTION]
    return str(button["value"])


def click(
    listeners: Listeners, value: str, channel: str, ts: str = "", user: str = "U0CLICKER"
) -> list[dict[str, Any]]:
    """Click Stop watching (`value`: the button's) in a channel; every answer, in order."""
    body = block_actions_payload(
        STOP_ACTION, value, user_id=user, channel_id=channel, message_ts=ts
    )
    respond = listeners.respond()
    stop_watching(listeners.services, body, body["actions"][0], respond)
    return listeners.answers(respond)


def test_a_click_stops_the_watch_and_updates_its_message(listeners: Listeners) -> None:
    channel = new_channel()
    parent = start_watch(listeners, channel)
    assert click(listeners, button_value(parent), channel, parent["ts"]) == []
    (stopped,) = listeners.slack.messages(channel)
    assert "stopped watching" in stopped["text"]
    assert "<@U0CLICKER>" in alltext(stopped)
    assert not has_buttons(stopped)
    assert listeners.engine.watches_in(channel) == []


def test_a_second_click_is_told_the_watch_has_ended(listeners: Listeners) -> None:
    channel = new_channel()
    parent = start_watch(listeners, channel)
    click(listeners, button_value(parent), channel, parent["ts"])
    (answer,) = click(listeners, button_value(parent), channel, parent["ts"], user="U0LATE")
    assert answer["replace_original"] is False
    assert answer.get("response_type", "ephemeral") == "ephemeral"
    assert "That watch has already ended." in alltext(answer)


@pytest.mark.parametrize("value", ["", "not-a-number", "99999999", "-1", "1e3"])
def test_a_click_with_a_bad_value_is_answered(listeners: Listeners, value: str) -> None:
    (answer,) = click(listeners, value, new_channel())
    assert answer["replace_original"] is False
    assert "That watch has already ended." in alltext(answer)


def test_a_click_from_another_channel_stops_nothing(listeners: Listeners) -> None:
    channel = new_channel()
    parent = start_watch(listeners, channel)
    (answer,) = click(listeners, button_value(parent), new_channel())
    assert "That watch has already ended." in alltext(answer)
    assert len(listeners.engine.watches_in(channel)) == 1


def test_with_the_database_down_the_clicker_is_told(listeners: Listeners, tmp_path: Path) -> None:
    channel = new_channel()
    parent = start_watch(listeners, channel)
    # The same watch's button, clicked in a process whose database cannot be reached.
    down = Listeners(
        listeners.kore,
        listeners.slack,
        tmp_path,
        database_url=f"sqlite:///{tmp_path / 'gone' / 'korebot.db'}",
    )
    try:
        (answer,) = click(down, button_value(parent), channel, parent["ts"])
    finally:
        down.close()
    assert answer["replace_original"] is False
    assert answer.get("response_type", "ephemeral") == "ephemeral"
    assert "My database is unavailable right now" in alltext(answer)
    assert "edited" not in listeners.slack.messages(channel)[0]
    assert len(listeners.engine.watches_in(channel)) == 1
