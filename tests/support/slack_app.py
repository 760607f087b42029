"""Shared harness for end-to-end tests of the Slack app: fakes, the app process, helpers."""

from __future__ import annotations

import contextlib
import itertools
import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import Select, select

from korebot.testing.app_process import AppProcess
from korebot.testing.fake_kore import FakeKore
from korebot.testing.fake_slack import FakeSlack, SlackCall, SlackSender
from korebot.watch.store.tables import Watch
from support.store import open_store

SIGNING_SECRET = "e2e-signing-secret-0123456789abcdef"
BOT = "st-1a2b3c4d-0000-4e6f-8a9b-0c1d2e3f4a5b"
OTHER_BOT = "st-99999999-0000-4e6f-8a9b-0c1d2e3f4a5b"
_channels = itertools.count(1)


def new_channel() -> str:
    """A channel no other test uses, so tests can share one app process."""
    return f"C{next(_channels):06d}"


def app_env(kore: FakeKore, slack: FakeSlack, db: Path, **extra: str) -> dict[str, str]:
    return {
        "KORE_HOST": kore.url,
        "KORE_CLIENT_ID": kore.client_id,
        "KORE_CLIENT_SECRET": kore.client_secret,
        "KOREBOT_BOTS": f"support={BOT},sales={OTHER_BOT}",
        "SLACK_BOT_TOKEN": slack.token,
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "SLACK_API_URL": slack.api_url,
        "DATABASE_URL": f"sqlite:///{db}",
        "KOREBOT_POLL_INTERVAL": "0.2",
        # Tests share a few user IDs; the limit itself has its own test.
        "KOREBOT_COMMANDS_PER_USER_PER_MINUTE": "10000",
        "LOG_LEVEL": "DEBUG",
        **extra,
    }


@dataclass
class Harness:
    kore: FakeKore
    slack: FakeSlack
    app: AppProcess
    sender: SlackSender = field(init=False)

    def __post_init__(self) -> None:
        self.sender = SlackSender(self.app.events_url, SIGNING_SECRET)

    def ask(
        self, text: str, channel: str, user: str = "U0ASKER", command: str = "/faq-status"
    ) -> str:
        """Send a signed /faq-status (or `command`); assert it was acknowledged; return its
        response_url."""
        url = self.slack.response_url()
        response = self.sender.command(
            text, channel_id=channel, user_id=user, response_url=url, command=command
        )
        assert response.status_code == 200, response.text
        return url

    def answers(self, url: str) -> list[dict[str, Any]]:
        return [c.args for c in self.slack.calls_to("response_url") if c.args.get("_url") == url]

    def answer(self, url: str, timeout: float = 10.0) -> dict[str, Any]:
        """The one response_url post for a command."""
        self.slack.wait_for(lambda s: bool(self.answers(url)), timeout, f"an answer at {url}")
        (answer,) = self.answers(url)
        return answer

    def posts(self, channel: str) -> list[SlackCall]:
        return [
            c for c in self.slack.calls_to("chat.postMessage") if c.args.get("channel") == channel
        ]

    def parent(self, channel: str, timeout: float = 10.0) -> dict[str, Any]:
        """The single top-level message in a channel (a watch's message)."""
        self.slack.wait_for(lambda s: bool(s.messages(channel)), timeout, f"a message in {channel}")
        (message,) = self.slack.messages(channel)
        self.recorded(message["ts"])
        return message

    def rows(self, query: Select[Any]) -> list[Any]:
        """What the app's database holds now (to check what it recorded)."""
        store = open_store(self.app.env["DATABASE_URL"])
        try:
            with store.session() as session:
                return list(session.execute(query))
        finally:
            store.dispose()

    def recorded(self, ts: str, timeout: float = 10.0) -> None:
        """Wait until the app has recorded the watch whose thread is the message `ts`."""
        query = select(Watch.id).where(Watch.thread_ts == ts)
        wait_until(lambda: bool(self.rows(query)), timeout, f"the watch of thread {ts}")

    def wait_reply(self, channel: str, count: int = 1, timeout: float = 15.0) -> dict[str, Any]:
        """The watch's message once its thread has `count` replies and it was updated."""

        def done(slack: FakeSlack) -> bool:
            top = slack.messages(channel)
            return bool(top) and len(top[0]["replies"]) >= count and "edited" in top[0]

        self.slack.wait_for(done, timeout, f"{count} thread repl(ies) in {channel}")
        return self.slack.messages(channel)[0]


def kore_polls(
    kore: FakeKore, bot: str, language: str, state: str = "configured", kind: str = "faq"
) -> int:
    """Status requests the fake Kore.ai answered for one (bot, language, state) of a kind."""
    path = f"/api/public/bot/{bot}/{'faqs' if kind == 'faq' else 'ml'}/train/status"
    return sum(
        1
        for r in kore.requests
        if r.path == path
        and r.query.get("language") == language
        and r.query.get("state", "configured") == state
    )


def wait_polls(
    kore: FakeKore, bot: str, language: str, n: int, timeout: float = 10.0, kind: str = "faq"
) -> int:
    """Wait until Kore.ai answered `n` status requests for (bot, language) of a kind; return
    the count."""
    deadline = time.monotonic() + timeout
    while (seen := kore_polls(kore, bot, language, kind=kind)) < n:
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError(f"{bot} ({language}): {seen} status requests, expected {n}")
        with contextlib.suppress(AssertionError):  # timed out: the loop reports with the count
            kore.wait_for_requests(len(kore.requests) + 1, timeout=left)
    return seen


def wait_until(check: Callable[[], bool], timeout: float, what: str) -> None:
    """Wait for a condition, checked every 50 ms, for at most `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(0.05)


def texts(message: dict[str, Any]) -> Iterator[str]:
    """Every text of a message: the fallback and each block's mrkdwn."""
    yield str(message.get("text", ""))
    for block in message.get("blocks") or []:
        text = block.get("text")
        if isinstance(text, dict):
            yield str(text.get("text", ""))
        for element in block.get("elements") or []:
            if isinstance(element, dict) and isinstance(element.get("text"), str):
                yield element["text"]


def alltext(message: dict[str, Any]) -> str:
    return "\n".join(texts(message))


def has_buttons(message: dict[str, Any]) -> bool:
    return any(block.get("type") == "actions" for block in message.get("blocks") or [])


def check_clean(app: AppProcess, kore: FakeKore, slack: FakeSlack, extra: str = "") -> None:
    """After an app ran: no secret or JWT in its logs, messages or `extra` text, no
    traceback, and every Block Kit payload valid."""
    logs = "\n".join(app.logs)
    seen = logs + extra + json.dumps([call.args for call in slack.calls], default=str)
    for secret in (SIGNING_SECRET, kore.client_secret, slack.token):
        assert secret not in seen, "a secret leaked into the logs, a message or /healthz"
    assert "eyJ" not in logs, "a JWT leaked into the logs"
    assert "Traceback" not in logs, logs
    assert slack.block_errors == []
