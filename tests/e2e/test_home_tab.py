"""End to end: the App Home tab, through the real app with signed events and clicks, the
fake Kore.ai and the fake Slack (which validates every published view)."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from sqlalchemy import select
from support.home import publishes, text_of, wait_view
from support.slack_app import (
    BOT,
    OTHER_BOT,
    Harness,
    app_env,
    check_clean,
    kore_polls,
    new_channel,
    wait_until,
)

from korebot.slack import training_messages
from korebot.slack.home import TRAIN_ACTION, WATCH_ACTION
from korebot.testing.app_process import AppProcess
from korebot.testing.fake_kore import FakeKore, Status
from korebot.testing.fake_slack import FakeSlack
from korebot.watch.store.tables import Asker, HomeTab, StartRequest, Watch

TRAINER = "U0TRAINER"
HIDDEN = "st-77777777-0000-4e6f-8a9b-0c1d2e3f4a5b"
CONFIG = f"""
[bots.support]
id = "{BOT}"
languages = ["en", "de"]

[bots.private]
id = "{HIDDEN}"
languages = ["en"]
users = ["U0INSIDER"]
"""


@pytest.fixture(scope="module")
def h(
    kore: FakeKore, slack: FakeSlack, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Harness]:
    folder = tmp_path_factory.mktemp("home")
    config = folder / "korebot.toml"
    config.write_text(CONFIG, encoding="utf-8")
    env = app_env(
        kore,
        slack,
        folder / "korebot.db",
        KOREBOT_BOTS=f"sales={OTHER_BOT}",
        KOREBOT_CONFIG=str(config),
        KOREBOT_TRAINERS=TRAINER,
    )
    with AppProcess(env) as app:
        yield Harness(kore, slack, app)
    check_clean(app, kore, slack)


def next_view(h: Harness, user: str, before: int, what: str = "a published Home tab") -> str:
    """The text of the first view published for the user after ``before`` of them."""
    h.slack.wait_for(lambda s: len(publishes(h, user)) > before, 10, what)
    return text_of(publishes(h, user)[before])


def open_home(h: Harness, user: str) -> str:
    before = len(publishes(h, user))
    assert h.sender.home_opened(user).status_code == 200
    return next_view(h, user, before)


def actions(view_text: str) -> list[str]:
    return [
        element["action_id"]
        for block in json.loads(view_text)
        if block["type"] == "actions"
        for element in block["elements"]
    ]


def test_the_tab_shows_the_bots_a_running_training_and_the_users_watch_without_calling_kore(
    h: Harness,
) -> None:
    user, channel = "U0HOME1", new_channel()
    h.kore.script(BOT, "it", Status("in-progress"))
    h.kore.script(OTHER_BOT, "xx", Status("success"))
    h.answer(h.ask("sales xx", new_channel(), user=user))  # finished: no watch, not polled
    h.ask("support it", channel, user=user)
    parent = h.parent(channel)
    before = kore_polls(h.kore, OTHER_BOT, "xx")
    requests = len(h.kore.requests)
    text = open_home(h, user)
    for shown in ("support", BOT, "sales", OTHER_BOT, "`en`", "`de`", "`it`"):
        assert shown in text, text
    assert HIDDEN not in text  # its users rule leaves this user out
    assert "running for" in text
    assert "never checked yet" in text  # support en was never asked about
    link = f"https://fake.slack.test/archives/{channel}/p{parent['ts'].replace('.', '')}"
    assert link in text
    assert "As of" in text
    # Only the watched training's polls reached Kore.ai meanwhile: opening asked nothing.
    assert kore_polls(h.kore, OTHER_BOT, "xx") == before
    status_it = f"/api/public/bot/{BOT}/faqs/train/status"
    assert all(r.path == status_it for r in h.kore.requests[requests:])
    assert actions(text).count(WATCH_ACTION) >= 4
    assert TRAIN_ACTION not in actions(text)  # not a trainer
    opened = h.rows(select(HomeTab.opened_at).where(HomeTab.user_id == user))

    # The training ends: the open tab is republished with the result, the watch gone.
    h.kore.script(BOT, "it", Status("success"))
    h.wait_reply(channel)
    ended = wait_view(h, user, "`it`: :white_check_mark:")
    assert "`it`: :hourglass" not in ended
    wait_until(lambda: link not in text_of(publishes(h, user)[-1]), 10, "the watch's end shown")
    # Refreshes do not count as openings (else a closed tab would stay "open" for ever).
    assert h.rows(select(HomeTab.opened_at).where(HomeTab.user_id == user)) == opened


def test_the_messages_tab_publishes_nothing(h: Harness) -> None:
    user = "U0HOME2"
    assert h.sender.home_opened(user, tab="messages").status_code == 200
    open_home(h, user)  # the home tab's event after it is answered...
    assert len(publishes(h, user)) == 1  # ...and it was the only one


def test_watch_in_a_channel_starts_the_watch_of_the_command_there(h: Harness) -> None:
    user, channel = "U0HOME3", new_channel()
    h.kore.script(BOT, "es", Status("in-progress"), Status("in-progress"), Status("success"))
    open_home(h, user)
    before = len(publishes(h, user))
    select_ = {
        "type": "conversations_select",
        "action_id": WATCH_ACTION,
        "block_id": "home|support|es|faq|configured",
        "selected_conversation": channel,
    }
    assert h.sender.view_action(select_, user_id=user).status_code == 200
    assert "Watching FAQ training for support (es)" in next_view(h, user, before)
    parent = h.parent(channel)
    assert "is in progress; I will post the result in this thread" in parent["text"]
    askers = h.rows(select(Asker.user_id).join(Watch).where(Watch.channel_id == channel))
    assert [row[0] for row in askers] == [user]
    final = h.wait_reply(channel)
    assert f"<@{user}>" in final["replies"][0]["text"]


def test_a_watch_from_the_tab_keeps_the_bots_rules_and_says_why(h: Harness) -> None:
    user = "U0HOME4"
    open_home(h, user)
    before = len(publishes(h, user))
    select_ = {
        "type": "conversations_select",
        "action_id": WATCH_ACTION,
        "block_id": "home|private|en|faq|configured",
        "selected_conversation": new_channel(),
    }
    h.sender.view_action(select_, user_id=user)
    assert "You are not on the list of people who may ask about private" in next_view(
        h, user, before
    )
    assert h.kore.count(HIDDEN) == 0


def test_a_trainers_train_button_leads_to_the_confirmation_and_train_now_posts_once(
    h: Harness,
) -> None:
    h.kore.script(BOT, "de", Status("success"))
    text = open_home(h, TRAINER)
    assert TRAIN_ACTION in actions(text)
    trains = h.kore.count(BOT, kind="train", training="faq")
    before = len(publishes(h, TRAINER))
    button = {
        "type": "button",
        "action_id": TRAIN_ACTION,
        "block_id": "home|support|de|faq|configured",
        "value": "support|de|faq|configured",
    }
    h.sender.view_action(button, user_id=TRAINER)
    assert "I sent you the confirmation" in next_view(h, TRAINER, before)
    dm = "D" + TRAINER
    h.slack.wait_for(lambda s: bool(s.messages(dm)), 10, "the confirmation in the DM")
    (confirmation,) = h.slack.messages(dm)
    (buttons,) = [b for b in confirmation["blocks"] if b["type"] == "actions"]
    ids = [element["action_id"] for element in buttons["elements"]]
    assert ids == [training_messages.TRAIN_ACTION, training_messages.CANCEL_TRAIN_ACTION]
    token = buttons["elements"][0]["value"]
    (row,) = h.rows(select(StartRequest.channel_id).where(StartRequest.token == token))
    assert row[0] == dm
    assert h.kore.count(BOT, kind="train", training="faq") == trains  # nothing yet
    url = h.slack.response_url()
    response = h.sender.action(
        training_messages.TRAIN_ACTION,
        token,
        user_id=TRAINER,
        channel_id=dm,
        message_ts=confirmation["ts"],
        response_url=url,
    )
    assert response.status_code == 200
    assert "Started" in json.dumps(h.answer(url))
    wait_until(lambda: len(h.slack.messages(dm)) == 2, 10, "the started training's message")
    assert f"<@{TRAINER}> started FAQ training for support (de)" in h.slack.messages(dm)[1]["text"]
    assert h.kore.count(BOT, kind="train", training="faq") == trains + 1


def test_a_non_trainer_sees_no_train_button_and_a_forged_click_is_refused(h: Harness) -> None:
    user = "U0HOME5"
    text = open_home(h, user)
    assert TRAIN_ACTION not in actions(text)
    trains = h.kore.count(BOT, kind="train")
    before = len(publishes(h, user))
    forged = {
        "type": "button",
        "action_id": TRAIN_ACTION,
        "block_id": "home|support|en|faq|configured",
        "value": "support|en|faq|configured",
    }
    h.sender.view_action(forged, user_id=user)
    refused = next_view(h, user, before)
    assert ":no_entry:" in refused
    assert "KOREBOT_TRAINERS" in refused  # who grants it, as the command says
    assert h.slack.messages("D" + user) == []
    assert h.rows(select(StartRequest.id).where(StartRequest.user_id == user)) == []
    assert h.kore.count(BOT, kind="train") == trains


def test_a_bad_click_gets_a_notice_not_a_traceback(h: Harness) -> None:
    user = "U0HOME6"
    open_home(h, user)
    before = len(publishes(h, user))
    odd = {"type": "conversations_select", "action_id": WATCH_ACTION, "block_id": "home|x",
           "selected_conversation": new_channel()}  # fmt: skip
    h.sender.view_action(odd, user_id=user)
    assert "I don't know this training" in next_view(h, user, before)


def test_opening_records_the_tab_as_open_for_every_process(h: Harness) -> None:
    user = "U0HOME7"
    open_home(h, user)
    rows = h.rows(select(HomeTab.user_id, HomeTab.team_id).where(HomeTab.user_id == user))
    assert [tuple(row) for row in rows] == [(user, "T0FAKE")]


def test_a_finished_training_gets_its_status_posted_and_a_refused_post_is_said(
    h: Harness,
) -> None:
    user, channel, closed = "U0HOME8", new_channel(), new_channel()
    h.kore.script(BOT, "fi", Status("success"))
    h.slack.set_channel(closed, member=False)
    open_home(h, user)
    for where, expected in ((channel, "is not running"), (closed, "not_in_channel")):
        before = len(publishes(h, user))
        pick = {
            "type": "conversations_select",
            "action_id": WATCH_ACTION,
            "block_id": "home|support|fi|faq|configured",
            "selected_conversation": where,
        }
        h.sender.view_action(pick, user_id=user)
        assert expected in next_view(h, user, before)
    (status,) = h.slack.messages(channel)
    assert "FAQ training for support (fi) succeeded" in status["text"]
    assert h.rows(select(Watch.id).where(Watch.channel_id.in_([channel, closed]))) == []
