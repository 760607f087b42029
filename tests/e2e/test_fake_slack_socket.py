"""Tests of the fake Socket Mode endpoint, with a plain WebSocket client as the app."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from websockets.exceptions import InvalidStatus
from websockets.sync.client import ClientConnection, connect

from korebot.testing.fake_slack import FakeSlack
from korebot.testing.fake_slack_socket import FakeSlackSocket


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    with FakeSlack() as fake:
        yield fake


@pytest.fixture
def socket(slack: FakeSlack) -> Iterator[FakeSlackSocket]:
    with FakeSlackSocket(slack) as fake:
        yield fake


def open_url(slack: FakeSlack, token: str) -> str:
    return str(WebClient(base_url=slack.api_url).apps_connections_open(app_token=token)["url"])


@contextmanager
def connected(slack: FakeSlack, socket: FakeSlackSocket) -> Iterator[ClientConnection]:
    """A connection as the app opens it, past the hello."""
    with connect(open_url(slack, slack.app_token)) as app:
        assert json.loads(app.recv(timeout=5))["type"] == "hello"
        socket.wait_for(lambda s: s.connections == 1, 5, "the connection")
        yield app


def test_only_the_app_token_opens_a_connection(slack: FakeSlack, socket: FakeSlackSocket) -> None:
    url = open_url(slack, slack.app_token)
    assert url.startswith("ws://127.0.0.1:")
    for token, error in [(slack.token, "not_allowed_token_type"), ("xapp-1-x", "invalid_auth")]:
        with pytest.raises(SlackApiError) as refused:
            open_url(slack, token)
        assert refused.value.response["error"] == error
    # And the app token is no bot token.
    with pytest.raises(SlackApiError) as refused:
        WebClient(token=slack.app_token, base_url=slack.api_url).auth_test()
    assert refused.value.response["error"] == "not_allowed_token_type"


def test_no_socket_mode_without_the_socket(slack: FakeSlack) -> None:
    with pytest.raises(SlackApiError) as refused:
        open_url(slack, slack.app_token)
    assert refused.value.response["error"] == "unknown_method"


def test_a_ticket_is_good_for_one_connection(slack: FakeSlack, socket: FakeSlackSocket) -> None:
    url = open_url(slack, slack.app_token)
    with connect(url) as first:
        assert json.loads(first.recv(timeout=5))["type"] == "hello"
        with pytest.raises(InvalidStatus), connect(url):
            pass
    assert socket.problems == [
        f"connection with an unknown or used ticket: {url[url.index('/link') :]}"
    ]


@pytest.mark.timing
def test_acks_are_recorded_and_checked(slack: FakeSlack, socket: FakeSlackSocket) -> None:
    with connected(slack, socket) as app:
        command = socket.command("support en", channel_id="C1")
        sent = json.loads(app.recv(timeout=5))
        assert sent["type"] == "slash_commands"
        assert sent["accepts_response_payload"] is True
        assert sent["payload"]["command"] == "/faq-status"
        assert sent["payload"]["channel_id"] == "C1"
        app.send(json.dumps({"envelope_id": sent["envelope_id"], "payload": {"text": "hi"}}))
        ack = socket.wait_ack(command)
        assert ack.payload == {"text": "hi"}
        assert ack.connection == 1
        assert 0 <= ack.seconds < 5

        click = socket.action("stop_watch", "7", channel_id="C1", message_ts="1.000100")
        sent = json.loads(app.recv(timeout=5))
        assert sent["type"] == "interactive"
        assert sent["payload"]["actions"][0]["value"] == "7"
        app.send(json.dumps({"envelope_id": sent["envelope_id"], "payload": {"text": "no"}}))
        app.send(json.dumps({"envelope_id": "never-sent"}))
        app.send(json.dumps({"envelope_id": command.envelope_id}))
        socket.wait_for(lambda s: len(s.problems) == 3, 5, "three problems")
    assert socket.ack_of(click) is None
    expected = ["a payload in the ack of interactive", "a frame that acks no", "a second ack of"]
    for problem, start in zip(socket.problems, expected, strict=True):
        assert problem.startswith(start), problem


def test_disconnect_asks_the_app_to_reconnect(slack: FakeSlack, socket: FakeSlackSocket) -> None:
    with connected(slack, socket) as app:
        assert socket.disconnect() == 1
        assert json.loads(app.recv(timeout=5))["type"] == "disconnect"
    socket.wait_for(lambda s: not s.is_open(1), 5, "the connection closed")
    with pytest.raises(AssertionError, match="no open Socket Mode connection"):
        socket.command("help")
