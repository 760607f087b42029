"""End to end: channel subscriptions (`/faq-status subscribe`), through the real app process.

The fake Kore.ai plays training runs over time. Every scripted step has an explicit
``modifiedOn`` (the fake's default is "now", which would look like a new run at every
poll). Idle subscriptions are polled every 0.2 s here, as often as running trainings
(KOREBOT_SUBSCRIPTION_INTERVAL = KOREBOT_POLL_INTERVAL), so nothing waits on a timer:
tests wait for Slack messages, log lines or a number of Kore.ai requests.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from support.slack_app import (
    BOT,
    OTHER_BOT,
    Harness,
    alltext,
    app_env,
    check_clean,
    has_buttons,
    kore_polls,
    new_channel,
    wait_polls,
    wait_until,
)

from korebot.testing.app_process import AppProcess
from korebot.testing.fake_kore import Fail, FakeKore, MlStatus, Status
from korebot.testing.fake_slack import FakeSlack, SlackCall
from korebot.watch.store.tables import Subscription

SUBSCRIPTION_ENV = {
    # As often as a running training (the engine ticks every 0.05 s).
    "KOREBOT_SUBSCRIPTION_INTERVAL": "0.2",
    "KOREBOT_POLL_INTERVAL": "0.2",
    "KOREBOT_POLL_MAX_INTERVAL": "0.2",  # runs are polled as often when they go on
    # Every ask reaches the fake, and the tests' many polls stay within the rate budget
    # (the gateway's cache and budget have their own tests).
    "KOREBOT_STATUS_CACHE": "0",
    "KOREBOT_KORE_CALLS_PER_MINUTE": "100000",
    "KOREBOT_KORE_CALLS_PER_HOUR": "1000000",
}
YESTERDAY = datetime(2024, 5, 1, 17, 30, tzinfo=UTC)


def at(hours: int) -> datetime:
    """A training's modifiedOn, `hours` after the one that ended yesterday."""
    return YESTERDAY + timedelta(hours=hours)


def idle(hours: int = 0, status: str = "success") -> Status:
    return Status(status, modified_on=at(hours))


def running(hours: int) -> Status:
    return Status("in-progress", modified_on=at(hours))


def ended(kind: str, run: int, status: str = "success") -> Status | MlStatus:
    """A run that ended, as the kind's API tells it: FAQ by its modifiedOn, ML by the
    model's trainVersion (a failed ML run has none, as in Kore.ai's samples)."""
    if kind == "faq":
        return idle(run, status)
    return MlStatus("Finished", train_version=run) if status == "success" else MlStatus("Failed")


COMMAND = {"faq": "/faq-status", "ml": "/ml-status"}


@pytest.fixture(scope="module")
def shared(
    kore: FakeKore, slack: FakeSlack, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Harness]:
    db = tmp_path_factory.mktemp("db") / "korebot.db"
    with AppProcess(app_env(kore, slack, db, **SUBSCRIPTION_ENV)) as app:
        yield Harness(kore, slack, app)
    check_clean(app, kore, slack)


# (text, channel, command) of this test's subscribe commands
_subscribed: list[tuple[str, str, str]] = []


@pytest.fixture
def h(shared: Harness) -> Iterator[Harness]:
    _subscribed.clear()
    yield shared
    # Idle subscriptions are polled at every tick: leave none behind for the next tests.
    for text, channel, command in _subscribed:
        shared.answer(shared.ask(f"unsubscribe {text}", channel, command=command))


# Helpers ----------------------------------------------------------------------------


def subscribe(
    h: Harness, text: str, channel: str, user: str = "U0ASKER", command: str = "/faq-status"
) -> dict[str, Any]:
    """`/faq-status subscribe TEXT` (or `command`'s); the confirmation must be visible in the
    channel."""
    answer = h.answer(h.ask(f"subscribe {text}", channel, user, command))
    assert answer["response_type"] == "in_channel", alltext(answer)
    _subscribed.append((text, channel, command))
    return answer


