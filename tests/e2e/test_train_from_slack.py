"""End to end: starting a training from Slack (`/faq-status train`, `/ml-status train`),
through the real app with signed commands and button clicks, fake Kore.ai and Slack."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import select
from support.slack_app import (
    BOT,
    Harness,
    alltext,
    app_env,
    check_clean,
    has_buttons,
    new_channel,
    wait_until,
)

from korebot.slack.training_messages import CANCEL_TRAIN_ACTION, TRAIN_ACTION
from korebot.testing.app_process import AppProcess
from korebot.testing.fake_kore import Delay, Fail, FakeKore, MlStatus, Status
from korebot.testing.fake_slack import FakeSlack
from korebot.watch.store.tables import StartRequest

TRAINER = "U0TRAINER"
COMMANDS = {"faq": "/faq-status", "ml": "/ml-status"}
IDLE = {"faq": Status("success"), "ml": MlStatus("Finished")}
RUNNING = {"faq": Status("in-progress"), "ml": MlStatus("Inprogress")}
LABEL = {"faq": "FAQ", "ml": "ML"}


@pytest.fixture(scope="module")
def h(
    kore: FakeKore, slack: FakeSlack, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Harness]:
    db = tmp_path_factory.mktemp("db") / "korebot.db"
    with AppProcess(app_env(kore, slack, db, KOREBOT_TRAINERS=f"{TRAINER}, U0SECOND")) as app:
        yield Harness(kore, slack, app)
    check_clean(app, kore, slack)


def trains(kore: FakeKore, kind: str = "faq") -> int:
    return kore.count(BOT, kind="train", training=kind)


def confirm(h: Harness, text: str, channel: str, kind: str = "faq") -> tuple[dict[str, Any], str]:
    """Ask for a training as the trainer; the confirmation and its buttons' token."""
    answer = h.answer(h.ask(text, channel, user=TRAINER, command=COMMANDS[kind]))
    assert answer.get("response_type", "ephemeral") == "ephemeral"
    (actions,) = [block for block in answer["blocks"] if block["type"] == "actions"]
    ids = [element["action_id"] for element in actions["elements"]]
    assert ids == [TRAIN_ACTION, CANCEL_TRAIN_ACTION]
    (token,) = {element["value"] for element in actions["elements"]}
    return answer, token


def click(h: Harness, action: str, token: str, channel: str, user: str = TRAINER) -> str:
    url = h.slack.response_url()
    response = h.sender.action(action, token, user_id=user, channel_id=channel, response_url=url)
    assert response.status_code == 200
    return url


@pytest.mark.parametrize("kind", ["faq", "ml"])
def test_train_now_starts_once_announces_and_posts_the_result_to_the_starter(
    h: Harness, kind: str
) -> None:
    language = {"faq": "de", "ml": "fr"}[kind]
    h.kore.script(BOT, language, IDLE[kind], kind=kind)
    channel = new_channel()
    before = trains(h.kore, kind)
    answer, token = confirm(h, f"train support {language}", channel, kind)
    text = alltext(answer)
    for shown in (BOT, "support", f"`{language}`", LABEL[kind], h.kore.url.split("//")[1]):
        assert shown in text
    assert trains(h.kore, kind) == before  # nothing before the click
    done = h.answer(click(h, TRAIN_ACTION, token, channel))
    assert "Started" in alltext(done)
    post = h.posts(channel)[0]  # the watch's message (its thread's reply comes after)
    assert (
        f"<@{TRAINER}> started {LABEL[kind]} training for support ({language})" in post.args["text"]
    )
    final = h.wait_reply(channel)
    assert f"<@{TRAINER}>" in final["replies"][0]["text"]
    assert "succeeded" in final["replies"][0]["text"]
    assert trains(h.kore, kind) == before + 1
    # The audit: who started it, what Kore.ai said, and its watch, kept on the request.
    (row,) = h.rows(select(StartRequest).where(StartRequest.token == token))
    assert (row[0].state, row[0].started_by) == ("started", TRAINER)
    assert row[0].watch_id is not None
    # The run history names its starter.
    history = h.answer(h.ask(f"history support {language}", channel, command=COMMANDS[kind]))
    newest = next(line for line in history["text"].splitlines() if line.startswith("•"))
    assert newest.startswith("• :white_check_mark: success")
    assert f"started by <@{TRAINER}>" in newest


