"""End to end in Socket Mode: the real app process on a WebSocket to the fake Slack.

The same commands and clicks go to an app over HTTP and to one in Socket Mode (against the
same fakes), and each must be acked in time and answered the same way.
"""

from __future__ import annotations

import json
import re
import socket as socketlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from support.slack_app import (
    BOT,
    OTHER_BOT,
    Harness,
    alltext,
    app_env,
    check_clean,
    has_buttons,
    new_channel,
    wait_until,
)

from korebot.slack.messages import STOP_ACTION
from korebot.testing.app_process import AppProcess
from korebot.testing.fake_kore import Delay, FakeKore, Status
from korebot.testing.fake_slack import FakeSlack
from korebot.testing.fake_slack_socket import Envelope, FakeSlackSocket, SocketAck
from korebot.watch.store.tables import Command

CHANGED = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)  # one date for both paths' answers
OPEN = "apps.connections.open"


@pytest.fixture(scope="module")
def socket(slack: FakeSlack) -> Iterator[FakeSlackSocket]:
    with FakeSlackSocket(slack) as fake:
        yield fake
    assert fake.problems == []


def socket_env(kore: FakeKore, slack: FakeSlack, db: Path, **extra: str) -> dict[str, str]:
    env = app_env(kore, slack, db, **{"SLACK_APP_TOKEN": slack.app_token, **extra})
    del env["SLACK_SIGNING_SECRET"]  # Slack does not sign envelopes: no secret is needed
    return env


@dataclass
class SocketHarness(Harness):
    """`Harness` whose commands and clicks go over the socket; the rest is the same."""

    socket: FakeSlackSocket | None = None

    @property
    def fake(self) -> FakeSlackSocket:
        assert self.socket is not None
        return self.socket

    def ask(self, text: str, channel: str, user: str = "U0ASKER") -> str:
        url = self.slack.response_url()
        self.acked(self.fake.command(text, channel_id=channel, user_id=user, response_url=url))
        return url

    def acked(self, envelope: Envelope) -> SocketAck:
        """The envelope's ack: in time, with no payload (as over HTTP: an empty 200)."""
        ack = self.fake.wait_ack(envelope)
        assert ack.in_time, f"acked after {ack.seconds:.2f} s"
        assert ack.payload is None
        return ack


def logs_are_clean(app: AppProcess, kore: FakeKore, slack: FakeSlack) -> None:
    check_clean(app, kore, slack)
    assert slack.app_token not in "\n".join(app.logs)


