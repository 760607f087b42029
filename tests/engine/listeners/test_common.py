"""Unit tests of what every listener shares (listeners/common.py): the ack and the answer
to a refusal or failure, with Bolt's own `Ack` and `Respond`."""

from __future__ import annotations

from pathlib import Path

import pytest
from slack_bolt import Ack
from support.in_process import Listeners
from support.slack_app import alltext
from support.store import open_store

from korebot.slack.listeners.common import Refusal, acknowledge, answering


def test_acknowledge_acks_with_an_empty_200() -> None:
    ack = Ack()
    acknowledge(ack)
    assert ack.response is not None
    assert ack.response.status == 200
    assert ack.response.body == ""


def test_a_block_that_succeeds_answers_nothing_more(listeners: Listeners) -> None:
    respond = listeners.respond()
    with answering(respond, "a test"):
        respond(text="the answer")
    assert [a["text"] for a in listeners.answers(respond)] == ["the answer"]


def test_a_refusal_is_told_privately_without_the_usage(listeners: Listeners) -> None:
    respond = listeners.respond()
    with answering(respond, "a test"):
        raise Refusal("Not *that* <!channel>.")
    answer = listeners.answer(respond)
    assert answer.get("response_type", "ephemeral") == "ephemeral"
    said = alltext(answer)
    assert "Not" in said
    assert "<!channel>" not in said  # the reason is escaped like any text
    assert "Usage:" not in said


def test_a_database_outage_is_told_as_such(listeners: Listeners, tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path / 'gone' / 'korebot.db'}")
    respond = listeners.respond()
    with answering(respond, "a test"):
        store.watches.watches_in("C0GONE")  # the store says DatabaseUnavailable, as to every caller
    store.dispose()
    assert "My database is unavailable right now" in alltext(listeners.answer(respond))


@pytest.mark.parametrize("error", [RuntimeError("boom"), KeyError("x"), ZeroDivisionError()])
def test_any_other_failure_is_told_and_logged(
    listeners: Listeners, error: Exception, caplog: pytest.LogCaptureFixture
) -> None:
    respond = listeners.respond()
    with answering(respond, "a test"):
        raise error
    assert "Something went wrong on my side" in alltext(listeners.answer(respond))
    (record,) = [r for r in caplog.records if r.exc_info]
    assert record.exc_info is not None
    assert record.exc_info[1] is error  # logged with its traceback


def test_extra_arguments_go_with_the_answer(listeners: Listeners) -> None:
    respond = listeners.respond()
    with answering(respond, "a test", replace_original=False):
        raise Refusal("No.")
    assert listeners.answer(respond)["replace_original"] is False
