"""What Slack sends an app for a slash command, a button click or an event, as Python data.

Over HTTP, `fake_slack.SlackSender` posts these signed (a command as a form, a click as a
form field holding JSON); in Socket Mode, `fake_slack_socket.FakeSlackSocket` sends them
as envelope payloads. Events (``app_home_opened``) and clicks on a Home tab's controls
(``view_actions_payload``) are JSON over HTTP, ``events_api`` / ``interactive`` envelopes
over a socket.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

__all__ = [
    "app_home_opened_event",
    "block_actions_payload",
    "slash_command_fields",
    "view_actions_payload",
]


def slash_command_fields(
    text: str,
    *,
    user_id: str = "U0ASKER",
    channel_id: str = "C0CHANNEL",
    response_url: str = "",
    command: str = "/faq-status",
    team_id: str = "T0FAKE",
    api_app_id: str = "A0KOREBOT",
) -> dict[str, str]:
    """The fields Slack sends for a slash command (a form over HTTP, a dict over a socket)."""
    return {
        "token": "fake-verification-token",
        "team_id": team_id,
        "team_domain": "fake",
        "channel_id": channel_id,
        "channel_name": _channel_name(channel_id),
        "user_id": user_id,
        "user_name": user_id.lower(),
        "command": command,
        "text": text,
        "api_app_id": api_app_id,
        "is_enterprise_install": "false",
        "response_url": response_url,
        "trigger_id": _trigger_id(),
    }


def block_actions_payload(
    action_id: str,
    value: str,
    *,
    user_id: str = "U0ASKER",
    channel_id: str = "C0CHANNEL",
    message_ts: str = "",
    response_url: str = "",
    team_id: str = "T0FAKE",
    api_app_id: str = "A0KOREBOT",
) -> dict[str, Any]:
    """The block_actions payload Slack sends for a button click."""
    payload: dict[str, Any] = {
        "type": "block_actions",
        "user": {
            "id": user_id,
            "username": user_id.lower(),
            "name": user_id.lower(),
            "team_id": team_id,
        },
        "api_app_id": api_app_id,
        "token": "fake-verification-token",
        "container": {
            "type": "message",
            "message_ts": message_ts,
            "channel_id": channel_id,
            "is_ephemeral": not message_ts,
        },
        "trigger_id": _trigger_id(),
        "team": {"id": team_id, "domain": "fake"},
        "enterprise": None,
        "is_enterprise_install": False,
        "channel": {"id": channel_id, "name": _channel_name(channel_id)},
        "state": {"values": {}},
        "response_url": response_url,
        "actions": [
            {
                "type": "button",
                "action_id": action_id,
                "block_id": "fake-block",
                "text": {"type": "plain_text", "text": action_id},
                "value": value,
                "action_ts": f"{time.time():.6f}",
            }
        ],
    }
    if message_ts:
        payload["message"] = {"type": "message", "ts": message_ts, "text": ""}
    return payload


def app_home_opened_event(
    user_id: str,
    *,
    tab: str = "home",
    view: dict[str, Any] | None = None,
    team_id: str = "T0FAKE",
    api_app_id: str = "A0KOREBOT",
) -> dict[str, Any]:
    """The ``event_callback`` envelope of ``app_home_opened`` (with the tab's current
    ``view`` when one was published before)."""
    event: dict[str, Any] = {
        "type": "app_home_opened",
        "user": user_id,
        "channel": "D" + user_id,
        "tab": tab,
        "event_ts": f"{time.time():.6f}",
    }
    if view is not None:
        event["view"] = view
    return {
        "token": "fake-verification-token",
        "team_id": team_id,
        "api_app_id": api_app_id,
        "event": event,
        "type": "event_callback",
        "event_id": "Ev" + uuid.uuid4().hex[:10].upper(),
        "event_time": int(time.time()),
        "authorizations": [
            {
                "team_id": team_id,
                "user_id": "U0KOREBOT",
                "is_bot": True,
                "is_enterprise_install": False,
            }
        ],
        "is_ext_shared_channel": False,
    }


def view_actions_payload(
    action: dict[str, Any],
    *,
    user_id: str = "U0ASKER",
    team_id: str = "T0FAKE",
    api_app_id: str = "A0KOREBOT",
) -> dict[str, Any]:
    """The block_actions payload of a control on a Home tab: no channel, no response_url.

    ``action`` as Slack reports it: a button's ``action_id``, ``block_id`` and ``value``,
    or a conversations_select's ``selected_conversation``.
    """
    view_id = "V" + uuid.uuid4().hex[:10].upper()
    return {
        "type": "block_actions",
        "user": {"id": user_id, "username": user_id.lower(), "team_id": team_id},
        "api_app_id": api_app_id,
        "token": "fake-verification-token",
        "container": {"type": "view", "view_id": view_id},
        "trigger_id": _trigger_id(),
        "team": {"id": team_id, "domain": "fake"},
        "enterprise": None,
        "is_enterprise_install": False,
        "view": {"id": view_id, "team_id": team_id, "type": "home", "blocks": [],
                 "state": {"values": {}}},
        "actions": [{**action, "action_ts": f"{time.time():.6f}"}],
    }  # fmt: skip


def _channel_name(channel_id: str) -> str:
    return "directmessage" if channel_id.startswith("D") else "general"


def _trigger_id() -> str:
    return f"{int(time.time())}.{uuid.uuid4().int % 10**12}.{uuid.uuid4().hex}"
