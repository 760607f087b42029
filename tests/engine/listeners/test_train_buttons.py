"""Unit tests of the train confirmation's buttons (actions/train.py), called directly with
the payload Slack sends for a click, Bolt's `Respond` and real services: a click is
checked again as the command was, and nothing reaches Kore.ai unless it passes."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import update
from support.in_process import Listeners, command, new_language
from support.slack_app import BOT, alltext, new_channel

from korebot.kore import State
from korebot.registry import JobKey
from korebot.slack.listeners.actions.train import cancel_train, train_now
from korebot.slack.listeners.commands.train import request_training
from korebot.slack.listeners.context import Services
from korebot.slack.parsing import Train
from korebot.slack.training_messages import TRAIN_ACTION
from korebot.testing.fake_kore import Status
from korebot.testing.slack_payloads import block_actions_payload
from korebot.watch.engine import STALE_AFTER
from korebot.watch.store.tables import StartRequest
from korebot.watch.types import StartAsk, StartState

TRAINER = "U0TRAINER"


def trainers(listeners: Listeners, *users: str) -> Services:
    return replace(listeners.services, trainers=users)


def confirm(services: Services, listeners: Listeners, channel: str, language: str) -> str:
    """Ask for a training as the trainer; its confirmation's token."""
    respond = listeners.respond()
    asked = Train("support", language, State.CONFIGURED)
    request_training(services, asked, command("", channel, TRAINER), respond)
    (actions,) = [b for b in listeners.answer(respond)["blocks"] if b["type"] == "actions"]
    return str(actions["elements"][0]["value"])


def click(
    services: Services, listeners: Listeners, token: str, channel: str, user: str = TRAINER
) -> list[dict[str, Any]]:
    body = block_actions_payload(TRAIN_ACTION, token, user_id=user, channel_id=channel)
    respond = listeners.respond()
    train_now(services, body, body["actions"][0], respond)
    return listeners.answers(respond)


def posts(listeners: Listeners) -> int:
    return listeners.kore.count(BOT, kind="train")


def test_a_trainer_removed_since_the_confirmation_is_refused_on_click(
    listeners: Listeners,
) -> None:
    channel, language = new_channel(), new_language()
    token = confirm(trainers(listeners, TRAINER), listeners, channel, language)
    before = posts(listeners)
    (answer,) = click(trainers(listeners), listeners, token, channel)
    assert "may not start" in alltext(answer)
    assert answer["replace_original"] is False
    assert posts(listeners) == before
    request = listeners.store.start_requests.start_request(token)
    assert request is not None
    assert request.state is StartState.PENDING  # not spent by a refused click


def test_unknown_and_someone_elses_confirmations_start_nothing(listeners: Listeners) -> None:
    services = trainers(listeners, TRAINER, "U0OTHER")
    channel, language = new_channel(), new_language()
    token = confirm(services, listeners, channel, language)
    before = posts(listeners)
    (unknown,) = click(services, listeners, "forged-token", channel)
    assert "don't know this confirmation" in alltext(unknown)
    (theirs,) = click(services, listeners, token, channel, user="U0OTHER")
    assert "someone else's" in alltext(theirs)
    assert posts(listeners) == before


def test_cancel_then_train_now_starts_nothing(listeners: Listeners) -> None:
    services = trainers(listeners, TRAINER)
    channel, language = new_channel(), new_language()
    listeners.kore.script(BOT, language, Status("success"))
    token = confirm(services, listeners, channel, language)
    body = block_actions_payload("cancel_train", token, user_id=TRAINER, channel_id=channel)
    respond = listeners.respond()
    cancel_train(services, body, body["actions"][0], respond)
    assert "Cancelled" in alltext(listeners.answer(respond))
    before = posts(listeners)
    (again,) = click(services, listeners, token, channel)
    assert "already used" in alltext(again)
    assert posts(listeners) == before


def test_a_request_left_starting_by_a_dead_process_is_checked_never_posted(
    listeners: Listeners,
) -> None:
    services = trainers(listeners, TRAINER)
    channel, language = new_channel(), new_language()
    listeners.kore.script(BOT, language, Status("in-progress"))
    token = confirm(services, listeners, channel, language)
    # A process claimed it, then died around its POST.
    assert listeners.store.start_requests.claim_start_request(token, TRAINER)[1]
    before = posts(listeners)
    (fresh,) = click(services, listeners, token, channel)
    assert "already used" in alltext(fresh)  # its claimer may still be posting
    with listeners.store.session.begin() as session:
        stale = datetime.now(UTC) - timedelta(seconds=STALE_AFTER + 1)
        session.execute(
            update(StartRequest).where(StartRequest.token == token).values(claimed_at=stale)
        )
    (checked,) = click(services, listeners, token, channel)
    assert "Started" in alltext(checked)  # the status says it runs: it is watched
    assert posts(listeners) == before
    request = listeners.store.start_requests.start_request(token)
    assert request is not None
    assert request.state is StartState.UNKNOWN
    assert request.watch_id is not None
    (parent,) = listeners.slack.messages(channel)
    assert f"<@{TRAINER}> started" in parent["text"]


def test_a_click_after_the_confirmation_expired_starts_nothing(listeners: Listeners) -> None:
    services = trainers(listeners, TRAINER)
    channel, language = new_channel(), new_language()
    key = JobKey(listeners.kore.url, BOT, language, State.CONFIGURED)
    ask = StartAsk("T0TEAM", channel, TRAINER, key, "support", valid_for=0)
    token = listeners.store.start_requests.record_start_request(ask).token
    before = posts(listeners)
    (answer,) = click(services, listeners, token, channel)
    assert "expired" in alltext(answer)
    assert "/faq-status train support" in alltext(answer)
    assert posts(listeners) == before
    request = listeners.store.start_requests.start_request(token)
    assert request is not None
    assert request.state is StartState.EXPIRED