def started(h: Harness, token: str) -> str:
    (row,) = h.rows(select(StartRequest.state).where(StartRequest.token == token))
    return str(row[0])


def test_cancel_starts_nothing_and_the_confirmation_is_then_spent(h: Harness) -> None:
    channel = new_channel()
    before = trains(h.kore)
    _, token = confirm(h, "train support es", channel)
    assert "Cancelled" in alltext(h.answer(click(h, CANCEL_TRAIN_ACTION, token, channel)))
    assert "already used" in alltext(h.answer(click(h, TRAIN_ACTION, token, channel)))
    assert trains(h.kore) == before
    assert h.posts(channel) == []
    assert started(h, token) == "cancelled"


def test_list_shows_who_started_a_training(h: Harness) -> None:
    h.kore.script(BOT, "ja", Status("success"))
    h.kore.on_train(BOT, "ja", Status("in-progress"))  # runs until the test stops watching
    channel = new_channel()
    _, token = confirm(h, "train support ja", channel)
    assert "Started" in alltext(h.answer(click(h, TRAIN_ACTION, token, channel)))
    h.parent(channel)
    listed = alltext(h.answer(h.ask("list", channel)))
    assert f"started by <@{TRAINER}>" in listed
    assert "Stopped watching" in alltext(h.answer(h.ask("stop support ja", channel)))


def test_only_the_in_development_version_can_be_trained(h: Harness) -> None:
    before = trains(h.kore)
    answer = h.answer(h.ask("train support en published", new_channel(), user=TRAINER))
    assert "Only the in-development (configured) version" in alltext(answer)
    assert not has_buttons(answer)
    assert trains(h.kore) == before


def test_a_non_trainer_is_refused_with_who_may_and_how_to_grant(h: Harness) -> None:
    before = trains(h.kore)
    answer = h.answer(h.ask("train support it", new_channel(), user="U0NOBODY"))
    text = alltext(answer)
    assert "may not start" in text
    assert TRAINER in text
    assert "KOREBOT_TRAINERS" in text
    assert not has_buttons(answer)
    assert trains(h.kore) == before


