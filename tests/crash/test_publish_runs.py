"""A publish from Slack across SIGKILL: one POST, ever; its result once, in its thread.

The real app runs as a child process against fakes that kill it at a chosen moment
(tests/support/chaos.py): while korebot's publish is being polled, and right after Slack
stored its result (so the app never learns its ts). A new process on the same database
takes over; the test then counts the publish POSTs the fake Kore.ai got and what Slack got.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from support.chaos import OUTCOME_TAG, HookedKore, HookedSlack, Killer, Seen, Tally, Trigger
from support.exactly_once import FAST, watches
from support.slack_app import BOT, SIGNING_SECRET, app_env, check_clean, new_channel, wait_until
from support.store import open_store

from korebot.slack.publish_messages import PUBLISH_ACTION
from korebot.testing.app_process import AppProcess
from korebot.testing.fake_kore import PublishScript
from korebot.testing.fake_slack import SlackSender
from korebot.watch.store import Store

PUBLISHER = "U0PUBLISHER"
#: Status answers "inprogress" to: enough for the message to be posted first (0.2 s apart).
RUNNING_POLLS = 25


@pytest.fixture
def killer() -> Killer:
    return Killer()


@pytest.fixture
def kore(killer: Killer) -> Iterator[HookedKore]:
    with HookedKore(killer, rate_limit=None) as fake:
        fake.on_publish(BOT, PublishScript(running_polls=RUNNING_POLLS))
        yield fake


@pytest.fixture
def slack(killer: Killer) -> Iterator[HookedSlack]:
    with HookedSlack(killer) as fake:
        yield fake


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    store = open_store(f"sqlite:///{tmp_path / 'korebot.db'}")
    yield store
    store.dispose()


@pytest.fixture
def env(kore: HookedKore, slack: HookedSlack, tmp_path: Path) -> dict[str, str]:
    return app_env(
        kore,
        slack,
        tmp_path / "korebot.db",
        **FAST,
        KOREBOT_POLL_MAX_INTERVAL="0.2",
        KORE_ADMIN_CLIENT_ID=kore.admin_client_id,
        KORE_ADMIN_CLIENT_SECRET=kore.admin_client_secret,
        KOREBOT_PUBLISHERS=PUBLISHER,
    )


def publish_from_slack(app: AppProcess, slack: HookedSlack, channel: str) -> None:
    """Ask to publish, then click the confirmation's Publish."""
    url = slack.response_url()
    with SlackSender(app.events_url, SIGNING_SECRET) as sender:
        asked = sender.command(
            "publish support", channel_id=channel, user_id=PUBLISHER, response_url=url,
            command="/publish-status",
        )  # fmt: skip
        assert asked.status_code == 200
        wait_until(lambda: bool(slack.calls_to("response_url")), 10, "the confirmation")
        (confirmation,) = [c.args for c in slack.calls_to("response_url") if c.args["_url"] == url]
        (actions,) = [b for b in confirmation["blocks"] if b["type"] == "actions"]
        token = actions["elements"][0]["value"]
        clicked = sender.action(
            PUBLISH_ACTION, token, user_id=PUBLISHER, channel_id=channel,
            response_url=slack.response_url(),
        )  # fmt: skip
        assert clicked.status_code == 200


def mid_publish(ready: threading.Event) -> Callable[[Seen], bool]:
    """A status poll of the publish, once its message is out."""
    return lambda seen: seen.source == "kore" and seen.method == "publish-status" and ready.is_set()


def result_stored(_ready: threading.Event) -> Callable[[Seen], bool]:
    """Slack stored the result in the thread; the app never hears its ts."""
    return lambda seen: (
        seen.source == "slack"
        and seen.phase == "after"
        and seen.method == "chat.postMessage"
        and seen.tag == OUTCOME_TAG
    )


@pytest.mark.parametrize("moment", [mid_publish, result_stored], ids=["mid-publish", "stored"])
def test_a_publish_killed_while_it_runs_posts_its_result_once_in_its_thread(
    kore: HookedKore,
    slack: HookedSlack,
    killer: Killer,
    env: dict[str, str],
    store: Store,
    moment: Callable[[threading.Event], Callable[[Seen], bool]],
) -> None:
    channel = new_channel()
    ready = threading.Event()
    app = AppProcess(env).start()
    killer.app = app
    killer.arm(Trigger(moment.__name__, moment(ready)))
    publish_from_slack(app, slack, channel)
    wait_until(lambda: any(row.thread_ts for row in watches(store)), 10, "the publish's message")
    ready.set()
    assert killer.wait(15), "the app was not killed"
    app.stop()
    assert len(kore.publish_posts) == 1

    with AppProcess(env) as again:
        wait_until(lambda: all(row.ended for row in watches(store)), 20, "the publish to end")
        assert again.stop() == 0
        check_clean(again, kore, slack, extra=kore.admin_client_secret)

    assert len(kore.publish_posts) == 1  # never POSTed again
    (row,) = watches(store)
    assert row.ended == "delivered"
    tally = Tally.of(slack, [channel])
    assert tally.announcements == {row.id: [row.thread_ts]}
    assert tally.finals == {row.id: [row.thread_ts]}  # once, in the thread
    (top,) = slack.messages(channel)
    (reply,) = top["replies"]
    assert reply["text"] == f"<@{PUBLISHER}> :white_check_mark: publish of support successful"