def unsubscribe(h: Harness, text: str, channel: str, user: str = "U0ASKER") -> dict[str, Any]:
    answer = h.answer(h.ask(f"unsubscribe {text}", channel, user))
    assert answer["response_type"] == "in_channel", alltext(answer)
    return answer


def private(h: Harness, text: str, channel: str, user: str = "U0ASKER") -> str:
    """The text of an answer that only the asker sees."""
    answer = h.answer(h.ask(text, channel, user))
    assert answer.get("response_type", "ephemeral") == "ephemeral", alltext(answer)
    return alltext(answer)


def later_polls(h: Harness, bot: str, language: str, more: int = 2, kind: str = "faq") -> None:
    """Wait until Kore.ai was asked `more` more times about the target."""
    seen = kore_polls(h.kore, bot, language, kind=kind)
    wait_polls(h.kore, bot, language, seen + more, kind=kind)


def armed(h: Harness, bot: str, language: str, kind: str = "faq") -> None:
    """After a confirmation: wait until a poll has recorded the state for the new subscription.

    Any poll answered after the confirmation arms it when it commits, and a target's next
    poll is claimed after that commit; two answers leave room for one that was in flight.
    """
    later_polls(h, bot, language, 2, kind)


def top(h: Harness, channel: str) -> list[dict[str, Any]]:
    return h.slack.messages(channel)


def announced(h: Harness, channel: str, count: int = 1, timeout: float = 10.0) -> dict[str, Any]:
    """The `count`-th top-level message of a channel, once posted and its thread recorded."""
    h.slack.wait_for(
        lambda s: len(s.messages(channel)) >= count, timeout, f"{count} message(s) in {channel}"
    )
    message = top(h, channel)[count - 1]
    h.recorded(message["ts"])
    return message


def concluded(h: Harness, channel: str, index: int = 0, timeout: float = 10.0) -> dict[str, Any]:
    """A top-level message once its thread has a reply and it was updated."""

    def done(slack: FakeSlack) -> bool:
        messages = slack.messages(channel)
        return (
            len(messages) > index
            and bool(messages[index]["replies"])
            and ("edited" in messages[index])
        )

    h.slack.wait_for(done, timeout, f"the result of message {index} in {channel}")
    return top(h, channel)[index]


def updates(h: Harness, ts: str) -> list[SlackCall]:
    return [c for c in h.slack.calls_to("chat.update") if c.args.get("ts") == ts]


def watched_trainings(h: Harness) -> int:
    return int(httpx.get(h.app.url + "/healthz").json()["watched_trainings"])


# Commands ---------------------------------------------------------------------------


def test_subscribe_and_unsubscribe_are_told_to_the_channel_errors_to_the_asker(
    h: Harness,
) -> None:
    h.kore.script(BOT, "de", idle())
    h.kore.script(BOT, "de", idle(), state="published")
    channel = new_channel()
    before = watched_trainings(h)
    text = alltext(subscribe(h, "support de", channel, user="U0LEAD"))
    assert "<@U0LEAD> subscribed this channel" in text
    assert f"support (`{BOT}`)" in text
    assert "`de` · configured" in text
    assert "announce each training's start here" in text
    published = alltext(subscribe(h, "Support DE Published", channel))
    assert "`de` · published" in published

    assert "already subscribed" in private(h, "subscribe support de", channel)
    assert "No bot called 'nosuchbot'" in private(h, "subscribe nosuchbot de", channel)
    assert "Say which bot" in private(h, "subscribe", channel)
    assert "is not a language code" in private(h, "subscribe support klingon-x", channel)
    assert "not subscribed to sales" in private(h, "unsubscribe sales de", channel)

    # A watch beside the subscriptions: list shows both, to the asker only.
    h.kore.script(OTHER_BOT, "de", running(1))
    h.ask("sales de", channel)
    h.parent(channel)
    listed = private(h, "list", channel)
    assert "Watched in this channel (1)" in listed
    assert f"sales (`{OTHER_BOT}`)" in listed
    assert "Subscriptions (2)" in listed
    assert f"support (`{BOT}`)* · `de` · configured" in listed
    assert f"support (`{BOT}`)* · `de` · published" in listed
    assert watched_trainings(h) == before + 3  # two subscriptions and a watch

    gone = alltext(unsubscribe(h, "support de", channel, user="U0LEAD"))
    assert "<@U0LEAD> unsubscribed this channel" in gone
    assert "`de` · configured" in gone
    listed = private(h, "list", channel)
    assert "Subscriptions (1)" in listed
    assert f"support (`{BOT}`)* · `de` · configured" not in listed
    assert "Watched in this channel (1)" in listed
    assert "not subscribed to support" in private(h, "unsubscribe support de", channel)
    unsubscribe(h, "support de published", channel)
    assert watched_trainings(h) == before + 1  # no more polls for what nobody follows
    assert "Stopped watching" in private(h, "stop sales de", channel)
    assert "Nothing is watched or subscribed" in private(h, "list", channel)
    assert len(h.posts(channel)) == 1  # only the watch's message: commands answer elsewhere