def test_clicks_replayed_and_another_users_click_at_once_make_one_post(h: Harness) -> None:
    h.kore.script(BOT, "nl", Status("success"))
    channel = new_channel()
    before = trains(h.kore)
    _, token = confirm(h, "train support nl", channel)
    clickers = [TRAINER, TRAINER, TRAINER, "U0SECOND"]
    start = threading.Barrier(len(clickers))
    urls: list[str] = []

    def send(user: str) -> None:
        start.wait()
        urls.append(click(h, TRAIN_ACTION, token, channel, user))

    threads = [threading.Thread(target=send, args=(user,)) for user in clickers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    answers = [alltext(h.answer(url)) for url in urls]
    assert sum("Started" in text for text in answers) == 1
    assert trains(h.kore) == before + 1
    h.wait_reply(channel)
    assert trains(h.kore) == before + 1
    assert len(h.slack.messages(channel)) == 1  # one announcement


def test_a_training_already_running_is_joined_not_started(h: Harness) -> None:
    h.kore.script(BOT, "pt", Status("in-progress"), Status("in-progress"), Status("success"))
    channel = new_channel()
    before = trains(h.kore)
    _, token = confirm(h, "train support pt", channel)
    assert "already running" in alltext(h.answer(click(h, TRAIN_ACTION, token, channel)))
    assert started(h, token) == "joined"
    final = h.wait_reply(channel)
    assert f"<@{TRAINER}>" in final["replies"][0]["text"]
    assert trains(h.kore) == before


@pytest.fixture(scope="module")
def slow(
    kore: FakeKore, slack: FakeSlack, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Harness]:
    """An app that gives up on Kore.ai's answers after half a second."""
    db = tmp_path_factory.mktemp("slow") / "korebot.db"
    env = app_env(kore, slack, db, KOREBOT_TRAINERS=TRAINER, KORE_TIMEOUT="0.5")
    with AppProcess(env) as app:
        yield Harness(kore, slack, app)
    check_clean(app, kore, slack)


@pytest.mark.parametrize("lost", [Delay(2.0), Fail(502)], ids=["timeout", "5xx"])
def test_a_lost_post_that_started_it_is_watched_and_never_sent_again(
    slow: Harness, lost: Delay
) -> None:
    # The status after the lost answer says it runs: the POST did start it.
    language = "sv" if isinstance(lost, Delay) else "fi"
    slow.kore.script(BOT, language, Status("success"), Status("in-progress"), Status("success"))
    slow.kore.on_train(BOT, language, lost, Fail(502))
    channel = new_channel()
    before = trains(slow.kore)
    _, token = confirm(slow, f"train support {language}", channel)
    assert "Started" in alltext(slow.answer(click(slow, TRAIN_ACTION, token, channel)))
    final = slow.wait_reply(channel)
    assert "succeeded" in final["replies"][0]["text"]
    assert "already used" in alltext(slow.answer(click(slow, TRAIN_ACTION, token, channel)))
    # The fake records a POST when it answers it, late for the one that timed out.
    wait_until(lambda: trains(slow.kore) > before, 10, "the train POST")
    assert trains(slow.kore) == before + 1
    assert started(slow, token) == "unknown"  # never sent again, whatever it says


def test_a_lost_post_that_started_nothing_says_so_and_offers_a_new_confirmation(
    slow: Harness,
) -> None:
    slow.kore.script(BOT, "da", Status("success"))
    slow.kore.on_train(BOT, "da", Delay(2.0), Fail(502))
    channel = new_channel()
    before = trains(slow.kore)
    _, token = confirm(slow, "train support da", channel)
    url = click(slow, TRAIN_ACTION, token, channel)
    slow.slack.wait_for(lambda s: len(slow.answers(url)) == 2, 10, "two answers")
    told, offered = slow.answers(url)
    assert "was not started" in alltext(told)
    assert "No training is running" in alltext(told)
    (actions,) = [block for block in offered["blocks"] if block["type"] == "actions"]
    fresh = actions["elements"][0]["value"]
    assert fresh != token
    wait_until(lambda: trains(slow.kore) > before, 10, "the train POST")
    assert trains(slow.kore) == before + 1
    assert started(slow, token) == "unknown"
    assert slow.posts(channel) == []


@pytest.mark.parametrize(
    ("refusal", "told"),
    [
        (Fail(429, retry_after=42), "try again in 42 s"),
        (Fail(400, '{"errors": [{"msg": "Bot is being published"}]}'), "being published"),
        (Fail(400, '{"errors": [{"msg": "Language fr not enabled"}]}'), "not enabled"),
        (Fail(403, '{"errors": [{"msg": "insufficient scope"}]}'), "Train FAQ"),
    ],
    ids=["rate-limited", "publishing", "language", "scope"],
)
def test_a_refused_post_says_what_to_do_and_is_not_retried(
    h: Harness, refusal: Fail, told: str
) -> None:
    language = "ko"
    h.kore.script(BOT, language, Status("success"))
    h.kore.on_train(BOT, language, refusal)
    channel = new_channel()
    before = trains(h.kore)
    _, token = confirm(h, f"train support {language}", channel)
    text = alltext(h.answer(click(h, TRAIN_ACTION, token, channel)))
    assert "was not started" in text
    assert told in text
    assert trains(h.kore) == before + 1
    assert started(h, token) == "failed"
    assert h.posts(channel) == []
