"""A release's looks (korebot.watch.releasing), with time controlled: a lost train POST is
never sent again, a passing fault only waits, and a release that outlives the watch
timeout ends as timed out, naming what goes on at Kore.ai.

The engine runs in this process (its scheduler is not started; the test runs the release
job itself) against the fake Kore.ai and the fake Slack over 127.0.0.1, with a clock the
test moves.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from support.engine import FIRST, Engine
from support.slack_app import BOT, new_channel

from korebot.testing.fake_kore import Drop, Fail, FakeKore, MlStatus, Status
from korebot.testing.fake_slack import FakeSlack
from korebot.watch.types import ReleaseAsk, ReleaseOutcome, ReleaseState, ReleaseView, StepState

RELEASER = "U0RELEASER"


@pytest.fixture
def e(kore: FakeKore, slack: FakeSlack, tmp_path: Path) -> Iterator[Engine]:
    # The fake is the session's: each test scripts both trainings and their POSTs.
    kore.script(BOT, "en", Status("success"))
    kore.script(BOT, "en", MlStatus("Finished"), kind="ml")
    kore.on_train(BOT, "en", Status("in-progress"), Status("success"))
    kore.on_train(BOT, "en", MlStatus("Inprogress"), MlStatus("Finished"), kind="ml")
    engine = Engine(kore, slack, tmp_path / "korebot.sqlite", KOREBOT_WATCH_TIMEOUT="600")
    yield engine
    engine.close()


def begin(e: Engine, channel: str) -> str:
    ask = ReleaseAsk("T0TEAM", channel, RELEASER, e.bot, "en", "", None, None)
    token = e.engine.record_release(ask).token
    assert e.engine.begin_release(token).won
    return token


def look(e: Engine, token: str, after: float = 0.0) -> ReleaseView:
    """Move the clock, run the release job once, wait for its looks; the release now."""
    e.clock.advance(after)
    e.engine.releasing.tick()
    e.engine.drain()
    view = e.engine.release(token)
    assert view is not None
    return view


def posts(e: Engine) -> tuple[int, int]:
    """The FAQ and ML train POSTs the fake took so far (it is the module's)."""
    count = e.kore.count
    return count(BOT, kind="train", training="faq"), count(BOT, kind="train", training="ml")


def test_a_lost_train_post_is_never_sent_again(e: Engine) -> None:
    e.kore.on_train(BOT, "en", Drop(), kind="ml")  # the connection dropped: nothing started
    channel, (faq, ml) = new_channel(), posts(e)
    token = begin(e, channel)
    first = look(e, token)
    assert posts(e) == (faq + 1, ml + 1)
    assert first.state is ReleaseState.RUNNING
    ended = look(e, token, FIRST)  # ML neither runs nor shows a new run
    assert ended.outcome is ReleaseOutcome.FAILED
    train = ended.progress.steps[0]
    assert train.state is StepState.FAILED
    assert "ML training, and nothing newer than it shows: it was not sent again" in train.summary
    assert look(e, token, FIRST).state is ReleaseState.ENDED
    assert posts(e) == (faq + 1, ml + 1)
    (checklist,) = e.slack.messages(channel)
    assert (
        checklist["replies"][-1]["text"]
        == f"<@{RELEASER}> :x: Train FAQ and ML (en) failed: not published"
    )


def test_a_passing_fault_waits_and_an_endless_training_times_out(e: Engine) -> None:
    e.kore.on_train(BOT, "en", Status("in-progress"))  # runs for ever
    channel, (faq, ml) = new_channel(), posts(e)
    token = begin(e, channel)
    look(e, token)
    e.kore.script(BOT, "en", Fail(503), Status("in-progress"))
    assert look(e, token, FIRST).state is ReleaseState.RUNNING  # a 503: asked again later
    assert look(e, token, FIRST).state is ReleaseState.RUNNING
    ended = look(e, token, 600)
    assert ended.outcome is ReleaseOutcome.TIMED_OUT
    train = ended.progress.steps[0]
    assert (
        train.summary
        == "gave up waiting after 10 min; started and going on in Kore.ai: FAQ training"
    )
    assert posts(e) == (faq + 1, ml + 1)
    (checklist,) = e.slack.messages(channel)
    assert checklist["replies"][-1]["text"].startswith(
        f"<@{RELEASER}> :hourglass: Release timed out at Train FAQ and ML (en): not published"
    )