# Runs -------------------------------------------------------------------------------


def test_the_first_poll_only_records_the_current_state(h: Harness) -> None:
    h.kore.script(BOT, "fr", idle(0))  # a training that ended yesterday
    channel = new_channel()
    subscribe(h, "support fr", channel)
    armed(h, BOT, "fr")
    later_polls(h, BOT, "fr", 3)
    assert h.posts(channel) == []
    # Not deaf, only quiet: the next run is announced.
    h.kore.script(BOT, "fr", running(20))
    assert "started" in announced(h, channel)["text"]


def test_each_run_is_announced_once_with_its_result_in_the_thread(h: Harness) -> None:
    h.kore.script(BOT, "it", idle(0))
    channel = new_channel()
    subscribe(h, "support it", channel)
    armed(h, BOT, "it")

    h.kore.script(BOT, "it", running(1))
    first = announced(h, channel)
    assert first["text"] == (
        "FAQ training for support (it) started; I will post the result in this thread."
    )
    assert has_buttons(first)
    later_polls(h, BOT, "it")  # still running: nothing more to say
    assert len(top(h, channel)) == 1
    assert top(h, channel)[0]["replies"] == []
    assert updates(h, first["ts"]) == []

    h.kore.script(BOT, "it", idle(2))
    done = concluded(h, channel)
    (reply,) = done["replies"]
    assert "succeeded" in reply["text"]
    assert done["text"] == ":white_check_mark: FAQ training for support (it) succeeded."
    assert not has_buttons(done)
    later_polls(h, BOT, "it")
    assert len(top(h, channel)) == 1
    assert len(top(h, channel)[0]["replies"]) == 1
    assert len(updates(h, first["ts"])) == 1

    # The next run, with a new modifiedOn: a new message and thread.
    h.kore.script(BOT, "it", running(3))
    second = announced(h, channel, 2)
    assert "started" in second["text"]
    h.kore.script(BOT, "it", idle(4, "failure"))
    done = concluded(h, channel, 1)
    assert "failed" in done["replies"][0]["text"]
    assert ":x:" in done["text"]
    later_polls(h, BOT, "it")
    assert [len(m["replies"]) for m in top(h, channel)] == [1, 1]
    assert len(h.posts(channel)) == 4  # two messages, two replies
    assert len(updates(h, second["ts"])) == 1
    assert len(updates(h, first["ts"])) == 1