@pytest.fixture(scope="module")
def over_socket(
    kore: FakeKore,
    slack: FakeSlack,
    socket: FakeSlackSocket,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[SocketHarness]:
    db = tmp_path_factory.mktemp("socket") / "korebot.db"
    with AppProcess(socket_env(kore, slack, db)) as app:
        yield SocketHarness(kore, slack, app, socket)
    logs_are_clean(app, kore, slack)


@pytest.fixture(scope="module")
def over_http(
    kore: FakeKore, slack: FakeSlack, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Harness]:
    db = tmp_path_factory.mktemp("http") / "korebot.db"
    with AppProcess(app_env(kore, slack, db)) as app:
        yield Harness(kore, slack, app)
    logs_are_clean(app, kore, slack)


_CLOCK = re.compile(r"<!date\^\d+\^([^|]*)\|[^>]*>")


def same_shape(message: dict[str, Any]) -> dict[str, Any]:
    """A message without what differs between two apps: URL, ts, watch ids, clock times."""
    view = {
        key: value
        for key, value in message.items()
        if key not in ("_url", "ts", "edited", "replies", "thread_ts", "latest_reply", "metadata")
    }
    # Some dates are each app's own clock (when its watch began).
    view = json.loads(_CLOCK.sub(r"<!date^…^\1|…>", json.dumps(view)))
    for block in view.get("blocks") or []:
        for element in block.get("elements") or []:
            if "value" in element:
                element["value"] = "<watch id>"  # each app numbers its own watches
    return view


# Connecting ---------------------------------------------------------------------------


def test_the_app_opens_a_socket_mode_connection_with_the_app_token(
    over_socket: SocketHarness, slack: FakeSlack, socket: FakeSlackSocket
) -> None:
    opened = slack.calls_to(OPEN)
    assert opened, "the app never called apps.connections.open"
    assert all(call.ok for call in opened)  # the fake takes the app-level token only
    socket.wait_for(lambda s: s.is_open(s.connections), 10, "an open connection")


def test_slack_requests_over_http_get_404_but_healthz_works(over_socket: SocketHarness) -> None:
    response = over_socket.sender.command("support en", channel_id=new_channel())
    assert response.status_code == 404
    health = httpx.get(over_socket.app.url + "/healthz")
    assert health.status_code == 200
    assert health.json()["scheduler"] == "running"


# Commands: acked in time and answered as over HTTP -------------------------------------


@pytest.mark.parametrize(
    ("text", "script"),
    [
        ("support de", Status("success", modified_on=CHANGED)),
        ("sales fr published", Status("failure", modified_on=CHANGED)),
        ("help", None),
        ("bots", None),
        ("nosuchbot en", None),
    ],
)
def test_a_command_is_answered_as_over_http(
    over_socket: SocketHarness, over_http: Harness, text: str, script: Status | None
) -> None:
    answers = []
    for h in (over_http, over_socket):
        if script is not None:
            bot = BOT if text.startswith("support") else OTHER_BOT
            language = text.split()[1]
            state = "published" if "published" in text else "configured"
            h.kore.script(bot, language, script, state=state)
        answers.append(h.answer(h.ask(text, new_channel())))
    over_http_answer, over_socket_answer = answers
    assert same_shape(over_socket_answer) == same_shape(over_http_answer)
    assert alltext(over_socket_answer).strip()


def test_a_command_over_the_socket_is_recorded_before_its_ack_then_done(
    over_socket: SocketHarness,
) -> None:
    """As over HTTP, so that a crash before its work ends does not lose it."""
    h, channel = over_socket, new_channel()
    url = h.ask("help", channel)  # returns once the ack is in
    query = select(Command.channel_id, Command.text, Command.done_at).where(
        Command.response_url == url
    )
    ((recorded_channel, text, _),) = h.rows(query)
    assert (recorded_channel, text) == (channel, "help")
    h.answer(url)
    wait_until(lambda: h.rows(query)[0].done_at is not None, 10, "the command to be done")


@pytest.mark.timing
def test_the_ack_comes_before_kore_answers(over_socket: SocketHarness) -> None:
    h = over_socket
    h.kore.script(OTHER_BOT, "nl", Delay(2), Status("success"))
    before = h.kore.count(OTHER_BOT)
    url = h.ask("sales nl", new_channel())  # acked (in time) ...
    assert h.kore.count(OTHER_BOT) == before  # ... while Kore.ai had not answered
    assert h.answers(url) == []
    assert h.answer(url, timeout=15)["response_type"] == "in_channel"


@pytest.mark.timing
def test_a_burst_of_commands_is_acked_in_time_and_each_answered(
    over_socket: SocketHarness,
) -> None:
    h = over_socket
    h.kore.script(BOT, "el", Status("success", modified_on=CHANGED))
    urls = [h.slack.response_url() for _ in range(25)]
    envelopes = [
        h.fake.command("support el", channel_id=new_channel(), response_url=url) for url in urls
    ]
    for envelope in envelopes:  # sent at once; the work after each ack waits for the acks
        h.acked(envelope)
    h.slack.wait_for(lambda s: all(h.answers(url) for url in urls), 30, "every answer")
    assert all(len(h.answers(url)) == 1 for url in urls)


# Watching and the button ----------------------------------------------------------------


def watch_to_the_end(h: Harness, language: str) -> dict[str, Any]:
    """Ask about a running training; return the watch's parent and thread once it ended."""
    h.kore.script(BOT, language, Status("in-progress"), Status("success", modified_on=CHANGED))
    channel = new_channel()
    url = h.ask(f"support {language}", channel)
    parent = h.parent(channel)
    assert has_buttons(parent)
    final = h.wait_reply(channel)
    assert h.answers(url) == []  # the channel message was the answer
    return {
        "parent": same_shape(parent),
        "final": same_shape(final),
        "replies": [same_shape(reply) for reply in final["replies"]],
    }


def test_a_running_training_is_watched_and_the_result_lands_in_the_thread(
    over_socket: SocketHarness, over_http: Harness
) -> None:
    # One after the other: both apps poll the same scripted training.
    over_http_run = watch_to_the_end(over_http, "ja")
    over_socket_run = watch_to_the_end(over_socket, "ja")
    assert over_socket_run == over_http_run
    (reply,) = over_socket_run["replies"]
    assert "succeeded" in reply["text"]
    assert "<@U0ASKER>" in reply["text"]
    assert not has_buttons(over_socket_run["final"])


def click_stop(h: Harness, click: Callable[[str, str, str, str], None]) -> dict[str, Any]:
    """Start a watch, click its Stop button; return the parent once it was updated."""
    h.kore.script(OTHER_BOT, "fi", Status("in-progress"))
    channel = new_channel()
    h.ask("sales fi", channel)
    parent = h.parent(channel)
    (actions,) = [b for b in parent["blocks"] if b["type"] == "actions"]
    (button,) = [e for e in actions["elements"] if e["action_id"] == STOP_ACTION]
    click(button["value"], channel, parent["ts"], h.slack.response_url())
    h.slack.wait_for(lambda s: "edited" in s.messages(channel)[0], 10, "the parent updated")
    return h.slack.messages(channel)[0]


def test_the_stop_button_works_as_over_http(over_socket: SocketHarness, over_http: Harness) -> None:
    def over_http_click(value: str, channel: str, ts: str, url: str) -> None:
        response = over_http.sender.action(
            STOP_ACTION, value, channel_id=channel, message_ts=ts, response_url=url
        )
        assert response.status_code == 200
        assert response.text == ""

    def over_socket_click(value: str, channel: str, ts: str, url: str) -> None:
        envelope = over_socket.fake.action(
            STOP_ACTION, value, channel_id=channel, message_ts=ts, response_url=url
        )
        over_socket.acked(envelope)

    stopped_over_http = click_stop(over_http, over_http_click)
    stopped_over_socket = click_stop(over_socket, over_socket_click)
    assert same_shape(stopped_over_socket) == same_shape(stopped_over_http)
    assert "stopped watching" in stopped_over_socket["text"]
    assert not has_buttons(stopped_over_socket)


# Reconnecting -------------------------------------------------------------------------


@pytest.mark.parametrize("how", ["disconnect", "drop"])
def test_after_a_disconnect_the_app_reconnects_and_keeps_answering(
    over_socket: SocketHarness, slack: FakeSlack, socket: FakeSlackSocket, how: str
) -> None:
    opened, connections = len(slack.calls_to(OPEN)), socket.connections
    # Slack asks for a reconnection every few hours, or the connection breaks.
    old = socket.disconnect() if how == "disconnect" else socket.drop()
    slack.wait_for(lambda s: len(s.calls_to(OPEN)) == opened + 1, 10, "a new connection URL")
    socket.wait_for(
        lambda s: s.connections == connections + 1 and s.is_open(s.connections),
        15,
        "the new connection",
    )
    socket.wait_for(lambda s: not s.is_open(old), 15, "the old connection closed")
    h = over_socket
    url = h.slack.response_url()
    envelope = socket.command("bots", channel_id=new_channel(), response_url=url)
    assert h.acked(envelope).connection == connections + 1
    assert "support" in alltext(h.answer(url))


def test_a_refused_first_connection_is_retried(
    kore: FakeKore, slack: FakeSlack, socket: FakeSlackSocket, tmp_path: Path
) -> None:
    socket.refuse_connections(1)
    opened, connections = len(slack.calls_to(OPEN)), socket.connections
    with AppProcess(socket_env(kore, slack, tmp_path / "k.db")) as app:
        h = SocketHarness(kore, slack, app, socket)
        # The app serves /healthz meanwhile, and opens a new connection within its ping interval.
        assert httpx.get(app.url + "/healthz").status_code == 200
        slack.wait_for(lambda s: len(s.calls_to(OPEN)) == opened + 2, 30, "a second URL")
        mine = connections + 1
        socket.wait_for(lambda s: s.connections == mine and s.is_open(mine), 10, "its connection")
        url = slack.response_url()
        envelope = socket.command("bots", channel_id=new_channel(), response_url=url)
        assert h.acked(envelope).connection == mine
        assert "support" in alltext(h.answer(url))
        assert app.stop() == 0  # SIGTERM: the socket closes, the process exits cleanly
    logs_are_clean(app, kore, slack)


# A bad app token --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("token", "error"),
    [
        ("xapp-1-A0KOREBOT-1-revoked", "invalid_auth"),
        ("bot", "not_allowed_token_type"),  # the bot token where the app token goes
    ],
)
def test_a_bad_app_token_stops_the_start_with_a_clear_message(
    kore: FakeKore,
    slack: FakeSlack,
    socket: FakeSlackSocket,
    tmp_path: Path,
    token: str,
    error: str,
) -> None:
    token = slack.token if token == "bot" else token
    refused = len([c for c in slack.calls_to(OPEN) if c.error == error])
    app = AppProcess(socket_env(kore, slack, tmp_path / "k.db", SLACK_APP_TOKEN=token))
    with pytest.raises(RuntimeError, match="did not start"):
        app.start()
    assert app.returncode == 2
    assert len([c for c in slack.calls_to(OPEN) if c.error == error]) == refused + 1
    logs = "\n".join(app.logs)
    (message,) = [line for line in app.logs if line.startswith("korebot: ")]
    assert "SLACK_APP_TOKEN" in message
    assert error in message
    assert "Traceback" not in logs
    assert token not in logs


