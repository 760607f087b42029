"""Unit tests of the /faq-status listeners but the status (test_status_command.py): each
subcommand's function called directly, with Bolt's `Respond` and real services.

Each one's normal answer, its bad input (through the dispatcher, which parses once), and
its refusals. Answers are read back from the fake Slack's response_url.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from support.in_process import ALLOWED, BOSS, Listeners, command, new_language
from support.slack_app import BOT, alltext, new_channel

from korebot.kore import TRAININGS, Kind, State
from korebot.slack.kinds import COMMANDS
from korebot.slack.listeners.commands.bots import list_bots
from korebot.slack.listeners.commands.dispatch import slash_command
from korebot.slack.listeners.commands.help import show_help
from korebot.slack.listeners.commands.list import list_watches
from korebot.slack.listeners.commands.status import ask_status
from korebot.slack.listeners.commands.stop import stop_watch
from korebot.slack.listeners.commands.subscribe import subscribe
from korebot.slack.listeners.commands.unsubscribe import unsubscribe
from korebot.slack.parsing import AskStatus, StopWatch, Subscribe, Unsubscribe
from korebot.testing.fake_kore import Status


def dispatched(
    listeners: Listeners, text: str, channel: str, user: str = "U0ASKER", kind: Kind = Kind.FAQ
) -> str:
    """The text of the one answer to `/faq-status <text>` (or the kind's command), through the
    dispatcher."""
    respond = listeners.respond()
    asked = command(text, channel, user)
    slash_command(listeners.services, asked, respond, listeners.client, kind=kind)
    return alltext(listeners.answer(respond))


def start_watch(listeners: Listeners, channel: str) -> str:
    """A watch of `support LANG` (a running training) in the channel; returns LANG."""
    language = new_language()
    listeners.kore.script(BOT, language, Status("in-progress"))
    asked = AskStatus("support", language, State.CONFIGURED)
    respond = listeners.respond()
    ask_status(listeners.services, asked, command("", channel), respond, listeners.client)
    assert listeners.slack.messages(channel), "the watch's message"
    return language


# The dispatcher --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("stop", "Say which bot"),
        ("subscribe", "Say which bot"),
        ("unsubscribe", "Say which bot"),
        ("list everything", "`list` takes no arguments"),
        ("bots please", "`bots` takes no arguments"),
        ("support en published now", "Too many words"),
        ("support en finished", "configured"),
        ("stop support e$", "language"),
    ],
)
@pytest.mark.parametrize("kind", TRAININGS)
def test_bad_input_is_explained_with_the_usage_of_the_command_typed(
    listeners: Listeners, text: str, reason: str, kind: Kind
) -> None:
    answer = dispatched(listeners, text, new_channel(), kind=kind)
    assert reason in answer
    assert f"Usage: `{COMMANDS[kind]} BOT LANG" in answer
    other = COMMANDS[Kind.ML if kind is Kind.FAQ else Kind.FAQ]
    assert other not in answer


def test_the_dispatcher_calls_each_subcommand(listeners: Listeners) -> None:
    channel = new_channel()
    assert "*Kore.ai FAQ training status*" in dispatched(listeners, "help", channel)
    assert "*Bots I know:*" in dispatched(listeners, "bots", channel)
    assert "Nothing is watched" in dispatched(listeners, "list", channel)
    assert "Nothing to stop" in dispatched(listeners, "stop support en", channel)
    assert "subscribed this channel" in dispatched(listeners, "subscribe support en", channel)
    assert "unsubscribed this" in dispatched(listeners, "unsubscribe support en", channel)


def test_commands_beyond_the_per_user_limit_are_refused(
    listeners: Listeners, tmp_path: Path
) -> None:
    limited = Listeners(listeners.kore, listeners.slack, tmp_path, commands_per_minute=2)
    try:
        channel = new_channel()
        assert "Bots I know" in dispatched(limited, "bots", channel)
        assert "Bots I know" in dispatched(limited, "bots", channel, user="U0OTHER")
        assert "Bots I know" in dispatched(limited, "bots", channel)
        refused = dispatched(limited, "bots", channel)
        assert "That's a lot of commands in a minute; try again in" in refused
        assert "Bots I know" in dispatched(limited, "bots", channel, user="U0OTHER")
    finally:
        limited.close()


# help and bots -----------------------------------------------------------------------


def test_help(listeners: Listeners) -> None:
    respond = listeners.respond()
    show_help(respond)
    answer = listeners.answer(respond)
    assert answer.get("response_type", "ephemeral") == "ephemeral"
    for word in ("list", "subscribe", "unsubscribe", "stop", "bots", "help"):
        assert f"`/faq-status {word}" in alltext(answer)


def test_bots(listeners: Listeners) -> None:
    respond = listeners.respond()
    list_bots(listeners.services, respond)
    answer = listeners.answer(respond)
    assert answer.get("response_type", "ephemeral") == "ephemeral"
    listed = alltext(answer)
    assert f"*support* `{BOT}`" in listed
    assert "*secret*" in listed
    assert "languages: de" in listed


# list ---------------------------------------------------------------------------------


def test_list_shows_the_watches_and_subscriptions_of_the_channel(listeners: Listeners) -> None:
    channel, elsewhere = new_channel(), new_channel()
    language = start_watch(listeners, channel)
    other = start_watch(listeners, elsewhere)
    respond = listeners.respond()
    asked = Subscribe("support", "fr", State.PUBLISHED)
    subscribe(listeners.services, asked, command("", channel), respond)

    respond = listeners.respond()
    list_watches(listeners.services, command("list", channel), respond, listeners.client)
    listed = alltext(listeners.answer(respond))
    assert f"`{language}`" in listed
    assert "thread" in listed  # the permalink to the watch's message
    assert "`fr`" in listed
    assert f"`{other}`" not in listed  # another channel's watch


def test_list_of_an_empty_channel(listeners: Listeners) -> None:
    respond = listeners.respond()
    list_watches(listeners.services, command("list", new_channel()), respond, listeners.client)
    assert "Nothing is watched" in alltext(listeners.answer(respond))


# stop ---------------------------------------------------------------------------------


def test_stop_ends_the_watch_and_says_so(listeners: Listeners) -> None:
    channel = new_channel()
    language = start_watch(listeners, channel)
    respond = listeners.respond()
    asked = StopWatch("support", language, State.CONFIGURED)
    stop_watch(listeners.services, asked, command("", channel), respond)
    answer = listeners.answer(respond)
    assert answer.get("response_type", "ephemeral") == "ephemeral"
    assert f"Stopped watching FAQ training for support ({language})" in alltext(answer)
    (parent,) = listeners.slack.messages(channel)
    assert "stopped watching" in parent["text"]
    assert listeners.engine.watches_in(channel) == []


@pytest.mark.parametrize(
    ("asked", "channel", "user", "reason"),
    [
        (StopWatch("nobody", "en", State.CONFIGURED), None, "U0ASKER", "See `/faq-status bots`"),
        (StopWatch("support", "en", State.CONFIGURED), None, "U0ASKER", "Nothing to stop"),
        (StopWatch("secret", None, State.CONFIGURED), None, BOSS, "can't be asked about in this"),
        (StopWatch("secret", None, State.CONFIGURED), ALLOWED, "U0X", "not on the list"),
        (StopWatch("support", None, State.CONFIGURED), None, "U0ASKER", "Say which language"),
    ],
)
def test_stop_refusals(
    listeners: Listeners, asked: StopWatch, channel: str | None, user: str, reason: str
) -> None:
    respond = listeners.respond()
    stop_watch(listeners.services, asked, command("", channel or new_channel(), user), respond)
    answer = listeners.answer(respond)
    assert answer.get("response_type", "ephemeral") == "ephemeral"
    assert reason in alltext(answer)
    assert "Usage:" not in alltext(answer)


def test_stop_leaves_other_channels_watches_alone(listeners: Listeners) -> None:
    channel = new_channel()
    language = start_watch(listeners, channel)
    respond = listeners.respond()
    asked = StopWatch("support", language, State.CONFIGURED)
    stop_watch(listeners.services, asked, command("", new_channel()), respond)
    assert "Nothing to stop" in alltext(listeners.answer(respond))
    assert len(listeners.engine.watches_in(channel)) == 1


# subscribe and unsubscribe ------------------------------------------------------------


def test_subscribe_then_again_then_unsubscribe(listeners: Listeners) -> None:
    channel, language = new_channel(), new_language()
    asked = Subscribe("support", language, State.CONFIGURED)
    first, again = listeners.respond(), listeners.respond()
    subscribe(listeners.services, asked, command("", channel, "U0SUB"), first)
    subscribe(listeners.services, asked, command("", channel, "U0SUB"), again)
    assert listeners.answer(first)["response_type"] == "in_channel"
    assert "<@U0SUB>" in alltext(listeners.answer(first))
    assert listeners.answer(again)["response_type"] == "ephemeral"
    assert "already subscribed" in alltext(listeners.answer(again))
    (sub,) = listeners.engine.subscriptions_in(channel)
    assert sub.language == language

    gone = listeners.respond()
    asked_off = Unsubscribe("support", language, State.CONFIGURED)
    unsubscribe(listeners.services, asked_off, command("", channel, "U0SUB"), gone)
    assert listeners.answer(gone)["response_type"] == "in_channel"
    assert "unsubscribed this channel" in alltext(listeners.answer(gone))
    assert listeners.engine.subscriptions_in(channel) == []


def test_unsubscribe_without_a_subscription_is_refused(listeners: Listeners) -> None:
    respond = listeners.respond()
    asked = Unsubscribe("support", "en", State.PUBLISHED)
    unsubscribe(listeners.services, asked, command("", new_channel()), respond)
    answer = listeners.answer(respond)
    assert answer.get("response_type", "ephemeral") == "ephemeral"
    assert "not subscribed to support (en, published)" in alltext(answer)


@pytest.mark.parametrize("listener", [subscribe, unsubscribe])
@pytest.mark.parametrize(
    ("name", "channel", "user", "reason"),
    [
        ("nobody", None, "U0ASKER", "See `/faq-status bots`"),
        ("st-00000000-0000-4000-8000-000000000000", None, "U0ASKER", "See `/faq-status bots`"),
        ("secret", None, BOSS, "can't be asked about in this channel"),
        ("secret", ALLOWED, "U0STRANGER", "not on the list"),
    ],
)
def test_subscription_refusals(
    listeners: Listeners,
    listener: Callable[..., None],
    name: str,
    channel: str | None,
    user: str,
    reason: str,
) -> None:
    where = channel or new_channel()
    kind = Subscribe if listener is subscribe else Unsubscribe
    respond = listeners.respond()
    listener(
        listeners.services, kind(name, "en", State.CONFIGURED), command("", where, user), respond
    )
    answer = listeners.answer(respond)
    assert answer.get("response_type", "ephemeral") == "ephemeral"
    assert reason in alltext(answer)
    assert listeners.engine.subscriptions_in(where) == []


def test_the_allowed_user_in_the_allowed_channel_may_subscribe(listeners: Listeners) -> None:
    respond = listeners.respond()
    asked = Subscribe("secret", None, State.CONFIGURED)
    subscribe(listeners.services, asked, command("", ALLOWED, BOSS), respond)
    assert "subscribed this channel" in alltext(listeners.answer(respond))
    (sub,) = listeners.engine.subscriptions_in(ALLOWED)
    assert sub.language == "de"  # the bot's first language
