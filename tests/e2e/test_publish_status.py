"""End to end: `/publish-status` through the real app process: a bot's latest publish, a
publish from Slack behind a confirmation (one POST, with the Admin Console app's JWT,
which the fake Kore.ai checks), approvals, failures, subscriptions and history.

Publishes are per bot, so each test has a bot of its own; runs end after a poll or two.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
from support.slack_app import (
    Harness,
    alltext,
    app_env,
    check_clean,
    has_buttons,
    new_channel,
    wait_until,
)

from korebot.slack.publish_messages import CANCEL_ACTION, PUBLISH_ACTION
from korebot.testing.app_process import AppProcess
from korebot.testing.fake_kore import Fail, FakeKore, PublishScript
from korebot.testing.fake_slack import FakeSlack

PUBLISH = "/publish-status"
PUBLISHER = "U0PUBLISHER"
BOTS = {f"p{n}": f"st-00000000-0000-4000-8000-0000000000{n:02d}" for n in range(1, 11)}
LIVE = "st-00000000-0000-4000-8000-000000000099"


@pytest.fixture(scope="module")
def kore() -> Iterator[FakeKore]:
    with FakeKore(bots=[*BOTS.values(), LIVE], rate_limit=None) as fake:
        yield fake


@pytest.fixture(scope="module")
def h(
    kore: FakeKore, slack: FakeSlack, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Harness]:
    folder = tmp_path_factory.mktemp("db")
    # "live" has a language: korebot follows its published version's trainings.
    (folder / "bots.toml").write_text(f'[bots.live]\nid = "{LIVE}"\nlanguages = ["en"]\n')
    env = app_env(
        kore,
        slack,
        folder / "korebot.db",
        KOREBOT_BOTS=",".join(f"{alias}={bot}" for alias, bot in BOTS.items()),
        KOREBOT_CONFIG=str(folder / "bots.toml"),
        KORE_ADMIN_CLIENT_ID=kore.admin_client_id,
        KORE_ADMIN_CLIENT_SECRET=kore.admin_client_secret,
        KOREBOT_PUBLISHERS=f"{PUBLISHER},U0SECOND",
        KOREBOT_POLL_MAX_INTERVAL="0.2",
        KOREBOT_SUBSCRIPTION_INTERVAL="0.05",
    )
    with AppProcess(env) as app:
        yield Harness(kore, slack, app)
    check_clean(app, kore, slack, extra=kore.admin_client_secret)


def posts(kore: FakeKore, alias: str) -> list[Any]:
    return [post for post in kore.publish_posts if post.bot_id == BOTS[alias]]


def confirm(h: Harness, text: str, channel: str, user: str = PUBLISHER) -> tuple[str, str]:
    """Ask to publish; the confirmation's text and its buttons' token."""
    answer = h.answer(h.ask(text, channel, user=user, command=PUBLISH))
    assert answer.get("response_type", "ephemeral") == "ephemeral"
    (actions,) = [block for block in answer["blocks"] if block["type"] == "actions"]
    assert [e["action_id"] for e in actions["elements"]] == [PUBLISH_ACTION, CANCEL_ACTION]
    (token,) = {element["value"] for element in actions["elements"]}
    return alltext(answer), token


def click(h: Harness, action: str, token: str, channel: str, user: str = PUBLISHER) -> str:
    url = h.slack.response_url()
    response = h.sender.action(action, token, user_id=user, channel_id=channel, response_url=url)
    assert response.status_code == 200
    return url


def test_the_latest_publish_is_told_in_the_channel(h: Harness) -> None:
    url = h.ask("p1", new_channel(), user="U0ASKER", command=PUBLISH)
    answer = h.answer(url)
    assert answer["response_type"] == "in_channel"
    text = alltext(answer)
    assert ":white_check_mark: latest publish of p1 successful" in text
    assert "Settings :white_check_mark:" in text
    assert h.kore.count(BOTS["p1"], kind="publish-status") == 1


def test_publish_from_slack_posts_once_and_the_result_comes_to_the_publisher(h: Harness) -> None:
    h.kore.on_publish(BOTS["p2"], PublishScript(running_polls=2, awaiting=("mortgage",)))
    channel = new_channel()
    text, token = confirm(h, 'publish p2 "Release 4.2: new FAQs"', channel)
    for shown in ("Publish p2", BOTS["p2"], "Release 4.2: new FAQs", "trains the published"):
        assert shown in text
    assert posts(h.kore, "p2") == []  # nothing before the click
    clicks = [
        threading.Thread(target=click, args=(h, PUBLISH_ACTION, token, channel)) for _ in "ab"
    ]
    for thread in clicks:
        thread.start()
    for thread in clicks:
        thread.join()
    parent = h.parent(channel)
    assert parent["text"].startswith(f"<@{PUBLISHER}> started publish of p2")
    assert has_buttons(parent)
    done = h.wait_reply(channel)
    (reply,) = done["replies"]
    assert reply["text"] == f"<@{PUBLISHER}> :white_check_mark: publish of p2 successful"
    details = alltext(reply)
    assert "awaiting approval: mortgage (en)" in details
    assert "Admin Console" in details
    (post,) = posts(h.kore, "p2")
    assert (post.version_comment, post.initiate_training) == ("Release 4.2: new FAQs", True)
    # Replayed later: the confirmation is spent.
    again = alltext(h.answer(click(h, PUBLISH_ACTION, token, channel)))
    assert "already handled" in again
    assert len(posts(h.kore, "p2")) == 1


def test_after_publishing_the_thread_follows_the_published_trainings_to_live(
    h: Harness,
) -> None:
    h.kore.on_publish(LIVE, PublishScript(languages=("en",)))
    channel = new_channel()
    _, token = confirm(h, "publish live", channel)
    click(h, PUBLISH_ACTION, token, channel)
    done = h.wait_reply(channel)
    (reply,) = done["replies"]
    assert (
        reply["text"]
        == f"<@{PUBLISHER}> :white_check_mark: publish of live successful: live is live"
    )
    assert "trainings: FAQ en :white_check_mark:, ML en :white_check_mark:" in alltext(reply)
    for kind in ("faq", "ml"):  # each read until it ran and ended: in progress, then done
        assert h.kore.count(LIVE, training=kind) >= 2


def test_a_failed_publish_names_the_resources_that_failed(h: Harness) -> None:
    h.kore.on_publish(BOTS["p3"], PublishScript(outcome="failed"))
    channel = new_channel()
    _, token = confirm(h, "publish p3", channel)
    click(h, PUBLISH_ACTION, token, channel)
    done = h.wait_reply(channel)
    (reply,) = done["replies"]
    assert reply["text"] == f"<@{PUBLISHER}> :x: publish of p3 failed: Natural Language failed"
    (post,) = posts(h.kore, "p3")
    assert post.version_comment == f"Published from Slack by <@{PUBLISHER}>"


def test_a_publish_already_running_is_joined_not_started_again(h: Harness) -> None:
    h.kore.start_publish_elsewhere(BOTS["p4"], PublishScript(running_polls=3))
    channel = new_channel()
    _, token = confirm(h, "publish p4", channel)
    said = alltext(h.answer(click(h, PUBLISH_ACTION, token, channel)))
    assert "already running" in said
    h.wait_reply(channel)
    assert posts(h.kore, "p4") == []


def test_a_refused_publish_says_why_and_cancel_sends_nothing(h: Harness) -> None:
    h.kore.on_publish(BOTS["p5"], PublishScript(post=Fail(400, "No channel is enabled")))
    channel = new_channel()
    _, token = confirm(h, "publish p5", channel)
    said = alltext(h.answer(click(h, PUBLISH_ACTION, token, channel)))
    assert "p5 was not published" in said
    assert "No channel is enabled" in said
    _, token = confirm(h, "publish p5", channel)
    assert "cancelled" in alltext(h.answer(click(h, CANCEL_ACTION, token, channel)))
    assert len(posts(h.kore, "p5")) == 1  # the refused one only


def test_two_publishers_confirming_at_once_make_one_post(h: Harness) -> None:
    h.kore.on_publish(BOTS["p8"], PublishScript(running_polls=3))
    channel = new_channel()
    _, first = confirm(h, "publish p8", channel)
    _, second = confirm(h, "publish p8", channel, user="U0SECOND")
    clicks = [
        threading.Thread(target=click, args=(h, PUBLISH_ACTION, token, channel, user))
        for token, user in ((first, PUBLISHER), (second, "U0SECOND"))
    ]
    for thread in clicks:
        thread.start()
    for thread in clicks:
        thread.join()
    done = h.wait_reply(channel)
    assert len(posts(h.kore, "p8")) == 1
    (reply,) = done["replies"]
    assert "publish of p8 successful" in reply["text"]


def test_a_lost_answer_to_the_post_is_never_sent_again_and_the_status_is_told(
    h: Harness,
) -> None:
    h.kore.on_publish(BOTS["p9"], PublishScript(post=Fail(503, "Service Unavailable")))
    channel = new_channel()
    _, token = confirm(h, "publish p9", channel)
    said = alltext(h.answer(click(h, PUBLISH_ACTION, token, channel)))
    assert "did not answer my request to publish p9" in said
    assert "no publish newer than it shows" in said
    assert len(posts(h.kore, "p9")) == 1  # never retried
    assert h.posts(channel) == []


def test_only_publishers_may_publish(h: Harness) -> None:
    url = h.ask("publish p6", new_channel(), user="U0NOBODY", command=PUBLISH)
    assert "Only publishers may publish p6" in alltext(h.answer(url))
    assert posts(h.kore, "p6") == []


def test_a_subscribed_channel_hears_of_publishes_started_elsewhere(h: Harness) -> None:
    channel = new_channel()
    looks = h.kore.count(BOTS["p7"], kind="publish-status")
    url = h.ask("subscribe p7", channel, user="U0LEAD", command=PUBLISH)
    assert f"subscribed this channel to publish of *p7 (`{BOTS['p7']}`)*" in alltext(h.answer(url))
    wait_until(
        lambda: h.kore.count(BOTS["p7"], kind="publish-status") >= looks + 2, 10, "first polls"
    )
    h.kore.start_publish_elsewhere(BOTS["p7"], PublishScript(running_polls=2))
    done = h.wait_reply(channel)
    assert done["replies"][0]["text"].endswith(":white_check_mark: publish of p7 successful")
    history = alltext(h.answer(h.ask("history p7", channel, command=PUBLISH)))
    assert "Last 1 publishes of p7" in history


@pytest.mark.parametrize("text", ["p1 en", "publish", "history", "p1 <!channel> x"])
def test_bad_input_gets_the_usage(h: Harness, text: str) -> None:
    answer = alltext(h.answer(h.ask(text, new_channel(), command=PUBLISH)))
    assert answer.startswith(":warning:")
    assert "<!channel>" not in answer
