"""Unit tests of `/batch-test`'s listener (korebot.slack.listeners.commands.batch_test),
called directly with Bolt's `Respond` and real services against the fake Kore.ai: who may
run suites, the bot's rules, a bot without suites, the answers only the asker sees."""

from __future__ import annotations

from dataclasses import replace

import pytest
from support.in_process import ALLOWED, BOSS, Listeners, command
from support.slack_app import BOT, OTHER_BOT, alltext, new_channel

from korebot.slack.listeners.commands.batch_test import batch_command
from korebot.testing.fake_kore import BatchSuite, PastRun


def ran(listeners: Listeners, text: str, channel: str, user: str = "U0ASKER") -> str:
    respond = listeners.respond()
    batch_command(listeners.services, command(text, channel, user), respond, listeners.client)
    return alltext(listeners.answer(respond))


@pytest.fixture(autouse=True)
def suites(listeners: Listeners) -> None:
    listeners.kore.batch_suites(BOT, BatchSuite("Smoke", results=(PastRun("0.9"),)))
    listeners.kore.batch_suites(OTHER_BOT)


def test_only_the_configured_testers_may_run_a_suite(listeners: Listeners) -> None:
    services = listeners.services
    listeners.services = replace(services, testers=("U0TESTER",))
    try:
        answer = ran(listeners, "support en Smoke", new_channel(), user="U0OTHER")
    finally:
        listeners.services = services
    assert "not on the list of people who may run support's batch tests" in answer
    assert listeners.kore.batch_posts == []


def test_the_bots_channel_and_user_rules_apply(listeners: Listeners) -> None:
    assert "can't be asked about in this channel" in ran(listeners, "secret de x", new_channel())
    answer = ran(listeners, "secret de x", ALLOWED, user="U0NOTBOSS")
    assert "not on the list of people who may ask about secret" in answer
    assert "has no language 'fr' configured" in ran(listeners, "secret fr x", ALLOWED, user=BOSS)


def test_a_bot_without_suites_says_how_to_make_one(listeners: Listeners) -> None:
    answer = ran(listeners, "secret de Smoke", ALLOWED, user=BOSS)
    assert "secret has no batch test suites for de yet" in answer
    assert "has no batch test suites for `de` yet" in ran(listeners, "secret de", ALLOWED, BOSS)


def test_history_of_a_suite_never_run_says_what_is_recorded(listeners: Listeners) -> None:
    answer = ran(listeners, 'history support en "Smoke"', new_channel())
    assert "No runs of batch test \u201cSmoke\u201d of support (en" in answer


def test_help_and_bad_input_answer_with_the_batch_usage(listeners: Listeners) -> None:
    assert "*Kore.ai batch tests*" in ran(listeners, "help", new_channel())
    answer = ran(listeners, "support", new_channel())
    assert "Say which language" in answer
    assert 'Usage: `/batch-test BOT LANG "SUITE" [configured|published]`' in answer
