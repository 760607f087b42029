"""One start per training end to end (issue 19, item 6): two trainers confirming the same
training at once, or one trainer in two channels, through the real app, in one process or
two sharing a database: one train POST, every confirmer in the watch and its result."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from support.slack_app import BOT, Harness, alltext, app_env, check_clean, new_channel

from korebot.slack.training_messages import TRAIN_ACTION
from korebot.testing.app_process import AppProcess
from korebot.testing.fake_kore import Delay, FakeKore, Status
from korebot.testing.fake_slack import FakeSlack, SlackSender

ALICE, BOB = "U0ALICE", "U0BOB"


def trains(kore: FakeKore) -> int:
    return kore.count(BOT, kind="train", training="faq")


# --- End to end: the real app, one process or two sharing the database ------------------------

ENV = {"KOREBOT_TRAINERS": f"{ALICE},{BOB}"}


def confirmation(h: Harness, language: str, channel: str, user: str) -> str:
    """Ask for a training as ``user``; the token of its confirmation's buttons."""
    answer = h.answer(h.ask(f"train support {language}", channel, user=user))
    (actions,) = [block for block in answer["blocks"] if block["type"] == "actions"]
    return str(actions["elements"][0]["value"])


def click_at_once(clicks: list[tuple[SlackSender, str, str, str]], slack: FakeSlack) -> list[str]:
    """Click Train now for (sender, token, user, channel) at the same moment; their URLs."""
    urls = [slack.response_url() for _ in clicks]
    start = threading.Barrier(len(clicks))

    def send(index: int) -> int:
        sender, token, user, channel = clicks[index]
        start.wait(timeout=10)
        response = sender.action(
            TRAIN_ACTION, token, user_id=user, channel_id=channel, response_url=urls[index]
        )
        return response.status_code

    with ThreadPoolExecutor(len(clicks)) as pool:
        assert list(pool.map(send, range(len(clicks)))) == [200] * len(clicks)
    return urls


def started_once(apps: list[Harness], language: str, users_channels: list[tuple[str, str]]) -> None:
    """Each (user, channel) confirms its own request for one training, the clicks go at
    once (one to each app, in turn); one POST, every user in the watch and its result."""
    h = apps[0]
    h.kore.script(BOT, language, Delay(1.0), Status("success"))  # the first check is slow
    h.kore.on_train(BOT, language, Status("in-progress"))
    before = trains(h.kore)
    tokens = [
        confirmation(apps[n % len(apps)], language, channel, user)
        for n, (user, channel) in enumerate(users_channels)
    ]
    clicks = [
        (apps[n % len(apps)].sender, token, user, channel)
        for n, (token, (user, channel)) in enumerate(zip(tokens, users_channels, strict=True))
    ]
    urls = click_at_once(clicks, h.slack)
    answers = [alltext(h.answer(url)) for url in urls]
    assert trains(h.kore) == before + 1
    starters = [n for n, text in enumerate(answers) if text.startswith("Started")]
    assert len(starters) == 1, answers
    starter = users_channels[starters[0]][0]
    for n, text in enumerate(answers):
        if n != starters[0]:
            assert f"<@{starter}> just started FAQ training for support ({language})" in text
    channels = sorted({channel for _, channel in users_channels})
    for channel in channels:
        h.parent(channel)  # the watch's message, one per channel
    h.kore.script(BOT, language, Status("success"))  # the training ends
    for channel in channels:
        (reply,) = h.wait_reply(channel)["replies"]
        assert "succeeded" in reply["text"]
        for user, where in users_channels:
            if where == channel:
                assert f"<@{user}>" in reply["text"]
        assert len(h.slack.messages(channel)) == 1
    assert trains(h.kore) == before + 1


@pytest.fixture(scope="module")
def h(
    kore: FakeKore, slack: FakeSlack, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Harness]:
    db = tmp_path_factory.mktemp("one") / "korebot.db"
    with AppProcess(app_env(kore, slack, db, **ENV)) as app:
        yield Harness(kore, slack, app)
    check_clean(app, kore, slack)


def test_two_trainers_confirming_one_training_at_once_start_it_once(h: Harness) -> None:
    channel = new_channel()
    started_once([h], "et", [(ALICE, channel), (BOB, channel)])


def test_one_trainer_confirming_in_two_channels_at_once_starts_it_once(h: Harness) -> None:
    started_once([h], "lv", [(ALICE, new_channel()), (ALICE, new_channel())])


def test_two_processes_sharing_the_database_start_it_once(
    kore: FakeKore, slack: FakeSlack, store_url: str, tmp_path: Path
) -> None:
    if store_url == "sqlite://":
        pytest.skip("a database in memory is one process's: there is no second")
    env = app_env(kore, slack, tmp_path / "unused.db", **ENV, DATABASE_URL=store_url)
    with AppProcess(env) as first, AppProcess(env) as second:
        apps = [Harness(kore, slack, first), Harness(kore, slack, second)]
        channel = new_channel()
        language = "ga" if store_url.startswith("sqlite") else "mt"
        started_once(apps, language, [(ALICE, channel), (BOB, channel)])
    check_clean(first, kore, slack)
    check_clean(second, kore, slack)