@pytest.mark.parametrize("kind", ["faq", "ml"])
def test_a_run_between_two_polls_gets_one_message(h: Harness, kind: str) -> None:
    h.kore.script(BOT, "nl", ended(kind, 1), kind=kind)
    channel = new_channel()
    subscribe(h, "support nl", channel, command=COMMAND[kind])
    armed(h, BOT, "nl", kind)
    assert h.posts(channel) == []
    other = "ml" if kind == "faq" else "faq"
    others = kore_polls(h.kore, BOT, "nl", kind=other)

    # Final again, of a new run: a new modifiedOn (FAQ), a higher trainVersion (ML).
    h.kore.script(BOT, "nl", ended(kind, 2), kind=kind)
    h.slack.wait_for(lambda s: bool(s.messages(channel)), 10, f"a message in {channel}")
    later_polls(h, BOT, "nl", kind=kind)
    (message,) = top(h, channel)
    assert message["text"] == (
        f":white_check_mark: {kind.upper()} training for support (nl) succeeded "
        "(it started and ended between my checks)."
    )
    assert message["replies"] == []
    assert not has_buttons(message)
    assert updates(h, message["ts"]) == []

    h.kore.script(BOT, "nl", ended(kind, 3, "failure"), kind=kind)
    h.slack.wait_for(lambda s: len(s.messages(channel)) == 2, 10, "a second message")
    later_polls(h, BOT, "nl", kind=kind)
    assert len(h.posts(channel)) == 2
    assert "failed (it started and ended between my checks)" in top(h, channel)[1]["text"]
    # Only the kind subscribed to was asked about.
    assert kore_polls(h.kore, BOT, "nl", kind=other) == others


def test_a_channel_that_also_asked_gets_one_thread(h: Harness) -> None:
    h.kore.script(BOT, "es", idle(0))
    channel = new_channel()
    subscribe(h, "support es", channel)
    armed(h, BOT, "es")
    h.kore.script(BOT, "es", running(1))
    parent = announced(h, channel)

    again = private(h, "support es", channel, user="U0COLLEAGUE")
    assert "already being watched here; I added you" in again
    assert f"p{parent['ts'].replace('.', '')}" in again  # a link to the subscription's thread
    h.kore.script(BOT, "es", idle(2))
    done = concluded(h, channel)
    (reply,) = done["replies"]
    assert "<@U0COLLEAGUE>" in reply["text"]
    assert "succeeded" in reply["text"]
    assert len(h.posts(channel)) == 2


def test_subscribing_while_watching_keeps_one_thread(h: Harness) -> None:
    h.kore.script(BOT, "pt", running(1))
    channel = new_channel()
    h.ask("support pt", channel)
    parent = h.parent(channel)
    assert "is in progress" in parent["text"]
    subscribe(h, "support pt", channel)
    armed(h, BOT, "pt")
    h.kore.script(BOT, "pt", idle(2))
    done = concluded(h, channel)
    assert len(top(h, channel)) == 1
    assert "<@U0ASKER>" in done["replies"][0]["text"]
    # The subscription goes on with the next run.
    h.kore.script(BOT, "pt", running(3))
    assert "started" in announced(h, channel, 2)["text"]
    h.kore.script(BOT, "pt", idle(4))
    assert "succeeded" in concluded(h, channel, 1)["replies"][0]["text"]
    assert len(h.posts(channel)) == 4


@pytest.mark.parametrize("kind", ["faq", "ml"])
def test_subscribing_while_a_training_runs_reports_that_run_once(h: Harness, kind: str) -> None:
    in_progress = running(1) if kind == "faq" else MlStatus("Inprogress")
    h.kore.script(BOT, "el", in_progress, kind=kind)
    channel = new_channel()
    # The first poll finds the run in progress.
    subscribe(h, "support el", channel, command=COMMAND[kind])
    parent = announced(h, channel)
    assert parent["text"] == (
        f"{kind.upper()} training for support (el) started; I will post the result in this thread."
    )
    later_polls(h, BOT, "el", kind=kind)
    assert len(top(h, channel)) == 1
    h.kore.script(BOT, "el", ended(kind, 2), kind=kind)
    done = concluded(h, channel)
    (reply,) = done["replies"]
    assert "succeeded" in reply["text"]
    assert done["text"] == f":white_check_mark: {kind.upper()} training for support (el) succeeded."
    later_polls(h, BOT, "el", kind=kind)
    assert len(top(h, channel)) == 1  # no "started and ended between my checks" message
    assert len(h.posts(channel)) == 2
    assert len(updates(h, parent["ts"])) == 1


