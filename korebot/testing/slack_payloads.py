"""What Slack sends an app for a slash command or a button click, as Python data.

Over HTTP, `fake_slack.SlackSender` posts these signed (a command as a form, a click as a
form field holding JSON); in Socket Mode, `fake_slack_socket.FakeSlackSocket` sends them
as envelope payloads.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

__all__ = ["block_actions_payload", "slash_command_fields"]


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


def _channel_name(channel_id: str) -> str:
    return "directmessage" if channel_id.startswith("D") else "general"


def _trigger_id() -> str:
    return f"{int(time.time())}.{uuid.uuid4().int % 10**12}.{uuid.uuid4().hex}"