def test_slack_out_of_reach_stops_the_start_with_a_clear_message(
    kore: FakeKore, slack: FakeSlack, tmp_path: Path
) -> None:
    with socketlib.socket() as unused:  # a port of 127.0.0.1 that nothing listens on
        unused.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{unused.getsockname()[1]}/api/"
    app = AppProcess(socket_env(kore, slack, tmp_path / "k.db", SLACK_API_URL=closed))
    with pytest.raises(RuntimeError, match="did not start"):
        app.start()
    assert app.returncode == 1
    (message,) = [line for line in app.logs if line.startswith("korebot: ")]
    assert closed in message
    assert "Traceback" not in "\n".join(app.logs)


def test_the_home_tab_opened_over_the_socket_is_published(over_socket: SocketHarness) -> None:
    user = "U0SOCKHOME"
    over_socket.acked(over_socket.fake.home_opened(user))

    def published(slack: FakeSlack) -> bool:
        return any(c.ok and c.args.get("user_id") == user for c in slack.calls_to("views.publish"))

    over_socket.slack.wait_for(published, 10, "the Home tab published")
    view = over_socket.slack.home(user)
    assert view is not None
    assert view["type"] == "home"
    assert "support" in json.dumps(view["blocks"])
    assert BOT in json.dumps(view["blocks"])