def test_subscribing_to_a_training_known_to_run_says_so(h: Harness) -> None:
    h.kore.script(BOT, "tr", running(1))
    asking, subscribing = new_channel(), new_channel()
    h.ask("support tr", asking)
    h.parent(asking)  # its status is the target's last
    text = alltext(subscribe(h, "support tr", subscribing, user="U0LEAD"))
    assert "<@U0LEAD> subscribed this channel" in text
    assert "A training is in progress now: its result will come in a thread here." in text
    parent = announced(h, subscribing)
    assert "FAQ training for support (tr)" in parent["text"]
    h.kore.script(BOT, "tr", idle(2))
    for channel in (asking, subscribing):
        (reply,) = concluded(h, channel)["replies"]
        assert "succeeded" in reply["text"]
    later_polls(h, BOT, "tr")
    assert len(top(h, subscribing)) == 1
    assert len(h.posts(subscribing)) == 2
    assert len(updates(h, parent["ts"])) == 1
    # A subscription made while nothing runs says nothing of the kind.
    assert "in progress" not in alltext(subscribe(h, "support tr", new_channel()))


def test_two_channels_share_one_poll(h: Harness) -> None:
    h.kore.script(BOT, "sv", idle(0))
    h.kore.script(OTHER_BOT, "sv", idle(0))
    control, first, second = new_channel(), new_channel(), new_channel()
    before = watched_trainings(h)
    subscribe(h, "sales sv", control)  # one channel on another bot: the yardstick
    subscribe(h, "support sv", first)
    armed(h, OTHER_BOT, "sv")
    armed(h, BOT, "sv")
    assert watched_trainings(h) == before + 2

    def polls_while_control_is_polled(times: int) -> int:
        """Polls of support sv while sales sv (polled at the same cadence) is polled `times`."""
        control_start, start = kore_polls(h.kore, OTHER_BOT, "sv"), kore_polls(h.kore, BOT, "sv")
        wait_polls(h.kore, OTHER_BOT, "sv", control_start + times)
        return kore_polls(h.kore, BOT, "sv") - start

    alone = polls_while_control_is_polled(10)
    subscribe(h, "support sv", second)
    armed(h, BOT, "sv")
    assert watched_trainings(h) == before + 2  # still one target for the two channels
    together = polls_while_control_is_polled(10)
    # One poll per tick for each target, however many channels: 10 each (±2 at the edges);
    # a poll per channel would make it 20.
    assert 8 <= alone <= 12
    assert 8 <= together <= 12

    # Every answer reaches both channels: each step of the script is taken by one request.
    h.kore.script(BOT, "sv", running(1), idle(2), running(3), idle(4, "failure"))
    for channel in (first, second):
        assert "succeeded" in concluded(h, channel, 0)["replies"][0]["text"]
        assert "failed" in concluded(h, channel, 1)["replies"][0]["text"]
    later_polls(h, BOT, "sv")
    for channel in (first, second):
        assert [len(m["replies"]) for m in top(h, channel)] == [1, 1]
        assert [m["text"] for m in top(h, channel)] == [
            ":white_check_mark: FAQ training for support (sv) succeeded.",
            ":x: FAQ training for support (sv) failed.",
        ]
    assert h.posts(control) == []


