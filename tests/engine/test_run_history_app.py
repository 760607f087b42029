"""End to end: a training's usual length, its expected end, a run far too long, `history`.

Three runs of known lengths (4, 5 and 3 min; the second started from Slack) are played
by the fake Kore.ai and watched by the app's own engine wiring in this process, with the
clock the test moves (as tests/test_engine_schedule.py does), its messages posted to the
fake Slack over HTTP. The fourth's message says when it is expected to end; it runs far
too long and is flagged once; its thread result says how long it took against the usual.
Then the real app process, on the same database, answers `/faq-status history`.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select
from support.engine import Engine
from support.home import publishes, text_of, wait_view
from support.slack_app import (
    BOT,
    Harness,
    alltext,
    app_env,
    check_clean,
    kore_polls,
    new_channel,
    wait_until,
)

from korebot.kore import State
from korebot.registry import JobKey
from korebot.slack.messages import slack_date
from korebot.testing.app_process import AppProcess
from korebot.testing.fake_kore import FakeKore, Status
from korebot.testing.fake_slack import FakeSlack
from korebot.watch.store.tables import Watch
from korebot.watch.types import Via, WatchRequest

EARLIER = datetime(2024, 5, 1, 17, 30, tzinfo=UTC)
STARTER = "U0STARTER"


def run_of(number: int, status: str) -> Status:
    """A step of the `number`th run (its own modifiedOn: one run, not a new one per poll)."""
    return Status(status, modified_on=EARLIER + timedelta(hours=number))


class Runs:
    def __init__(self, e: Engine) -> None:
        self.e = e

    def start(self, number: int, channel: str, via: Via = Via.ASK) -> datetime:
        """A run begins and someone asks about it (or starts it from Slack); when."""
        e = self.e
        e.clock.advance(600)  # past the gateway's cache of the last run's answer
        e.kore.script(BOT, "en", run_of(number, "in-progress"))
        user = STARTER if via is Via.TRAIN else "U0ASKER"
        request = WatchRequest("T0TEAM", channel, user, e.bot, "en", State.CONFIGURED, via=via)
        e.engine.watch(request, e.gateway.status(e.bot, "en", State.CONFIGURED).status)
        return e.clock.now()

    def until(self, seconds: float, since: datetime) -> None:
        """Tick, polls each time they are due (at most one interval apart), up to
        `seconds` after `since`."""
        e = self.e
        while e.clock.now() < since + timedelta(seconds=seconds):
            e.tick(30)

    def end(self, number: int, seconds: float, since: datetime, status: str = "success") -> None:
        """The run ends `seconds` after `since`: the poll then sees it."""
        self.until(seconds - 30, since)
        self.e.kore.script(BOT, "en", run_of(number, status))
        self.e.tick(30)
        assert self.e.clock.now() == since + timedelta(seconds=seconds)


@pytest.fixture
def e(kore: FakeKore, slack: FakeSlack, tmp_path: Path) -> Iterator[Engine]:
    kore.script(BOT, "en", run_of(0, "success"))
    engine = Engine(kore, slack, tmp_path / "korebot.db")
    yield engine
    engine.close()


def updates(slack: FakeSlack, channel: str) -> list[str]:
    return [alltext(c.args) for c in slack.calls_to("chat.update") if c.args["channel"] == channel]


def test_the_usual_length_the_expected_end_a_long_run_flagged_once_and_history(
    e: Engine, kore: FakeKore, slack: FakeSlack, tmp_path: Path
) -> None:
    runs = Runs(e)
    for number, (seconds, via) in enumerate(
        [(240, Via.ASK), (300, Via.TRAIN), (180, Via.ASK)], start=1
    ):
        channel = new_channel()
        since = runs.start(number, channel, via)
        (parent,) = slack.messages(channel)
        assert "Usually takes" not in alltext(parent)  # fewer than three runs known
        runs.end(number, seconds, since)
        (reply,) = slack.messages(channel)[0]["replies"]
        assert "succeeded" in reply["text"]
        assert "took" not in reply["text"]  # nothing to compare with yet

    channel = new_channel()
    since = runs.start(4, channel)
    (parent,) = slack.messages(channel)
    expected = slack_date(since + timedelta(minutes=4))  # the median of 4, 5 and 3 min
    assert f"Usually takes about 4 min (last 3 runs); expected around {expected}" in alltext(parent)
    assert "longer than usual" not in alltext(parent)
    runs.until(540, since)  # twice 4 min is 8, 4 and 5 more is 9: not yet
    assert not any("longer than usual" in text for text in updates(slack, channel))
    runs.until(660, since)
    flagged = [text for text in updates(slack, channel) if "Running longer than usual" in text]
    assert len(flagged) == 1  # once, whatever the polls after
    assert expected in flagged[0]
    runs.end(4, 720, since)
    top = slack.messages(channel)[0]
    (reply,) = top["replies"]
    assert "took 12 min, usually 4 min" in reply["text"]
    assert "longer than usual" not in alltext(top)  # the final message replaced it

    # The real app, on the same database (the engine above only ticks when told):
    # `history`, to the asker only.
    env = app_env(kore, slack, tmp_path / "korebot.db")
    with AppProcess(env) as app:
        h = Harness(kore, slack, app)
        answer = h.answer(h.ask("history support en", new_channel()))
        assert answer.get("response_type", "ephemeral") == "ephemeral"
        text = answer["text"]
        lines = [line for line in text.splitlines() if line.startswith("•")]
        assert len(lines) == 4
        assert "Last 4 runs of FAQ training for support (en, configured)" in text
        lengths = [re.search(r"· (?:at least )?(\d+ min)", line) for line in lines]
        assert [m.group(1) if m else None for m in lengths] == [
            "12 min",
            "3 min",
            "5 min",
            "4 min",
        ]
        assert all(line.startswith("• :white_check_mark: success") for line in lines)
        assert f"started by <@{STARTER}>" in lines[2]
        assert "started by" not in lines[0] + lines[1] + lines[3]
        nothing = alltext(h.answer(h.ask("history support de", new_channel())))
        assert "No runs of FAQ training for support (de, configured) are recorded yet" in nothing
        unknown = alltext(h.answer(h.ask("history nosuchbot en", new_channel())))
        assert "nosuchbot" in unknown
        missing = alltext(h.answer(h.ask("history", new_channel())))
        assert "Say which bot: `/faq-status history BOT LANG`" in missing
    check_clean(app, kore, slack)


def test_the_engine_prunes_watches_ended_keep_days_ago_and_keeps_the_runs(
    e: Engine, slack: FakeSlack
) -> None:
    """KOREBOT_KEEP_DAYS (30 by default): the engine's hourly job deletes older watches."""
    runs = Runs(e)
    channel = new_channel()
    since = runs.start(1, channel)
    runs.end(1, 60, since)
    assert slack.messages(channel)[0]["replies"]  # delivered: the watch ended
    e.clock.advance(29 * 86400)
    e.engine.prune()
    with e.store.session() as session:
        assert session.scalar(select(func.count(Watch.id))) == 1
    e.clock.advance(2 * 86400)
    e.engine.prune()
    with e.store.session() as session:
        assert session.scalar(select(func.count(Watch.id))) == 0
    (run,) = e.store.runs.runs(JobKey.of(e.bot, "en", State.CONFIGURED))
    assert run.duration == 60.0


