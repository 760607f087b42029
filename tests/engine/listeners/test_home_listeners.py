"""The Home tab's listeners called as plain functions: the tab opened (with the database
down, with Slack refusing the view) and its controls' bad input."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

from support.in_process import Listeners

from korebot.slack.home import WATCH_ACTION
from korebot.slack.listeners.actions.home_controls import watch_in_channel
from korebot.slack.listeners.events.app_home_opened import app_home_opened
from korebot.testing.slack_payloads import app_home_opened_event, view_actions_payload


def opened(listeners: Listeners, user: str, tab: str = "home") -> None:
    body = app_home_opened_event(user, tab=tab)
    app_home_opened(listeners.services, body, body["event"], listeners.client)


def published(listeners: Listeners, user: str) -> list[dict[str, Any]]:
    return [c.args["view"] for c in listeners.slack.calls_to("views.publish")
            if c.args.get("user_id") == user]  # fmt: skip


def test_the_tab_is_published_and_the_messages_tab_is_left_alone(listeners: Listeners) -> None:
    opened(listeners, "U0L1", tab="messages")
    assert published(listeners, "U0L1") == []
    opened(listeners, "U0L1")
    (view,) = published(listeners, "U0L1")
    assert "support" in json.dumps(view["blocks"])
    since = listeners.engine.clock() - timedelta(minutes=1)
    assert ("T0FAKE", "U0L1") in listeners.store.home_tabs.open_homes(since)


def test_with_the_database_down_the_tab_says_so(listeners: Listeners, tmp_path: Path) -> None:
    down = Listeners(
        listeners.kore,
        listeners.slack,
        tmp_path,
        database_url=f"sqlite:///{tmp_path / 'gone' / 'korebot.db'}",
    )
    try:
        opened(down, "U0L2")
    finally:
        down.close()
    (view,) = published(listeners, "U0L2")
    assert "My database is unavailable right now" in json.dumps(view["blocks"])


def test_slack_refusing_the_view_is_logged_not_raised(listeners: Listeners) -> None:
    listeners.slack.fail("views.publish", "invalid_blocks")
    opened(listeners, "U0L3")  # returns: nothing to tell anyone, Slack refused the tab
    (call,) = [c for c in listeners.slack.calls_to("views.publish")
               if c.args.get("user_id") == "U0L3"]  # fmt: skip
    assert call.error == "invalid_blocks"


def test_a_control_naming_no_known_training_is_answered_on_the_tab(listeners: Listeners) -> None:
    for block_id in ("home|nobody|en|faq|configured", "home|support|en|nokind|configured"):
        before = len(published(listeners, "U0L4"))
        action = {"type": "conversations_select", "action_id": WATCH_ACTION,
                  "block_id": block_id, "selected_conversation": "C0ANY"}  # fmt: skip
        body = view_actions_payload(action, user_id="U0L4")
        watch_in_channel(listeners.services, body, body["actions"][0], listeners.client)
        view = published(listeners, "U0L4")[before]
        assert ":no_entry:" in json.dumps(view["blocks"])
    assert listeners.engine.watches_in("C0ANY") == []
