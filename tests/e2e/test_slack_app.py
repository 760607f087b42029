"""End to end: the real app process, signed slash commands, fake Kore.ai and fake Slack."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
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
)

from korebot.testing.app_process import AppProcess
from korebot.testing.fake_kore import Delay, Fail, FakeKore, Status
from korebot.testing.fake_slack import FakeSlack


@pytest.fixture(scope="module")
def shared(
    kore: FakeKore, slack: FakeSlack, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Harness]:
    db = tmp_path_factory.mktemp("db") / "korebot.db"
    with AppProcess(app_env(kore, slack, db)) as app:
        yield Harness(kore, slack, app)
    check_clean(app, kore, slack)


@pytest.fixture
def h(shared: Harness) -> Harness:
    return shared


# Answers without watching ---------------------------------------------------------


def test_final_status_is_answered_in_the_channel_with_blocks(h: Harness) -> None:
    h.kore.script(BOT, "de", Status("success", modified_on=None))
    channel = new_channel()
    answer = h.answer(h.ask("support de", channel))
    assert answer["response_type"] == "in_channel"
    text = alltext(answer)
    assert ":white_check_mark:" in text
    assert "succeeded" in text
    assert f"support (`{BOT}`)" in text
    assert "`de`" in text
    assert "configured" in text
    assert "<!date^" in text  # last change, in each reader's time zone
    assert "<@U0ASKER>" in text
    assert h.posts(channel) == []  # nothing to watch, so no thread


def test_failed_training_and_published_state(h: Harness) -> None:
    h.kore.script(BOT, "fr", Status("failure"), state="published")
    answer = h.answer(h.ask("Support FR Published", new_channel()))
    assert answer["response_type"] == "in_channel"
    assert ":x:" in alltext(answer)
    assert "failed" in alltext(answer)
    assert "published" in alltext(answer)


def test_unknown_status_is_shown_verbatim(h: Harness) -> None:
    h.kore.script(OTHER_BOT, "en", Status("queued-for-review"))
    answer = h.answer(h.ask("sales en", new_channel()))
    assert "queued-for-review" in alltext(answer)


@pytest.mark.parametrize("text", ["", "help", "  HELP  "])
def test_help_is_only_for_the_asker(h: Harness, text: str) -> None:
    answer = h.answer(h.ask(text, new_channel()))
    assert answer.get("response_type", "ephemeral") == "ephemeral"
    assert "/faq-status support en" in alltext(answer)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("nosuchbot en", "No bot called 'nosuchbot'"),
        ("support klingon-x", "is not a language code"),
        ("support en drafts", "is not a state"),
        ("support en configured extra", "Too many words"),
        ("list everything", "takes no arguments"),
        ("stop", "Say which bot"),
        ("st-0badc0de-0000-4e6f-8a9b-0c1d2e3f4a5b en", "not configured here"),
    ],
)
def test_bad_input_gets_a_specific_private_error(h: Harness, text: str, expected: str) -> None:
    before = len(h.kore.requests)
    answer = h.answer(h.ask(text, new_channel()))
    assert answer.get("response_type", "ephemeral") == "ephemeral"
    assert expected in alltext(answer)
    assert len(h.kore.requests) == before  # refused before any Kore.ai call


@pytest.mark.parametrize(
    "text",
    [
        '"support" en',
        "#support en",
        "  support   EN  ",
        "<#C0123|support> en",
        "\u2018support\u2019 en",
    ],
)
def test_slack_formatting_and_stray_characters_are_tolerated(h: Harness, text: str) -> None:
    h.kore.script(BOT, "en", Status("success"))
    answer = h.answer(h.ask(text, new_channel()))
    assert answer["response_type"] == "in_channel", alltext(answer)


def test_echoed_input_cannot_ping_a_channel(h: Harness) -> None:
    answer = h.answer(h.ask("<!channel> en <https://evil.example|click>", new_channel()))
    text = alltext(answer)
    for ping in ("<!channel>", "<!here>", "<https://evil"):
        assert ping not in text


def test_bots_lists_the_aliases(h: Harness) -> None:
    text = alltext(h.answer(h.ask("bots", new_channel())))
    assert "support" in text
    assert BOT in text
    assert "sales" in text


def test_kore_errors_are_told_to_the_asker(h: Harness) -> None:
    h.kore.script(OTHER_BOT, "it", Fail(404))
    answer = h.answer(h.ask("sales it", new_channel()))
    assert answer.get("response_type", "ephemeral") == "ephemeral"
    assert "does not know bot" in alltext(answer)


@pytest.mark.timing
def test_ack_comes_before_kore_answers(h: Harness) -> None:
    h.kore.script(OTHER_BOT, "nl", Delay(2), Status("success"))
    before = h.kore.count(OTHER_BOT)
    url = h.ask("sales nl", new_channel())
    # The command was acknowledged (ask asserts 200) while Kore.ai had not answered yet.
    assert h.kore.count(OTHER_BOT) == before
    assert h.answers(url) == []
    assert h.answer(url, timeout=15)["response_type"] == "in_channel"


def test_kore_down_is_answered_not_silent(h: Harness) -> None:
    h.kore.script(OTHER_BOT, "pt", Fail(503))
    answer = h.answer(h.ask("sales pt", new_channel()), timeout=60)
    assert "having trouble" in alltext(answer)


# Request verification ---------------------------------------------------------------


def test_forged_or_stale_requests_are_refused(h: Harness) -> None:
    forged = h.sender.command("support en", signature="v0=" + "0" * 64)
    assert forged.status_code == 401
    stale = h.sender.command("support en", timestamp=int(time.time()) - 6 * 60)
    assert stale.status_code == 401


def test_healthz_reports_database_and_scheduler(h: Harness) -> None:
    response = httpx.get(h.app.url + "/healthz")
    assert response.status_code == 200
    assert response.json()["database"] == "ok"
    assert response.json()["scheduler"] == "running"


# Watching --------------------------------------------------------------------------


def test_in_progress_is_watched_and_the_result_lands_in_the_thread(h: Harness) -> None:
    h.kore.script(BOT, "ja", Status("in-progress"), Status("in-progress"), Status("success"))
    channel = new_channel()
    url = h.ask("support ja", channel)
    parent = h.parent(channel)
    assert "is in progress; I will post the result in this thread" in parent["text"]
    assert has_buttons(parent)
    final = h.wait_reply(channel)
    (reply,) = final["replies"]
    assert "<@U0ASKER>" in reply["text"]
    assert "succeeded" in reply["text"]
    assert "succeeded" in final["text"]
    assert not has_buttons(final)
    assert h.answers(url) == []  # the channel message was the answer


def test_failure_is_reported_in_the_thread(h: Harness) -> None:
    h.kore.script(BOT, "ko", Status("in-progress"), Status("failure"))
    channel = new_channel()
    h.ask("support ko", channel)
    final = h.wait_reply(channel)
    assert "failed" in final["replies"][0]["text"]
    assert ":x:" in final["text"]


def test_second_ask_joins_the_watch_and_both_are_mentioned(h: Harness) -> None:
    h.kore.script(BOT, "es", Status("in-progress"))
    channel = new_channel()
    h.ask("support es", channel, user="U0FIRST")
    h.parent(channel)
    again = h.answer(h.ask("support es", channel, user="U0SECOND"))
    assert "already being watched" in alltext(again)
    assert "fake.slack.test/archives" in alltext(again)  # a link to the thread
    assert len(h.posts(channel)) == 1
    h.kore.script(BOT, "es", Status("success"))
    reply = h.wait_reply(channel)["replies"][0]["text"]
    assert "<@U0FIRST>" in reply
    assert "<@U0SECOND>" in reply


def test_two_channels_share_one_poll(h: Harness) -> None:
    h.kore.script(BOT, "sv", Status("in-progress"))
    first, second = new_channel(), new_channel()
    active = httpx.get(h.app.url + "/healthz").json()["watched_trainings"]
    h.ask("support sv", first)
    h.parent(first)
    h.ask("support sv", second)
    h.parent(second)
    # One watched training (one poll job) for the two channels.
    assert httpx.get(h.app.url + "/healthz").json()["watched_trainings"] == active + 1
    h.kore.script(BOT, "sv", Status("success"))
    h.wait_reply(first)
    h.wait_reply(second)


def test_list_and_stop(h: Harness) -> None:
    h.kore.script(OTHER_BOT, "da", Status("in-progress"))
    channel = new_channel()
    h.ask("sales da", channel)
    h.parent(channel)
    listed = alltext(h.answer(h.ask("list", channel)))
    assert "sales" in listed
    assert "`da`" in listed
    assert "thread" in listed
    stopped = h.answer(h.ask("stop sales da", channel))
    assert "Stopped watching" in alltext(stopped)
    h.slack.wait_for(lambda s: "edited" in s.messages(channel)[0], 10, "parent updated")
    parent = h.slack.messages(channel)[0]
    assert "stopped watching" in parent["text"]
    assert not has_buttons(parent)
    assert "Nothing is watched" in alltext(h.answer(h.ask("list", channel)))
    nothing = h.answer(h.ask("stop sales da", channel))
    assert "Nothing to stop" in alltext(nothing)


def test_stop_button(h: Harness) -> None:
    h.kore.script(OTHER_BOT, "fi", Status("in-progress"))
    channel = new_channel()
    h.ask("sales fi", channel)
    parent = h.parent(channel)
    (actions,) = [b for b in parent["blocks"] if b["type"] == "actions"]
    button = actions["elements"][0]
    response = h.sender.action(
        button["action_id"], button["value"], channel_id=channel, message_ts=parent["ts"]
    )
    assert response.status_code == 200
    h.slack.wait_for(lambda s: "edited" in s.messages(channel)[0], 10, "parent updated")
    assert "stopped watching" in h.slack.messages(channel)[0]["text"]


def test_bot_not_in_channel_delivers_by_direct_message(h: Harness) -> None:
    h.kore.script(BOT, "pl", Status("in-progress"), Status("success"))
    channel = new_channel()
    h.slack.set_channel(channel, member=False)
    url = h.ask("support pl", channel, user="U0PRIVATE")
    notice = alltext(h.answer(url))
    assert "/invite @korebot" in notice
    assert "direct message" in notice
    final = h.wait_reply("U0PRIVATE")  # the app's DM with the asker
    assert "succeeded" in final["replies"][0]["text"]


# Lifecycle (own app processes) -----------------------------------------------------


def test_watch_gives_up_after_the_timeout(kore: FakeKore, slack: FakeSlack, tmp_path: Path) -> None:
    kore.script(BOT, "cs", Status("in-progress"))
    env = app_env(kore, slack, tmp_path / "k.db", KOREBOT_WATCH_TIMEOUT="1")
    with AppProcess(env) as app:
        h = Harness(kore, slack, app)
        channel = new_channel()
        h.ask("support cs", channel)
        final = h.wait_reply(channel)
    reply = final["replies"][0]["text"]
    assert "stopped watching after 1 s" in reply
    assert "in-progress" in reply
    assert not has_buttons(final)


@pytest.mark.parametrize("how", ["SIGTERM", "SIGKILL"])
def test_a_restart_resumes_the_watch(
    kore: FakeKore, slack: FakeSlack, tmp_path: Path, how: str
) -> None:
    language = "hu" if how == "SIGTERM" else "ro"
    kore.script(BOT, language, Status("in-progress"))
    env = app_env(kore, slack, tmp_path / "k.db")
    channel = new_channel()
    first = AppProcess(env).start()
    before = Harness(kore, slack, first)
    before.ask(f"support {language}", channel)
    before.parent(channel)  # posted and recorded
    if how == "SIGTERM":
        assert first.stop() == 0
    else:
        first.kill()
    kore.script(BOT, language, Status("success"))
    with AppProcess(env) as second:
        final = Harness(kore, slack, second).wait_reply(channel)
    assert len(final["replies"]) == 1
    assert "succeeded" in final["replies"][0]["text"]


def test_asks_from_many_channels_about_a_watched_training_make_one_call(
    kore: FakeKore, slack: FakeSlack, tmp_path: Path
) -> None:
    # No answer cache and a first poll a minute away: only the watch can answer the others.
    env = app_env(
        kore,
        slack,
        tmp_path / "korebot.db",
        KOREBOT_POLL_INTERVAL="60",
        KOREBOT_STATUS_CACHE="0",
    )
    kore.script(BOT, "rda", Status("in-progress"))
    with AppProcess(env) as app:
        h = Harness(kore, slack, app)
        channels = [new_channel() for _ in range(6)]
        for channel in channels:
            h.ask("support rda", channel)
            assert "in progress" in h.parent(channel)["text"]
        assert kore_polls(kore, BOT, "rda") == 1
