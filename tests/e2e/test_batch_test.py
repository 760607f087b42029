"""End to end: `/batch-test` through the real app process (signed commands, the fake
Kore.ai's batch test APIs with their JWT, scope and `bot-language` checks, the fake Slack).

Runs are scripted to end after a poll or two; polls are 0.2 s apart, so nothing waits on
a timer. Each test uses its own suite (or language), so that they share one app.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
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

from korebot.testing.app_process import AppProcess
from korebot.testing.fake_kore import BatchScript, BatchSuite, Fail, FakeKore, PastRun
from korebot.testing.fake_slack import FakeSlack

BATCH = "/batch-test"
SUITES = (
    BatchSuite("Smoke tests", results=(PastRun("0.91", "0.93", "0.89", id="tx-1"),)),
    BatchSuite("Regression", results=(PastRun("0.91", id="tx-2"),)),
    BatchSuite("Crowd", results=(PastRun("0.80", id="tx-3"),)),
    BatchSuite("Broken"),
    BatchSuite("Refused"),
    BatchSuite("Watched", results=(PastRun("0.70", id="tx-4"),)),
    BatchSuite("Last100sentences", type="prebuilt"),
)


@pytest.fixture(scope="module")
def h(
    kore: FakeKore, slack: FakeSlack, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Harness]:
    kore.batch_suites(BOT, *SUITES)
    kore.on_batch_run(BOT, "Regression", BatchScript(f1="0.85", precision="0.86", recall="0.84"))
    kore.on_batch_run(BOT, "Crowd", BatchScript(running_polls=3, f1="0.82"))
    kore.on_batch_run(BOT, "Broken", BatchScript(status="failed"))
    kore.on_batch_run(BOT, "Refused", BatchScript(post=Fail(400, "Suite is being edited")))
    db = tmp_path_factory.mktemp("db") / "korebot.db"
    env = app_env(
        kore,
        slack,
        db,
        KOREBOT_POLL_MAX_INTERVAL="0.2",
        KOREBOT_MIN_F1="0.80",
        # Subscriptions read the suites' lists at every tick: nothing waits on a timer.
        KOREBOT_SUBSCRIPTION_INTERVAL="0.05",
    )
    with AppProcess(env) as app:
        yield Harness(kore, slack, app)
    check_clean(app, kore, slack)


def posts_of(kore: FakeKore, suite: str) -> list[object]:
    return [post for post in kore.batch_posts if post.suite == suite]


def test_a_run_is_one_post_then_its_scores_come_in_the_thread_compared_with_the_last(
    h: Harness,
) -> None:
    channel = new_channel()
    url = h.ask('support en "Smoke tests"', channel, user="U0TEST", command=BATCH)
    parent = h.parent(channel)
    assert parent["text"] == (
        "<@U0TEST> started batch test \u201cSmoke tests\u201d of support (en); I will post "
        "the result in this thread."
    )
    assert has_buttons(parent)
    (post,) = posts_of(h.kore, "Smoke tests")
    assert (post.version, post.language) == ("inDevelopment", "en")  # type: ignore[attr-defined]
    done = h.wait_reply(channel)
    (reply,) = done["replies"]
    assert reply["text"] == (
        "<@U0TEST> :white_check_mark: batch test \u201cSmoke tests\u201d of support (en) "
        "passed: F1 0.91, same as 0.91"
    )
    details = alltext(reply)
    for part in ("precision 0.93", "recall 0.89", "TP 8", "FN 0", "1 failed utterance"):
        assert part in details
    assert "CSV report> (the link expires)" in details
    assert "took 2 min" in details
    assert "previous run" in details
    assert "F1 0.91" in details
    assert not has_buttons(done)
    assert h.answers(url) == []


def test_a_drop_beyond_the_tolerated_one_fails_the_run_and_says_by_how_much(h: Harness) -> None:
    channel = new_channel()
    h.ask("support en regression", channel, user="U0TEST", command=BATCH)
    done = h.wait_reply(channel)
    (reply,) = done["replies"]
    assert reply["text"].startswith(
        "<@U0TEST> :x: batch test \u201cRegression\u201d of support (en) failed: F1 0.85 "
        "dropped 0.06 from the previous run's 0.91, more than the 0.02 tolerated"
    )


def test_a_run_that_fails_at_kore_says_so_in_words(h: Harness) -> None:
    channel = new_channel()
    h.ask("support en Broken", channel, user="U0TEST", command=BATCH)
    done = h.wait_reply(channel)
    (reply,) = done["replies"]
    assert "did not complete: Kore.ai says `failed`" in reply["text"]


def test_three_people_asking_at_once_make_one_post_and_are_all_mentioned(h: Harness) -> None:
    channel = new_channel()
    users = ("U0ANN", "U0BOB", "U0CAT")
    asks = [
        threading.Thread(
            target=h.ask, args=('support en "Crowd"', channel), kwargs={"user": u, "command": BATCH}
        )
        for u in users
    ]
    for ask in asks:
        ask.start()
    for ask in asks:
        ask.join()
    done = h.wait_reply(channel)
    assert len(posts_of(h.kore, "Crowd")) == 1
    (reply,) = done["replies"]
    for user in users:
        assert f"<@{user}>" in reply["text"]


def test_an_unknown_suite_is_answered_privately_with_the_bots_suites(h: Harness) -> None:
    channel = new_channel()
    url = h.ask('support en "Nope"', channel, user="U0TEST", command=BATCH)
    answer = alltext(h.answer(url))
    assert "no batch test suite called 'Nope'" in answer
    assert '"Smoke tests"' in answer
    assert '"Last100sentences"' in answer
    assert h.posts(channel) == []
    assert posts_of(h.kore, "Nope") == []


def test_a_refused_post_says_why_and_starts_nothing(h: Harness) -> None:
    channel = new_channel()
    url = h.ask("support en Refused", channel, user="U0TEST", command=BATCH)
    answer = alltext(h.answer(url))
    assert "was not started" in answer
    assert "Suite is being edited" in answer
    assert h.posts(channel) == []


def test_the_suites_of_a_bot_come_with_their_last_results(h: Harness) -> None:
    url = h.ask("support en", new_channel(), user="U0TEST", command=BATCH)
    answer = alltext(h.answer(url))
    assert "Smoke tests" in answer
    assert "last F1 0.91" in answer
    assert "Last100sentences* (prebuilt) · no completed run yet" in answer


def test_history_lists_the_runs_korebot_saw_with_a_trend(h: Harness) -> None:
    for _ in range(2):
        channel = new_channel()
        h.ask('support de "Smoke tests"', channel, user="U0TEST", command=BATCH)
        h.wait_reply(channel)
    url = h.ask('history support de "Smoke tests"', new_channel(), user="U0TEST", command=BATCH)
    answer = alltext(h.answer(url))
    assert "Last 2 runs" in answer
    assert "F1 trend" in answer


def test_a_run_on_the_published_version_says_so_to_kore(h: Harness) -> None:
    channel = new_channel()
    h.ask('support it "Smoke tests" published', channel, user="U0TEST", command=BATCH)
    h.wait_reply(channel)
    (post,) = [p for p in posts_of(h.kore, "Smoke tests") if p.language == "it"]  # type: ignore[attr-defined]
    assert post.version == "published"  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    "suite",
    [
        '"Smoke" tests"',
        "x" * 500,
        '"a\u0007b"',
        "<@U0ADMIN|admin> <!channel>",
        '"../../run"',
    ],
    ids=["quotes", "500-chars", "control", "mentions", "dot-segments"],
)
def test_hostile_suite_names_get_a_private_answer_and_no_run(h: Harness, suite: str) -> None:
    channel = new_channel()
    before = len(h.kore.batch_posts)
    url = h.ask(f"support en {suite}", channel, user="U0TEST", command=BATCH)
    answer = h.answer(url)
    text = alltext(answer)
    assert text.startswith(":warning:")
    assert answer.get("response_type") != "in_channel"
    assert "<!channel>" not in text
    assert "<@U0ADMIN" not in text
    assert h.posts(channel) == []
    assert len(h.kore.batch_posts) == before


def test_a_subscribed_channel_hears_of_runs_started_elsewhere(h: Harness) -> None:
    channel = new_channel()
    looks = h.kore.count(BOT, kind="batch-suites")
    url = h.ask('subscribe support en "Watched"', channel, user="U0LEAD", command=BATCH)
    said = h.answer(url)
    assert said["response_type"] == "in_channel"
    assert "subscribed this channel to batch test \u201cWatched\u201d" in alltext(said)
    # The command's own look, then the subscription's first poll (which arms it) and more.
    wait_until(lambda: h.kore.count(BOT, kind="batch-suites") >= looks + 3, 10, "the first polls")
    assert h.posts(channel) == []  # the last run before subscribing is not news
    # Someone runs it in Kore.ai's builder: its result appears in the suite's list.
    newer = PastRun("0.75", id="tx-5", end_time=datetime(2026, 12, 7, 9, 0, tzinfo=UTC))
    (watched,) = [suite for suite in SUITES if suite.name == "Watched"]
    others = [suite for suite in SUITES if suite is not watched]
    h.kore.batch_suites(BOT, *others, BatchSuite("Watched", results=(newer, *watched.results)))
    wait_until(lambda: len(h.posts(channel)) == 1, 10, "the run's announcement")
    (post,) = h.posts(channel)
    text = alltext(post.args)
    assert "\u201cWatched\u201d of support (en) failed: F1 0.75 is below the bar of 0.80" in text
    assert "previous run: F1 0.70" in text
    url = h.ask('unsubscribe support en "Watched"', channel, user="U0LEAD", command=BATCH)
    assert "unsubscribed this channel" in alltext(h.answer(url))
