"""The watch engine's schedule, with time controlled: polls, the status between them, fan-out.

The engine runs in this process (its scheduler is not started; the test calls ``tick``)
against the fake Kore.ai and the fake Slack over 127.0.0.1, with a clock the test moves.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.engine import FIRST, Engine
from support.slack_app import BOT, kore_polls, new_channel, wait_until

from korebot.kore import State
from korebot.registry import JobKey
from korebot.testing.fake_kore import Delay, FakeKore, Status
from korebot.testing.fake_slack import FakeSlack


@pytest.fixture
def e(kore: FakeKore, slack: FakeSlack, tmp_path: Path) -> Iterator[Engine]:
    kore.script(BOT, "en", Status("in-progress"))
    engine = Engine(kore, slack, tmp_path / "korebot.sqlite")
    yield engine
    engine.close()


def test_the_next_poll_comes_one_interval_after_the_last(e: Engine) -> None:
    base = e.kore.count(BOT)
    e.ask(new_channel())
    assert e.kore.count(BOT) == base + 1  # the ask's own call
    assert e.tick(FIRST) == base + 2  # the first poll, one interval after the ask
    # The poll's claim leased the target for a few seconds only; after the poll, the next
    # one is a whole interval (less at most 10 % jitter) away, not the lease's end.
    assert e.tick(6) == base + 2
    assert e.tick(FIRST * 0.9 - 6 - 0.5) == base + 2
    assert e.tick(3.5) == base + 3  # 30 s after the poll


def test_a_watched_training_has_a_status_until_its_next_poll(e: Engine) -> None:
    base = e.kore.count(BOT)
    e.ask(new_channel())
    e.clock.advance(20.0)  # beyond the 5 s answer cache, before the first poll
    fetched = e.engine.watched_status(JobKey.of(e.bot, "en", State.CONFIGURED))
    assert fetched is not None
    assert fetched.age == 20.0
    assert fetched.status.raw_status == "in-progress"
    assert e.kore.count(BOT) == base + 1
    # Once the poll is overdue (the budget, a crash), an ask calls Kore.ai itself.
    e.clock.advance(FIRST)
    assert e.engine.watched_status(JobKey.of(e.bot, "en", State.CONFIGURED)) is None


def test_an_ending_reaches_every_watching_channel(e: Engine) -> None:
    channels = [new_channel() for _ in range(40)]
    for channel in channels:
        e.ask(channel)
    e.kore.script(BOT, "en", Status("success"))
    calls = e.tick(FIRST)
    for channel in channels:
        replies = e.slack.messages(channel)[0]["replies"]
        assert len(replies) == 1, channel
        assert "FAQ training for support (en) succeeded" in replies[0]["text"]
    assert e.tick(FIRST * 4) == calls  # nothing is watched any more: no more polls


def test_a_hanging_kore_answer_does_not_hold_up_the_other_trainings_polls(e: Engine) -> None:
    hang = 3.0  # real seconds: far longer than the polls below take
    e.kore.script(BOT, "de", Status("in-progress"))
    en, de = kore_polls(e.kore, BOT, "en"), kore_polls(e.kore, BOT, "de")
    e.ask(new_channel())
    e.ask(new_channel(), language="de")
    e.kore.script(BOT, "de", Delay(hang), Status("in-progress"))
    for _ in range(3):
        e.clock.advance(FIRST)
        e.engine.held.renew()  # the engine's renewal job (its scheduler is not started here)
        e.engine.tick()
        wait_until(lambda: e.polled_now("en"), hang, "the poll of en")
    # Three polls of en while the first poll of de still waits for its answer.
    assert kore_polls(e.kore, BOT, "en") == en + 1 + 3
    assert kore_polls(e.kore, BOT, "de") == de + 1  # the ask's only
    e.engine.drain()  # lets the hanging poll finish
    # Its lease was renewed meanwhile: de was not polled a second time alongside it.
    assert kore_polls(e.kore, BOT, "de") == de + 1 + 1


@pytest.mark.parametrize("from_history", [True, False])
def test_a_training_with_history_is_polled_sparsely_early_and_densely_near_its_usual_end(
    kore: FakeKore, slack: FakeSlack, tmp_path: Path, from_history: bool
) -> None:
    usual, step = 12 * 60.0, 2.0
    flag = "true" if from_history else "false"
    e = Engine(kore, slack, tmp_path / "korebot.sqlite", KOREBOT_POLL_FROM_HISTORY=flag)
    try:
        for _ in range(3):  # the history: three runs of 12 minutes from the poll that saw each
            kore.script(BOT, "en", Status("in-progress"))
            e.ask(new_channel())
            e.tick(FIRST)  # the first poll sees the run: its start
            kore.script(BOT, "en", Status("success"))
            e.tick(usual)  # the one poll due by now sees the end
        kore.script(BOT, "en", Status("in-progress"))
        e.ask(new_channel())
        asked, polls, times = e.clock.now(), kore_polls(kore, BOT, "en"), []
        end = FIRST + usual - 20  # seen starting at the first poll, a little faster than usual
        while not times or times[-1] < end:
            if (e.clock.now() - asked).total_seconds() >= end:
                kore.script(BOT, "en", Status("success"))
            e.tick(step)
            if kore_polls(kore, BOT, "en") > polls:
                polls += 1
                times.append((e.clock.now() - asked).total_seconds())
    finally:
        e.close()
    gaps = [b - a for a, b in itertools.pairwise(times)]
    # The poll that saw the start comes one interval after the ask, and the next one after
    # the first interval, as without history.
    assert 0.9 * FIRST <= times[0] <= FIRST
    assert gaps[0] <= FIRST + step
    if from_history:
        assert gaps[1] > 3 * FIRST  # then sparse while far from the usual end
        # Dense from a quarter of the usual duration before it: the end is seen within one
        # first interval (and a tick), for fewer calls than the backoff makes.
        dense = [gap for at, gap in zip(times, gaps, strict=False) if at >= FIRST + usual * 0.75]
        assert dense
        assert all(gap <= FIRST + step for gap in dense)
        assert times[-1] - end <= FIRST + step
        assert len(times) <= 14
    else:
        assert gaps[1] <= FIRST + step
        assert len(times) >= 16