def test_unsubscribe_stops_the_messages(h: Harness) -> None:
    h.kore.script(OTHER_BOT, "da", idle(0))
    leaving, staying = new_channel(), new_channel()
    subscribe(h, "sales da", leaving)
    subscribe(h, "sales da", staying)
    armed(h, OTHER_BOT, "da")
    h.kore.script(OTHER_BOT, "da", running(1))
    for channel in (leaving, staying):
        announced(h, channel)
    h.kore.script(OTHER_BOT, "da", idle(2))
    for channel in (leaving, staying):
        concluded(h, channel)

    unsubscribe(h, "sales da", leaving)
    h.kore.script(OTHER_BOT, "da", running(3))
    announced(h, staying, 2)
    h.kore.script(OTHER_BOT, "da", idle(4))
    concluded(h, staying, 1)
    later_polls(h, OTHER_BOT, "da")
    assert len(top(h, leaving)) == 1
    assert len(h.posts(leaving)) == 2  # the first run's message and result only
    assert len(top(h, staying)) == 2


def test_unsubscribing_during_a_run_stops_its_thread(h: Harness) -> None:
    h.kore.script(OTHER_BOT, "fi", idle(0))
    leaving, staying = new_channel(), new_channel()
    subscribe(h, "sales fi", leaving)
    subscribe(h, "sales fi", staying)
    armed(h, OTHER_BOT, "fi")
    h.kore.script(OTHER_BOT, "fi", running(1))
    parent = announced(h, leaving)
    announced(h, staying)

    unsubscribe(h, "sales fi", leaving, user="U0LEAVER")
    h.slack.wait_for(lambda s: "edited" in s.messages(leaving)[0], 10, "the message updated")
    stopped = top(h, leaving)[0]
    assert "<@U0LEAVER> stopped watching FAQ training for sales (fi)" in stopped["text"]
    assert not has_buttons(stopped)
    h.kore.script(OTHER_BOT, "fi", idle(2))
    concluded(h, staying)
    later_polls(h, OTHER_BOT, "fi")
    assert top(h, leaving)[0]["replies"] == []
    assert len(updates(h, parent["ts"])) == 1


def test_unsubscribing_leaves_a_watch_someone_asked_for(h: Harness) -> None:
    h.kore.script(BOT, "cs", idle(0))
    channel = new_channel()
    subscribe(h, "support cs", channel)
    armed(h, BOT, "cs")
    h.kore.script(BOT, "cs", running(1))
    parent = announced(h, channel)
    again = private(h, "support cs", channel, user="U0COLLEAGUE")
    assert "already being watched here; I added you" in again

    unsubscribe(h, "support cs", channel, user="U0LEAVER")
    listed = private(h, "list", channel)
    assert "Watched in this channel (1)" in listed
    assert "Subscriptions" not in listed
    later_polls(h, BOT, "cs")  # still polled, for the colleague
    assert updates(h, parent["ts"]) == []  # not stopped
    h.kore.script(BOT, "cs", idle(2))
    done = concluded(h, channel)
    (reply,) = done["replies"]
    assert "<@U0COLLEAGUE>" in reply["text"]
    assert "succeeded" in reply["text"]
    assert done["text"] == ":white_check_mark: FAQ training for support (cs) succeeded."
    assert len(updates(h, parent["ts"])) == 1
    assert len(h.posts(channel)) == 2


# Failures ---------------------------------------------------------------------------


