"""Unit tests of `/faq-status BOT LANG [state]` (commands/status.py), called directly with
Bolt's `Respond` and real services: the status, the watch of a running training, and
every way watching can be refused while the status is still told.
"""

from __future__ import annotations

from pathlib import Path

from support.in_process import ALLOWED, BOSS, Listeners, command, new_language
from support.slack_app import BOT, OTHER_BOT, alltext, has_buttons, new_channel

from korebot.kore import State
from korebot.slack.listeners.commands.status import ask_status
from korebot.slack.parsing import AskStatus
from korebot.testing.fake_kore import Fail, Status


def ask(
    listeners: Listeners, asked: AskStatus, channel: str, user: str = "U0ASKER"
) -> list[dict[str, object]]:
    """Every answer to the ask, in order."""
    respond = listeners.respond()
    ask_status(listeners.services, asked, command("", channel, user), respond, listeners.client)
    return listeners.answers(respond)


def support(language: str, state: State = State.CONFIGURED) -> AskStatus:
    return AskStatus("support", language, state)


def test_a_finished_training_is_told_to_the_channel(listeners: Listeners) -> None:
    language, channel = new_language(), new_channel()
    listeners.kore.script(BOT, language, Status("success"), state="published")
    (answer,) = ask(listeners, support(language, State.PUBLISHED), channel)
    assert answer["response_type"] == "in_channel"
    assert "succeeded" in alltext(answer)
    assert listeners.slack.messages(channel) == []  # nothing to watch


def test_a_running_training_is_watched_in_the_channel(listeners: Listeners) -> None:
    language, channel = new_language(), new_channel()
    listeners.kore.script(BOT, language, Status("in-progress"))
    assert ask(listeners, support(language), channel) == []  # the watch's message answers
    (parent,) = listeners.slack.messages(channel)
    assert "in progress" in parent["text"]
    assert has_buttons(parent)
    (watch,) = listeners.engine.watches_in(channel)
    assert watch.language == language

    (again,) = ask(listeners, support(language), channel, user="U0SECOND")
    assert again.get("response_type", "ephemeral") == "ephemeral"
    assert "already being watched here; I added you" in alltext(again)
    assert "|this thread>" in alltext(again)  # the permalink to the watch's message
    assert len(listeners.slack.messages(channel)) == 1


def test_a_channel_without_the_app_gets_the_watch_by_direct_message(
    listeners: Listeners,
) -> None:
    language, channel = new_language(), new_channel()
    listeners.slack.set_channel(channel, member=False)
    listeners.kore.script(BOT, language, Status("in-progress"))
    (notice,) = ask(listeners, support(language), channel, user="U0LONELY")
    assert "/invite @korebot" in alltext(notice)
    assert listeners.slack.messages("U0LONELY")


def test_the_bots_default_language_and_access_rules(listeners: Listeners) -> None:
    listeners.kore.script(OTHER_BOT, "de", Status("success"))
    before = listeners.kore.count(OTHER_BOT)
    (elsewhere,) = ask(listeners, AskStatus("secret", None, State.CONFIGURED), new_channel(), BOSS)
    assert "can't be asked about in this channel" in alltext(elsewhere)
    (stranger,) = ask(listeners, AskStatus("secret", None, State.CONFIGURED), ALLOWED, "U0X")
    assert "not on the list" in alltext(stranger)
    assert listeners.kore.count(OTHER_BOT) == before  # refused before asking Kore.ai
    (told,) = ask(listeners, AskStatus("secret", None, State.CONFIGURED), ALLOWED, BOSS)
    assert told["response_type"] == "in_channel"
    assert "`de`" in alltext(told)


def test_bad_input_is_refused(listeners: Listeners) -> None:
    (unknown,) = ask(listeners, AskStatus("nobody", "en", State.CONFIGURED), new_channel())
    assert "See `/faq-status bots`" in alltext(unknown)
    raw = AskStatus(OTHER_BOT.replace("9", "8"), "en", State.CONFIGURED)
    (not_allowed,) = ask(listeners, raw, new_channel())
    assert "See `/faq-status bots`" in alltext(not_allowed)
    (no_language,) = ask(listeners, AskStatus("support", None, State.CONFIGURED), new_channel())
    assert "Say which language: `/faq-status support en`" in alltext(no_language)


def test_a_kore_error_is_told_privately(listeners: Listeners) -> None:
    language = new_language()
    listeners.kore.script(BOT, language, Fail(404))
    (answer,) = ask(listeners, support(language), new_channel())
    assert answer.get("response_type", "ephemeral") == "ephemeral"
    assert f"Kore.ai does not know bot {BOT} with FAQ training in language '{language}'" in alltext(
        answer
    )


def test_the_channels_watch_limit_refuses_a_new_watch(listeners: Listeners, tmp_path: Path) -> None:
    limited = Listeners(listeners.kore, listeners.slack, tmp_path, max_watches_per_channel=1)
    try:
        channel, first, second = new_channel(), new_language(), new_language()
        for language in (first, second):
            listeners.kore.script(BOT, language, Status("in-progress"))
        assert ask(limited, support(first), channel) == []
        (refused,) = ask(limited, support(second), channel)
        assert refused.get("response_type", "ephemeral") == "ephemeral"
        assert "This channel already has 1 active watches" in alltext(refused)
        assert len(limited.engine.watches_in(channel)) == 1
    finally:
        limited.close()


def test_slack_failing_the_announcement_tells_the_status_and_why_not_watched(
    listeners: Listeners,
) -> None:
    language, channel = new_language(), new_channel()
    listeners.kore.script(BOT, language, Status("in-progress"))
    # The client's own retries included (ServerErrorRetryHandler, 2).
    listeners.slack.fail("chat.postMessage", "service_unavailable", times=3, http_status=503)
    status, why = ask(listeners, support(language), channel)
    assert status["response_type"] == "in_channel"
    assert "in progress" in alltext(status)
    assert why.get("response_type", "ephemeral") == "ephemeral"
    assert "so I am not watching this training" in alltext(why)
    assert listeners.engine.watches_in(channel) == []


def test_with_the_database_down_the_status_is_still_told(
    listeners: Listeners, tmp_path: Path
) -> None:
    # A SQLite file in a folder that does not exist: every connection fails.
    down = Listeners(
        listeners.kore,
        listeners.slack,
        tmp_path,
        database_url=f"sqlite:///{tmp_path / 'gone' / 'korebot.db'}",
    )
    try:
        finished, running = new_language(), new_language()
        listeners.kore.script(BOT, finished, Status("success"))
        listeners.kore.script(BOT, running, Status("in-progress"))
        (done,) = ask(down, support(finished), new_channel())
        assert done["response_type"] == "in_channel"
        assert "succeeded" in alltext(done)

        channel = new_channel()
        status, why = ask(down, support(running), channel)
        assert status["response_type"] == "in_channel"
        assert "in progress" in alltext(status)
        assert why.get("response_type", "ephemeral") == "ephemeral"
        assert "my database is unavailable" in alltext(why)
        assert listeners.slack.messages(channel) == []
    finally:
        down.close()
