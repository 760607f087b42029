"""End to end: `/ml-status`, the ML training's command, beside `/faq-status`, through the real
app process (signed commands, the fake Kore.ai's ML API, the fake Slack).

Every ask reaches the fake (KOREBOT_STATUS_CACHE=0), so the number of Kore.ai calls of each
kind is exact: an ask, then one poll per scripted step until the final one.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from support.slack_app import (
    BOT,
    Harness,
    alltext,
    app_env,
    check_clean,
    has_buttons,
    kore_polls,
    new_channel,
    wait_polls,
)

from korebot.testing.app_process import AppProcess
from korebot.testing.fake_kore import FakeKore, MlStatus, Status
from korebot.testing.fake_slack import FakeSlack

ML = "/ml-status"
RUNNING = MlStatus("Inprogress")


@pytest.fixture(scope="module")
def h(
    kore: FakeKore, slack: FakeSlack, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Harness]:
    db = tmp_path_factory.mktemp("db") / "korebot.db"
    env = app_env(
        kore,
        slack,
        db,
        KOREBOT_STATUS_CACHE="0",
        KOREBOT_POLL_MAX_INTERVAL="0.2",
        # Subscriptions are polled at every tick (0.2 s): nothing waits on a timer.
        KOREBOT_SUBSCRIPTION_INTERVAL="0.05",
    )
    with AppProcess(env) as app:
        yield Harness(kore, slack, app)
    check_clean(app, kore, slack)


@pytest.mark.parametrize(
    ("outcome", "emoji", "verb"),
    [
        (MlStatus("Finished"), ":white_check_mark:", "succeeded"),
        (MlStatus("Failed"), ":x:", "failed"),
    ],
)
def test_an_ml_training_in_progress_is_watched_to_its_end_in_the_thread(
    h: Harness, outcome: MlStatus, emoji: str, verb: str
) -> None:
    language = "de" if verb == "succeeded" else "fr"
    h.kore.script(BOT, language, RUNNING, RUNNING, outcome, kind="ml")
    channel = new_channel()
    url = h.ask(f"support {language}", channel, user="U0ML", command=ML)
    parent = h.parent(channel)
    assert parent["text"] == (
        f"ML training for support ({language}) is in progress; I will post the result in "
        "this thread."
    )
    assert has_buttons(parent)
    done = h.wait_reply(channel)
    (reply,) = done["replies"]
    assert reply["text"] == f"<@U0ML> {emoji} ML training for support ({language}) {verb}."
    assert done["text"] == f"{emoji} ML training for support ({language}) {verb}."
    assert not has_buttons(done)
    assert h.answers(url) == []  # the channel heard it all; nothing only for the asker
    # The ask, then a poll per step: all of them to the ML API, none to the FAQ one.
    assert kore_polls(h.kore, BOT, language, kind="ml") == 3
    assert kore_polls(h.kore, BOT, language, kind="faq") == 0


def test_an_out_of_sync_model_is_reported(h: Harness) -> None:
    stale = MlStatus("Finished", out_of_sync=("Synonyms", "Patterns"), train_version=4)
    h.kore.script(BOT, "es", stale, kind="ml", state="published")
    answer = h.answer(h.ask("support es published", new_channel(), command=ML))
    assert answer["response_type"] == "in_channel"
    text = alltext(answer)
    assert ":white_check_mark: ML training for support (es) succeeded" in text
    assert "the model is not in sync with: synonyms, patterns" in text
    assert "model version 4" in text
    assert "published" in text
    # In sync: nothing said about it.
    h.kore.script(BOT, "es", MlStatus("Finished"), kind="ml")
    assert "not in sync" not in alltext(h.answer(h.ask("support es", new_channel(), command=ML)))


def test_an_unknown_ml_status_is_shown_verbatim(h: Harness) -> None:
    h.kore.script(BOT, "pt", MlStatus("Queued-For-Review"), kind="ml")
    answer = h.answer(h.ask("support pt", new_channel(), command=ML))
    assert "ML training for support (pt) reports an unknown status `Queued-For-Review`" in (
        alltext(answer)
    )


def test_faq_and_ml_watches_of_one_training_are_kept_apart(h: Harness) -> None:
    h.kore.script(BOT, "it", Status("in-progress"), Status("in-progress"), Status("success"))
    h.kore.script(BOT, "it", RUNNING, RUNNING, RUNNING, MlStatus("Failed"), kind="ml")
    channel = new_channel()
    h.ask("support it", channel)
    h.ask("support it", channel, command=ML)

    def both_done(slack: FakeSlack) -> bool:
        top = slack.messages(channel)
        return len(top) == 2 and all(m["replies"] and "edited" in m for m in top)

    h.slack.wait_for(both_done, 15, f"two threads with results in {channel}")
    results = sorted(alltext(m["replies"][0]) for m in h.slack.messages(channel))
    assert len(results) == 2
    assert "FAQ training for support (it) succeeded" in results[0]
    assert "ML training for support (it) failed" in results[1]
    # Each kind was polled on its own, once per step, until its own end.
    assert kore_polls(h.kore, BOT, "it", kind="faq") == 3
    assert kore_polls(h.kore, BOT, "it", kind="ml") == 4


def test_list_shows_both_kinds_and_stop_stops_only_its_own(h: Harness) -> None:
    h.kore.script(BOT, "nl", Status("in-progress"))
    h.kore.script(BOT, "nl", RUNNING, kind="ml")
    channel = new_channel()
    h.ask("support nl", channel)
    h.parent(channel)
    h.ask("support nl", channel, command=ML)
    h.slack.wait_for(lambda s: len(s.messages(channel)) == 2, 10, "two watches")
    for command in ("/faq-status", ML):  # either command lists every kind
        listed = alltext(h.answer(h.ask("list", channel, command=command)))
        assert "Watched in this channel (2)" in listed
        assert f"• FAQ · *support (`{BOT}`)* · `nl` · configured · in-progress since" in listed
        assert f"• ML · *support (`{BOT}`)* · `nl` · configured · Inprogress since" in listed
    stopped = alltext(h.answer(h.ask("stop support nl", channel, command=ML)))
    assert "Stopped watching ML training for support (nl)." in stopped
    listed = alltext(h.answer(h.ask("list", channel)))
    assert "Watched in this channel (1)" in listed
    assert "• FAQ · " in listed
    nothing = alltext(h.answer(h.ask("stop support nl", channel, command=ML)))
    assert "Nothing to stop: ML training of support" in nothing
    h.answer(h.ask("stop support nl", channel))


def test_help_and_mistakes_name_the_command_typed(h: Harness) -> None:
    helped = alltext(h.answer(h.ask("help", new_channel(), command=ML)))
    assert "*Kore.ai ML training status*" in helped
    assert "`/ml-status subscribe support en`" in helped
    assert "/faq-status" not in helped
    wrong = alltext(h.answer(h.ask("support en published extra", new_channel(), command=ML)))
    assert "Usage: `/ml-status BOT LANG [configured|published]`" in wrong
    assert "/faq-status" not in wrong


def test_an_ml_subscription_announces_each_run_once(h: Harness) -> None:
    h.kore.script(BOT, "sv", MlStatus("Finished", train_version=1), kind="ml")
    channel = new_channel()
    confirmed = h.answer(h.ask("subscribe support sv", channel, command=ML))
    assert "subscribed this channel to ML training of" in alltext(confirmed)
    listed = alltext(h.answer(h.ask("list", channel)))
    assert f"• ML · *support (`{BOT}`)* · `sv` · configured" in listed

    def polls_later(more: int = 2) -> None:
        seen = kore_polls(h.kore, BOT, "sv", kind="ml")
        wait_polls(h.kore, BOT, "sv", seen + more, kind="ml")

    polls_later()  # armed: the first poll only recorded the current state
    assert h.slack.messages(channel) == []
    h.kore.script(BOT, "sv", RUNNING, kind="ml")
    started = h.parent(channel)
    assert started["text"] == (
        "ML training for support (sv) started; I will post the result in this thread."
    )
    h.kore.script(BOT, "sv", MlStatus("Finished", train_version=2), kind="ml")
    done = h.wait_reply(channel)
    assert ":white_check_mark: ML training for support (sv) succeeded" in done["replies"][0]["text"]
    polls_later()
    (message,) = h.slack.messages(channel)
    assert len(message["replies"]) == 1
    gone = h.answer(h.ask("unsubscribe support sv", channel, command=ML))
    assert "unsubscribed this channel from ML training" in alltext(gone)
