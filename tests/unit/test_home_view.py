"""The Home tab's view builder (korebot.slack.home): what it shows, valid for Slack, and
never more than a view's 100 blocks."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from korebot.kore import TRAININGS, JobStatus, Kind, State, Status
from korebot.kore.auth import Credentials
from korebot.kore.kinds import batch
from korebot.registry import Bot, JobKey
from korebot.slack.home import (
    TRAIN_ACTION,
    WATCH_ACTION,
    HomeSnapshot,
    HomeTraining,
    home_view,
    problem_view,
)
from korebot.testing.slack_validation import view_problems
from korebot.watch.types import JobSnapshot, SubscriptionView, Via, WatchView

NOW = datetime(2026, 12, 2, 14, 2, tzinfo=UTC)
CREDS = Credentials("cs-1", "secret")
SUPPORT = Bot("st-support", "support", "https://bots.kore.ai", CREDS, languages=("en", "de"))


def known(bot: Bot, language: str, kind: Kind, status: Status, **extra: Any) -> JobSnapshot:
    raw = {Status.IN_PROGRESS: "in-progress", Status.SUCCESS: "success"}.get(status, "failure")
    result = JobStatus(status, raw, f"training {raw}", None, None, None, kind)
    return JobSnapshot(
        key=JobKey.of(bot, language, State.CONFIGURED, kind),
        bot_name=bot.name,
        last_status=raw,
        last_result=result,
        checked_at=NOW - timedelta(seconds=20),
        running_since=NOW - timedelta(minutes=12) if status is Status.IN_PROGRESS else None,
        failing_since=None,
        last_error=None,
        polled=True,
        **extra,
    )


def dumped(snapshot: HomeSnapshot) -> dict[str, Any]:
    view: dict[str, Any] = json.loads(json.dumps(home_view(snapshot).to_dict()))
    assert view_problems(view) == []
    return view


def text_of(view: dict[str, Any]) -> str:
    return json.dumps(view["blocks"])


def controls(view: dict[str, Any]) -> list[list[str]]:
    return [
        [element["action_id"] for element in block["elements"]]
        for block in view["blocks"]
        if block["type"] == "actions"
    ]


def test_a_running_training_shows_its_elapsed_time_and_a_never_checked_one_says_so() -> None:
    running = known(SUPPORT, "en", Kind.FAQ, Status.IN_PROGRESS)
    trainings = [
        HomeTraining(SUPPORT, "en", Kind.FAQ, running, may_train=False),
        HomeTraining(SUPPORT, "en", Kind.ML, None, may_train=False),
    ]
    text = text_of(dumped(HomeSnapshot("U1", NOW, trainings)))
    assert "running for 12 min" in text
    assert "never checked yet" in text
    assert "as of" in text.lower()
    assert "usually" not in text  # no history, no expected end
    assert controls(dumped(HomeSnapshot("U1", NOW, trainings))) == [[WATCH_ACTION]] * 2


def test_the_usual_duration_gives_the_expected_end_and_the_last_run_its_length() -> None:
    running = known(SUPPORT, "en", Kind.FAQ, Status.IN_PROGRESS, usual_seconds=20 * 60.0)
    ended = known(SUPPORT, "de", Kind.FAQ, Status.SUCCESS, usual_seconds=300.0, last_took=240.0)
    trainings = [
        HomeTraining(SUPPORT, "en", Kind.FAQ, running, may_train=True),
        HomeTraining(SUPPORT, "de", Kind.FAQ, ended, may_train=True),
    ]
    view = dumped(HomeSnapshot("U1", NOW, trainings))
    text = text_of(view)
    assert "usually 20 min, expected in about 8 min (around <!date^" in text
    assert "|14:10 UTC>" in text  # began 13:50, usually 20 min
    assert "took 4 min" in text
    assert "usually takes 5 min" in text
    assert controls(view) == [[WATCH_ACTION, TRAIN_ACTION]] * 2
    overdue = replace(running, usual_seconds=60.0)
    late = [HomeTraining(SUPPORT, "en", Kind.FAQ, overdue, may_train=False)]
    assert "any moment now" in text_of(dumped(HomeSnapshot("U1", NOW, late)))


def test_watches_link_to_their_threads_and_subscriptions_are_listed_escaped() -> None:
    watch = WatchView(
        1, Via.ASK, "support", "st-support", "en", State.CONFIGURED, "T1", "C1", "C1",
        "1700000000.000100", ("U1",), NOW, "in-progress", None,
    )  # fmt: skip
    sub = SubscriptionView(
        2, "<!channel>", "st-x", "en", State.CONFIGURED, "T1", "C2", None, None, Kind.ML
    )
    link = "https://fake.slack.test/archives/C1/p1700000000000100"
    text = text_of(dumped(HomeSnapshot("U1", NOW, [], [(watch, link)], [sub])))
    assert f"<{link}|thread in <#C1>>" in text
    assert "<#C2>" in text
    assert "&lt;!channel&gt;" in text
    assert "<!channel>" not in text
    assert "No bots are configured" in text


def test_many_bots_stay_under_100_blocks_with_a_note_on_those_left_out() -> None:
    bots = [
        Bot(f"st-{n}", f"bot{n:02d}", "https://bots.kore.ai", CREDS, languages=("en", "de"))
        for n in range(40)
    ]
    trainings = [
        HomeTraining(bot, language, kind, None, may_train=True)
        for bot in bots
        for language in bot.languages
        for kind in TRAININGS
    ]
    watches = [
        (WatchView(n, Via.ASK, "bot00", "st-0", "en", State.CONFIGURED, "T1", f"C{n}", None,
                   None, ("U1",), NOW, None, None), None)
        for n in range(30)
    ]  # fmt: skip
    view = dumped(HomeSnapshot("U1", NOW, trainings, watches, [], notice="Done."))
    assert len(view["blocks"]) <= 100
    text = text_of(view)
    assert "bot00" in text
    assert "bot39" not in text
    assert "more bots, left out" in text
    assert "`/faq-status bots`" in text
    assert "and 10 more." in text  # watches past the 20 listed


def test_the_problem_view_is_a_valid_minimal_tab() -> None:
    view = json.loads(json.dumps(problem_view("My database is unavailable").to_dict()))
    assert view_problems(view) == []
    assert "My database is unavailable" in text_of(view)


def test_each_bots_suites_show_their_last_scores_or_that_they_run() -> None:
    smoke = batch.as_status(
        batch.parse_status(
            {
                "status": "completed",
                "result": {"f1_score": "0.91", "precision": "0.93", "recall": "0.89"},
            }
        ),
        None,
    )
    done = replace(
        known(SUPPORT, "en", Kind.FAQ, Status.SUCCESS),
        key=JobKey.of(SUPPORT, "en", State.CONFIGURED, Kind.BATCH, "Smoke <!channel>"),
        last_result=smoke,
    )
    running = replace(
        known(SUPPORT, "de", Kind.FAQ, Status.IN_PROGRESS),
        key=JobKey.of(SUPPORT, "de", State.PUBLISHED, Kind.BATCH, "Regression"),
    )
    trainings = [HomeTraining(SUPPORT, "en", kind, None, False) for kind in TRAININGS]
    view = dumped(HomeSnapshot("U1", NOW, trainings, bots=[SUPPORT], suites=[done, running]))
    text = text_of(view)
    assert "*Batch tests*" in text
    assert "F1 *0.91*, precision 0.93, recall 0.89" in text
    regression = "Regression\\u201d \\u00b7 `de` \\u00b7 published:"
    assert f"{regression} :hourglass_flowing_sand: running for 12 min" in text
    assert "<!channel>" not in text
