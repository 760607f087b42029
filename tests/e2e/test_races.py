"""End to end: commands that race for the same rows, sent at the same moment to the real app.

Ten signed commands are released together by a barrier; the app's listener threads then
create the same target, watch or asker at once. Every command must get its normal answer,
and the database must hold each row once. On SQLite and on PostgreSQL.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select
from support.slack_app import BOT, Harness, alltext, app_env, check_clean, new_channel
from support.store import open_store

from korebot.testing.app_process import AppProcess
from korebot.testing.fake_kore import FakeKore, Status
from korebot.testing.fake_slack import FakeSlack
from korebot.watch.store import Store
from korebot.watch.store.tables import Asker, Subscription, Target, Watch

ENV = {
    # Every ask reaches the fake, and the polls stay within the rate budget.
    "KOREBOT_STATUS_CACHE": "0",
    "KOREBOT_KORE_CALLS_PER_MINUTE": "100000",
    "KOREBOT_KORE_CALLS_PER_HOUR": "1000000",
}


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'korebot.db'}"
    return str(request.getfixturevalue("postgres_url"))


@pytest.fixture
def h(kore: FakeKore, slack: FakeSlack, database_url: str, tmp_path: Path) -> Iterator[Harness]:
    env = app_env(kore, slack, tmp_path / "unused.db", **ENV, DATABASE_URL=database_url)
    with AppProcess(env) as app:
        yield Harness(kore, slack, app)
    check_clean(app, kore, slack)


@pytest.fixture
def store(database_url: str) -> Iterator[Store]:
    store = open_store(database_url)
    yield store
    store.dispose()


def at_once(h: Harness, commands: list[tuple[str, str, str]]) -> list[str]:
    """Send (text, channel, user) commands at the same moment; their response_urls."""
    urls = [h.slack.response_url() for _ in commands]
    barrier = threading.Barrier(len(commands))

    def send(index: int) -> int:
        text, channel, user = commands[index]
        barrier.wait(timeout=10)
        sent = h.sender.command(text, channel_id=channel, user_id=user, response_url=urls[index])
        return sent.status_code

    with ThreadPoolExecutor(len(commands)) as pool:
        assert list(pool.map(send, range(len(commands)))) == [200] * len(commands)
    return urls


def test_ten_channels_subscribe_to_one_training_at_once(h: Harness, store: Store) -> None:
    h.kore.script(BOT, "en", Status("success", modified_on=datetime(2024, 5, 1, tzinfo=UTC)))
    channels = [new_channel() for _ in range(10)]
    urls = at_once(h, [("subscribe support en", channel, "U0LEAD") for channel in channels])
    for url in urls:
        answer = h.answer(url)
        assert answer.get("response_type") == "in_channel", alltext(answer)
        assert "<@U0LEAD> subscribed this channel" in alltext(answer)
    with store.session() as session:
        (target,) = session.scalars(select(Target)).all()
        subscribed = session.scalars(select(Subscription.channel_id)).all()
    assert target.bot_id == BOT
    assert target.language == "en"
    assert sorted(subscribed) == sorted(channels)


def test_ten_asks_about_a_running_training_at_once(h: Harness, store: Store) -> None:
    h.kore.script(BOT, "en", Status("in-progress"))
    alone = [new_channel() for _ in range(5)]
    shared, users = new_channel(), [f"U0USER{n}" for n in range(5)]
    commands = [("support en", channel, "U0ASKER") for channel in alone]
    commands += [("support en", shared, user) for user in users]
    urls = at_once(h, commands)
    for channel in [*alone, shared]:
        assert "is in progress" in h.parent(channel)["text"]

    h.kore.script(BOT, "en", Status("success"))
    for channel in [*alone, shared]:
        final = h.wait_reply(channel)
        assert len(h.slack.messages(channel)) == 1  # one announcement per channel's watch
        (reply,) = final["replies"]
        assert "succeeded" in reply["text"]
    shared_reply = h.slack.messages(shared)[0]["replies"][0]["text"]
    assert all(f"<@{user}>" in shared_reply for user in users)
    # The channel message answers the ask that created the watch; the others joined it.
    assert all(h.answers(url) == [] for url in urls[:5])
    joined = [h.answers(url) for url in urls[5:]]
    assert sorted(len(answers) for answers in joined) == [0, 1, 1, 1, 1]
    for answers in joined:
        assert all("already being watched" in alltext(answer) for answer in answers)

    with store.session() as session:
        assert len(session.scalars(select(Target)).all()) == 1
        watches = session.scalars(select(Watch)).all()
        askers = session.execute(select(Watch.channel_id, Asker.user_id).join(Asker)).all()
    assert Counter(watch.channel_id for watch in watches) == dict.fromkeys([*alone, shared], 1)
    assert sorted(askers) == sorted(
        [(channel, "U0ASKER") for channel in alone] + [(shared, user) for user in users]
    )
