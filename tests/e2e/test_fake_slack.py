"""Tests of the fake Slack Web API and the signed-request sender, over real HTTP."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.models.blocks import (
    ActionsBlock,
    ButtonElement,
    ContextBlock,
    DividerBlock,
    HeaderBlock,
    MarkdownTextObject,
    SectionBlock,
)
from slack_sdk.models.views import View
from slack_sdk.signature import SignatureVerifier
from slack_sdk.webhook import WebhookClient

from korebot.testing.fake_slack import FakeSlack, SlackCall, SlackSender

SECRET = "test-signing-secret"


@pytest.fixture
def fake() -> Iterator[FakeSlack]:
    with FakeSlack() as server:
        yield server


@pytest.fixture
def client(fake: FakeSlack) -> WebClient:
    return WebClient(token=fake.token, base_url=fake.api_url)


@pytest.fixture(scope="module")
def http() -> Iterator[httpx.Client]:
    with httpx.Client() as raw_client:
        yield raw_client


def error_of(excinfo: pytest.ExceptionInfo[SlackApiError]) -> Any:
    return excinfo.value.response["error"]


# ------------------------------------------------------------------ Web API


def test_serves_on_loopback_with_trailing_slash(fake: FakeSlack, client: WebClient) -> None:
    assert fake.api_url.startswith("http://127.0.0.1:")
    assert fake.api_url.endswith("/api/")
    auth = client.auth_test()
    assert auth["user_id"] == "U0KOREBOT"
    assert auth["team_id"] == "T0FAKE"
    assert auth["url"] == "https://fake.slack.test/"
    assert [c.method for c in fake.calls] == ["auth.test"]


def test_post_thread_update_and_replies_with_metadata(fake: FakeSlack, client: WebClient) -> None:
    metadata = {"event_type": "faq_watch", "event_payload": {"bot": "bot-1", "job": "j1"}}
    parent = client.chat_postMessage(channel="C1", text="Training started", metadata=metadata)
    assert parent["channel"] == "C1"
    assert parent["message"]["metadata"] == metadata
    reply = client.chat_postMessage(channel="C1", text="50%", thread_ts=parent["ts"])
    updated = client.chat_update(channel="C1", ts=parent["ts"], text="Training done")
    assert updated["ts"] == parent["ts"]

    [top] = fake.messages("C1")
    assert top["text"] == "Training done"
    assert top["metadata"] == metadata
    assert [r["text"] for r in top["replies"]] == ["50%"]
    assert fake.thread("C1", parent["ts"])[0]["ts"] == reply["ts"]
    assert fake.thread("C1", parent["ts"])[0]["thread_ts"] == parent["ts"]

    with_meta = client.conversations_replies(
        channel="C1", ts=parent["ts"], include_all_metadata=True
    )
    assert [m["text"] for m in with_meta["messages"]] == ["Training done", "50%"]
    assert with_meta["messages"][0]["metadata"] == metadata
    plain = client.conversations_replies(channel="C1", ts=parent["ts"])
    assert "metadata" not in plain["messages"][0]
    assert [c.method for c in fake.calls] == [
        "chat.postMessage",
        "chat.postMessage",
        "chat.update",
        "conversations.replies",
        "conversations.replies",
    ]
    assert fake.calls_to("chat.postMessage")[0].args["metadata"] == metadata


def test_ts_unique_and_increasing_under_concurrency(fake: FakeSlack, client: WebClient) -> None:
    def post(n: int) -> None:
        for i in range(5):
            client.chat_postMessage(channel="C1", text=f"{n}-{i}")

    threads = [threading.Thread(target=post, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    stamps = [m["ts"] for m in fake.messages("C1")]
    assert len(stamps) == 20
    assert len(set(stamps)) == 20
    assert stamps == sorted(stamps, key=float)
    assert [c.result["ts"] for c in fake.calls] == stamps  # recorded in arrival order


def test_history_newest_first_and_limit(fake: FakeSlack, client: WebClient) -> None:
    for text in ("one", "two", "three"):
        client.chat_postMessage(channel="C1", text=text)
    history = client.conversations_history(channel="C1", limit=2)
    assert [m["text"] for m in history["messages"]] == ["three", "two"]
    assert history["has_more"] is True


def test_ephemeral_and_dm(fake: FakeSlack, client: WebClient) -> None:
    eph = client.chat_postEphemeral(channel="C1", user="U0ASKER", text="only you")
    assert eph["message_ts"]
    assert fake.calls_to("chat.postEphemeral")[0].args["user"] == "U0ASKER"
    assert fake.messages("C1") == []  # ephemeral messages are not channel history

    fake.set_channel("U0ASKER", member=False, exists=False)  # users always get DMs
    dm = client.chat_postMessage(channel="U0ASKER", text="hello")
    assert dm["channel"] == "DU0ASKER"
    assert [m["text"] for m in fake.messages("DU0ASKER")] == ["hello"]
    assert client.conversations_open(users="U0ASKER")["channel"]["id"] == "DU0ASKER"


@pytest.mark.parametrize(
    ("settings", "error"),
    [
        ({"member": False}, "not_in_channel"),
        ({"exists": False}, "channel_not_found"),
        ({"archived": True}, "is_archived"),
    ],
)
def test_channel_errors(
    fake: FakeSlack, client: WebClient, settings: dict[str, bool], error: str
) -> None:
    fake.set_channel("C9", **settings)
    with pytest.raises(SlackApiError) as excinfo:
        client.chat_postMessage(channel="C9", text="hi")
    assert error_of(excinfo) == error
    [call] = fake.calls
    assert (call.ok, call.error) == (False, error)
    assert fake.messages("C9") == []
    client.chat_postMessage(channel="C10", text="unknown channels work")


def test_message_errors(fake: FakeSlack, client: WebClient) -> None:
    with pytest.raises(SlackApiError) as excinfo:
        client.chat_update(channel="C1", ts="1.000001", text="x")
    assert error_of(excinfo) == "message_not_found"
    with pytest.raises(SlackApiError) as excinfo:
        client.api_call("chat.postMessage", json={"channel": "C1"})
    assert error_of(excinfo) == "no_text"
    with pytest.raises(SlackApiError) as excinfo:
        client.api_call("bogus.method")
    assert error_of(excinfo) == "unknown_method"
    ts = fake.add_message("C1", "a user message")
    with pytest.raises(SlackApiError) as excinfo:
        client.chat_update(channel="C1", ts=ts, text="edited")
    assert error_of(excinfo) == "cant_update_message"


def test_delete(fake: FakeSlack, client: WebClient) -> None:
    ts = client.chat_postMessage(channel="C1", text="bye")["ts"]
    client.chat_delete(channel="C1", ts=ts)
    assert fake.messages("C1") == []


def test_ratelimited_failure_then_success(fake: FakeSlack, client: WebClient) -> None:
    fake.fail("chat.postMessage", "ratelimited", retry_after=7)
    with pytest.raises(SlackApiError) as excinfo:
        client.chat_postMessage(channel="C1", text="x")
    assert excinfo.value.response.status_code == 429
    assert excinfo.value.response.headers["Retry-After"] == "7"
    assert error_of(excinfo) == "ratelimited"
    assert client.chat_postMessage(channel="C1", text="x")["ok"] is True
    assert [c.ok for c in fake.calls_to("chat.postMessage")] == [False, True]


def test_server_error_failure_is_plain_text(fake: FakeSlack, client: WebClient) -> None:
    fake.fail("chat.update", "fatal_error", times=2, http_status=503)
    ts = client.chat_postMessage(channel="C1", text="x")["ts"]
    for _ in range(2):
        with pytest.raises(SlackApiError) as excinfo:
            client.chat_update(channel="C1", ts=ts, text="y")
        assert excinfo.value.response.status_code == 503
        assert "non-JSON" in error_of(excinfo)
    client.chat_update(channel="C1", ts=ts, text="y")
    assert fake.messages("C1")[0]["text"] == "y"


def test_auth(fake: FakeSlack, http: httpx.Client) -> None:
    wrong = WebClient(token="xoxb-wrong", base_url=fake.api_url)
    with pytest.raises(SlackApiError) as excinfo:
        wrong.chat_postMessage(channel="C1", text="x")
    assert error_of(excinfo) == "invalid_auth"
    assert fake.messages("C1") == []
    # Slack also takes the token as a form field; JSON-valued fields arrive as strings.
    blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": "*hi*"}}]
    form = {"token": fake.token, "channel": "C1", "text": "hi", "blocks": json.dumps(blocks)}
    answer = http.post(fake.api_url + "chat.postMessage", data=form).json()
    assert answer["ok"] is True
    call = fake.calls[-1]
    assert call.args["blocks"] == blocks
    assert "token" not in call.args
    assert fake.messages("C1")[0]["blocks"] == blocks


def test_valid_blocks_pass(fake: FakeSlack, client: WebClient) -> None:
    blocks = [
        HeaderBlock(text="FAQ training"),
        SectionBlock(text=MarkdownTextObject(text="*bot-1*: done")),
        DividerBlock(),
        ContextBlock(elements=[MarkdownTextObject(text="job j1")]),
        ActionsBlock(elements=[ButtonElement(text="Refresh", action_id="refresh", value="j1")]),
    ]
    client.chat_postMessage(channel="C1", text="FAQ training done", blocks=blocks)
    assert fake.block_errors == []
    assert len(fake.messages("C1")[0]["blocks"]) == 5


def test_invalid_blocks_are_recorded(fake: FakeSlack, client: WebClient) -> None:
    too_long = [{"type": "section", "text": {"type": "mrkdwn", "text": "x" * 3001}}]
    with pytest.raises(SlackApiError) as excinfo:
        client.chat_postMessage(channel="C1", text="long", blocks=too_long)
    assert error_of(excinfo) == "invalid_blocks"
    assert fake.messages("C1") == []
    assert len(fake.block_errors) == 1
    assert "3000" in fake.block_errors[0]
    assert fake.block_errors[0].startswith("chat.postMessage:")

    nested = [
        {
            "type": "actions",
            "elements": [
                {
                    "type": "button",
                    "text": {"type": "plain_text", "text": "b" * 76},
                    "action_id": "a",
                }
            ],
        }
    ]
    with pytest.raises(SlackApiError):
        client.chat_postMessage(channel="C1", text="button", blocks=nested)
    assert "75" in fake.block_errors[1]

    no_fallback = [{"type": "divider"}]
    with pytest.warns(UserWarning, match="text"):  # slack_sdk warns too
        client.chat_postMessage(channel="C1", blocks=no_fallback)
    assert len(fake.messages("C1")) == 1  # Slack posts it anyway
    assert fake.block_errors[2] == "chat.postMessage: blocks without a text fallback"


def test_views_publish_keeps_a_valid_home_tab_and_refuses_a_bad_one(
    fake: FakeSlack, client: WebClient
) -> None:
    view = View(type="home", blocks=[SectionBlock(text=MarkdownTextObject(text="*hi*"))])
    client.views_publish(user_id="U1", view=view)
    assert fake.home("U1") == view.to_dict()
    assert fake.block_errors == []
    divider = {"type": "divider"}
    for bad in (
        {"type": "home", "blocks": [divider] * 101},  # a view holds 100
        {
            "type": "home",
            "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "x" * 3001}}],
        },
        {"type": "modal", "blocks": [divider]},
    ):
        with pytest.raises(SlackApiError) as excinfo:
            client.views_publish(user_id="U1", view=bad)
        assert error_of(excinfo) == "invalid_blocks"
    assert fake.home("U1") == view.to_dict()  # unchanged
    assert len(fake.block_errors) == 3
    assert "100 blocks" in fake.block_errors[0]
    client.views_publish(user_id="U1", view={"type": "home", "blocks": [divider] * 100})
    assert fake.home("U2") is None


def test_response_url_records_and_validates(fake: FakeSlack) -> None:
    url = fake.response_url("cmd")
    assert url.startswith(fake.base_url + "/response/cmd-")
    assert url != fake.response_url("cmd")
    hook = WebhookClient(url)
    sent = hook.send(text="Working on it", response_type="ephemeral")
    assert (sent.status_code, sent.body) == (200, "ok")
    bad = [{"type": "header", "text": {"type": "plain_text", "text": "h" * 151}}]
    assert hook.send(text="bad header", blocks=bad).status_code == 200
    first, second = fake.calls_to("response_url")
    assert first.args == {"text": "Working on it", "response_type": "ephemeral", "_url": url}
    assert second.ok is True
    assert len(fake.block_errors) == 1
    assert fake.block_errors[0].startswith("response_url:")


def test_response_url_use_limit_and_unknown(fake: FakeSlack, http: httpx.Client) -> None:
    url = fake.response_url()
    statuses = [http.post(url, json={"text": str(i)}).status_code for i in range(6)]
    assert statuses == [200] * 5 + [404]
    assert fake.calls[-1].error == "used_url"
    unknown = http.post(fake.base_url + "/response/nope", json={"text": "x"})
    assert (unknown.status_code, unknown.text) == (404, "expired_url")


def test_wait_for_call_from_another_thread(fake: FakeSlack, client: WebClient) -> None:
    started = threading.Event()

    def later() -> None:
        started.wait(5)
        client.chat_postMessage(channel="C1", text="done")

    worker = threading.Thread(target=later)
    worker.start()
    started.set()
    fake.wait_for(lambda f: bool(f.messages("C1")), timeout=5, what="the message")
    worker.join()
    assert fake.messages("C1")[0]["text"] == "done"


@pytest.mark.timing
def test_wait_for_timeout_lists_calls(fake: FakeSlack, client: WebClient) -> None:
    client.chat_postMessage(channel="C1", text="progress 10%")
    began = time.monotonic()
    with pytest.raises(AssertionError, match="the final reply") as excinfo:
        fake.wait_for(lambda f: len(f.calls) > 1, timeout=0.2, what="the final reply")
    assert time.monotonic() - began < 2
    message = str(excinfo.value)
    assert "chat.postMessage(channel='C1', text='progress 10%')" in message
    assert "1 calls recorded" in message


def test_slack_call_summary_is_short() -> None:
    call = SlackCall("chat.postMessage", {"text": "x" * 200, "blocks": [1, 2]}, True, None, {})
    assert call.summary() == (f"chat.postMessage(text='{'x' * 36}..., blocks=[2 items]) -> ok")


# ------------------------------------------------------------------ SlackSender


class _VerifyingApp:
    """A tiny app that verifies Slack signatures and keeps what it accepted."""

    def __init__(self) -> None:
        self.accepted: list[dict[str, list[str]]] = []
        self.bodies: list[bytes] = []
        verifier = SignatureVerifier(SECRET)
        accepted, bodies = self.accepted, self.bodies

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                ok = verifier.is_valid_request(body, dict(self.headers.items()))
                if ok:
                    accepted.append(parse_qs(body.decode()))
                    bodies.append(body)
                self.send_response(200 if ok else 401)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/slack/events"
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True
        )
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()


@pytest.fixture
def app() -> Iterator[_VerifyingApp]:
    verifying = _VerifyingApp()
    yield verifying
    verifying.close()


def test_sender_command_is_signed(app: _VerifyingApp) -> None:
    with SlackSender(app.url, SECRET) as sender:
        answer = sender.command("status bot-1", response_url="http://127.0.0.1:1/response/1")
    assert answer.status_code == 200
    [fields] = app.accepted
    assert fields["command"] == ["/faq-status"]
    assert fields["text"] == ["status bot-1"]
    assert fields["user_id"] == ["U0ASKER"]
    assert fields["channel_id"] == ["C0CHANNEL"]
    assert fields["team_id"] == ["T0FAKE"]
    assert fields["api_app_id"] == ["A0KOREBOT"]
    assert fields["response_url"] == ["http://127.0.0.1:1/response/1"]
    assert fields["trigger_id"][0]


def test_sender_forged_and_stale_requests_are_refused(app: _VerifyingApp) -> None:
    with SlackSender(app.url, SECRET) as sender:
        forged = sender.command("status", signature="v0=" + "0" * 64)
        stale = sender.command("status", timestamp=int(time.time()) - 600)
    with SlackSender(app.url, "another-secret") as impostor:
        wrong_secret = impostor.command("status")
    assert [forged.status_code, stale.status_code, wrong_secret.status_code] == [401] * 3
    assert app.accepted == []


def test_sender_action_is_signed_block_actions(app: _VerifyingApp) -> None:
    with SlackSender(app.url, SECRET) as sender:
        answer = sender.action("refresh", "job-1", message_ts="1700000000.000100")
    assert answer.status_code == 200
    payload = json.loads(app.accepted[0]["payload"][0])
    assert payload["type"] == "block_actions"
    assert payload["actions"][0]["action_id"] == "refresh"
    assert payload["actions"][0]["value"] == "job-1"
    assert payload["container"]["message_ts"] == "1700000000.000100"
    assert payload["channel"]["id"] == "C0CHANNEL"
    assert payload["user"]["id"] == "U0ASKER"


def test_sender_home_opened_is_a_signed_event_callback(app: _VerifyingApp) -> None:
    with SlackSender(app.url, SECRET) as sender:
        answer = sender.home_opened("U0ASKER", view={"type": "home", "blocks": []})
        other = sender.home_opened("U0ASKER", tab="messages")
    assert (answer.status_code, other.status_code) == (200, 200)
    first, second = (json.loads(body) for body in app.bodies)
    assert first["type"] == "event_callback"
    assert (first["team_id"], first["api_app_id"]) == ("T0FAKE", "A0KOREBOT")
    assert first["event_id"] != second["event_id"]
    event = first["event"]
    assert (event["type"], event["user"], event["tab"]) == ("app_home_opened", "U0ASKER", "home")
    assert event["view"]["type"] == "home"
    assert second["event"]["tab"] == "messages"
    assert "view" not in second["event"]


def test_sender_view_action_is_a_click_on_a_home_tab(app: _VerifyingApp) -> None:
    select = {"type": "conversations_select", "action_id": "pick", "block_id": "b",
              "selected_conversation": "C9"}  # fmt: skip
    with SlackSender(app.url, SECRET) as sender:
        assert sender.view_action(select, user_id="U7").status_code == 200
    payload = json.loads(app.accepted[0]["payload"][0])
    assert payload["type"] == "block_actions"
    assert payload["container"]["type"] == "view"
    assert payload["view"]["type"] == "home"
    assert "response_url" not in payload
    assert payload["user"]["id"] == "U7"
    assert payload["actions"][0]["selected_conversation"] == "C9"