def test_a_permanently_failing_bot_pauses_the_subscription_once(h: Harness) -> None:
    h.kore.script(BOT, "ko", idle(0))
    h.kore.script(OTHER_BOT, "ko", idle(0))
    control, first, second = new_channel(), new_channel(), new_channel()
    subscribe(h, "sales ko", control)
    subscribe(h, "support ko", first)
    subscribe(h, "support ko", second)
    armed(h, BOT, "ko")
    before = watched_trainings(h)

    h.kore.script(BOT, "ko", Fail(401))  # credentials revoked
    for channel in (first, second):
        h.slack.wait_for(lambda s, c=channel: bool(s.messages(c)), 10, f"a message in {channel}")
    failed = kore_polls(h.kore, BOT, "ko")
    assert watched_trainings(h) == before - 1  # no longer polled
    # While the yardstick is polled five more times: not one more poll, not one more message.
    wait_polls(h.kore, OTHER_BOT, "ko", kore_polls(h.kore, OTHER_BOT, "ko") + 5)
    assert kore_polls(h.kore, BOT, "ko") == failed
    for channel in (first, second):
        (message,) = top(h, channel)
        assert "Subscription to FAQ training of *support" in message["text"]
        assert "is paused: Kore.ai rejected the credentials" in message["text"]
        assert "`/faq-status subscribe support ko` to resume" in message["text"]
    assert "paused: Kore.ai rejected the credentials" in private(h, "list", first)

    h.kore.script(BOT, "ko", idle(0))  # fixed
    resumed = alltext(subscribe(h, "support ko", first, user="U0FIXER"))
    assert "<@U0FIXER> resumed this channel's subscription" in resumed
    armed(h, BOT, "ko")
    assert watched_trainings(h) == before
    assert "paused" not in private(h, "list", first)
    h.kore.script(BOT, "ko", running(1))
    assert "started" in announced(h, first, 2)["text"]
    h.kore.script(BOT, "ko", idle(2))
    assert "succeeded" in concluded(h, first, 1)["replies"][0]["text"]
    # The other channel stays paused until someone there subscribes again.
    assert len(top(h, second)) == 1
    assert "paused" in private(h, "list", second)


@pytest.mark.parametrize(
    ("language", "state", "error"),
    [("pl", {"archived": True}, "is_archived"), ("ro", {"exists": False}, "channel_not_found")],
)
def test_a_channel_gone_drops_its_subscription(
    h: Harness, language: str, state: dict[str, bool], error: str
) -> None:
    h.kore.script(BOT, language, idle(0))
    gone, staying = new_channel(), new_channel()
    subscribe(h, f"support {language}", gone)
    subscribe(h, f"support {language}", staying)
    armed(h, BOT, language)
    h.slack.set_channel(gone, **state)

    h.kore.script(BOT, language, running(1))
    announced(h, staying)
    dropped = select(Subscription.id).where(Subscription.channel_id == gone)
    wait_until(lambda: h.rows(dropped) == [], 10, f"the subscription of {gone} dropped")
    assert "Nothing is watched or subscribed" in private(h, "list", gone)
    h.kore.script(BOT, language, idle(2))
    concluded(h, staying)
    later_polls(h, BOT, language)
    assert top(h, gone) == []
    assert len(h.posts(gone)) == 1  # one refused attempt, never retried
    assert not h.posts(gone)[0].ok
    assert f"support (`{BOT}`)" in private(h, "list", staying)


# Restart (own app processes) ---------------------------------------------------------


def test_a_restart_in_the_middle_of_a_run_reports_its_end_once(
    kore: FakeKore, slack: FakeSlack, tmp_path: Path
) -> None:
    kore.script(BOT, "hu", idle(0))
    env = app_env(kore, slack, tmp_path / "k.db", **SUBSCRIPTION_ENV)
    channel = new_channel()
    with AppProcess(env) as first:
        before = Harness(kore, slack, first)
        subscribe(before, "support hu", channel)
        armed(before, BOT, "hu")
        kore.script(BOT, "hu", running(1))
        parent = announced(before, channel)
        later_polls(before, BOT, "hu", 2)
        assert first.stop() == 0
    check_clean(first, kore, slack)

    with AppProcess(env) as second:
        after = Harness(kore, slack, second)
        later_polls(after, BOT, "hu")  # the run is still going: no second announcement
        assert len(top(after, channel)) == 1
        kore.script(BOT, "hu", idle(2))
        done = concluded(after, channel)
        later_polls(after, BOT, "hu")
    check_clean(second, kore, slack)
    assert done["ts"] == parent["ts"]
    (reply,) = top(after, channel)[0]["replies"]
    assert "succeeded" in reply["text"]
    assert len(top(after, channel)) == 1
    assert len(updates(after, parent["ts"])) == 1
