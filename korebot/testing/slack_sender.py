"""The sender of signed requests: slash commands, button clicks and events, posted to the app
as Slack posts them (forms or JSON, with Slack's timestamp and v0 signature headers)."""

from __future__ import annotations

import json
import time
from types import TracebackType
from typing import Any
from urllib.parse import urlencode

import httpx
from slack_sdk.signature import SignatureVerifier

from korebot.testing.slack_payloads import (
    app_home_opened_event,
    block_actions_payload,
    slash_command_fields,
    view_actions_payload,
)

__all__ = ["SlackSender"]


class SlackSender:
    """Sends slash commands and block actions to the app, signed as Slack signs them."""

    def __init__(
        self,
        app_url: str,
        signing_secret: str,
        *,
        team_id: str = "T0FAKE",
        api_app_id: str = "A0KOREBOT",
        timeout: float = 10.0,
    ) -> None:
        self.app_url = app_url
        self.team_id = team_id
        self.api_app_id = api_app_id
        self._verifier = SignatureVerifier(signing_secret)
        self._client = httpx.Client(timeout=timeout)

    def command(
        self,
        text: str,
        *,
        user_id: str = "U0ASKER",
        channel_id: str = "C0CHANNEL",
        response_url: str = "",
        command: str = "/faq-status",
        timestamp: int | None = None,
        signature: str | None = None,
    ) -> httpx.Response:
        """POST a slash command; `timestamp`/`signature` override the signing."""
        fields = slash_command_fields(
            text,
            user_id=user_id,
            channel_id=channel_id,
            response_url=response_url,
            command=command,
            team_id=self.team_id,
            api_app_id=self.api_app_id,
        )
        return self._post(urlencode(fields), timestamp, signature)

    def action(
        self,
        action_id: str,
        value: str,
        *,
        user_id: str = "U0ASKER",
        channel_id: str = "C0CHANNEL",
        message_ts: str = "",
        response_url: str = "",
        timestamp: int | None = None,
        signature: str | None = None,
    ) -> httpx.Response:
        """POST a block_actions payload for a button click, signed like `command`."""
        payload = block_actions_payload(
            action_id,
            value,
            user_id=user_id,
            channel_id=channel_id,
            message_ts=message_ts,
            response_url=response_url,
            team_id=self.team_id,
            api_app_id=self.api_app_id,
        )
        return self._post(urlencode({"payload": json.dumps(payload)}), timestamp, signature)

    def home_opened(
        self, user_id: str, *, tab: str = "home", view: dict[str, Any] | None = None
    ) -> httpx.Response:
        """POST the Events API's ``app_home_opened`` for the user, signed, as JSON."""
        event = app_home_opened_event(
            user_id, tab=tab, view=view, team_id=self.team_id, api_app_id=self.api_app_id
        )
        return self._post(json.dumps(event), None, None, "application/json")

    def view_action(self, action: dict[str, Any], *, user_id: str = "U0ASKER") -> httpx.Response:
        """POST a click on a Home tab's control (``slack_payloads.view_actions_payload``)."""
        payload = view_actions_payload(
            action, user_id=user_id, team_id=self.team_id, api_app_id=self.api_app_id
        )
        return self._post(urlencode({"payload": json.dumps(payload)}), None, None)

    def _post(
        self,
        body: str,
        timestamp: int | None,
        signature: str | None,
        content_type: str = "application/x-www-form-urlencoded",
    ) -> httpx.Response:
        ts = str(int(time.time()) if timestamp is None else timestamp)
        if signature is None:
            signature = self._verifier.generate_signature(timestamp=ts, body=body)
        headers = {
            "Content-Type": content_type,
            "X-Slack-Request-Timestamp": ts,
            "X-Slack-Signature": signature or "",
        }
        return self._client.post(self.app_url, content=body.encode(), headers=headers)

    def close(self) -> None:
        """Close the HTTP client."""
        self._client.close()

    def __enter__(self) -> SlackSender:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