def test_the_home_tab_shows_a_running_trainings_expected_end_then_its_result(
    kore: FakeKore, slack: FakeSlack, tmp_path: Path
) -> None:
    """Three runs played two hours ago (4, 5 and 3 min), then the real app: a fourth run
    is asked about, the asker's Home tab shows when it should end, then its result."""
    db = tmp_path / "korebot.db"
    kore.script(BOT, "en", run_of(0, "success"))
    past = Engine(kore, slack, db, start=datetime.now(UTC) - timedelta(hours=2))
    try:
        runs = Runs(past)
        for number, seconds in enumerate([240, 300, 180], start=1):
            runs.end(number, seconds, runs.start(number, new_channel()))
    finally:
        past.close()

    kore.script(BOT, "en", run_of(4, "in-progress"))
    with AppProcess(app_env(kore, slack, db)) as app:
        h = Harness(kore, slack, app)
        user, channel = "U0HOMEHISTORY", new_channel()
        h.ask("support en", channel, user=user)
        parent = h.parent(channel)
        assert "Usually takes about 4 min (last 3 runs); expected around" in alltext(parent)
        assert h.sender.home_opened(user).status_code == 200
        running = wait_view(h, user, "usually 4 min, expected in about")
        assert f"/archives/{channel}/p{parent['ts'].replace('.', '')}" in running  # the watch
        assert "support" in running
        assert BOT in running

        # Asked more than an hour after the last look: the run is still timed from the ask.
        polls = kore_polls(kore, BOT, "en")
        wait_until(lambda: kore_polls(kore, BOT, "en") > polls, 10, "a poll of the fourth run")
        kore.script(BOT, "en", run_of(4, "success"))
        (reply,) = h.wait_reply(channel)["replies"]
        assert "usually 4 min" in reply["text"]  # "took 1 s, usually 4 min"
        ended = wait_view(h, user, "`en`: :white_check_mark:")
        assert "took" in ended
        assert "usually takes 4 min" in ended
        assert len(publishes(h, user)) >= 2
        assert "expected in about" not in text_of(publishes(h, user)[-1])
    check_clean(app, kore, slack)
