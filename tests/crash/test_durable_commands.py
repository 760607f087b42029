"""A slash command acked before a crash is finished once, by the next process (end to end).

The real app runs as a child process against fakes that kill it when the command's own
Kore.ai status call arrives (tests/chaos.py): after the ack, before any answer or watch.
A new process on the same database runs the command again; each test then counts what
Slack got: the answer at the command's response_url, the watch's message and its result.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from support.chaos import HookedKore, HookedSlack, Killer, Trigger
from support.exactly_once import FAST, check_exactly_once, watches
from support.slack_app import (
    BOT,
    SIGNING_SECRET,
    alltext,
    app_env,
    check_clean,
    new_channel,
    wait_until,
)
from support.store import open_store

from korebot.testing.app_process import AppProcess
from korebot.testing.fake_kore import Delay, Status
from korebot.testing.fake_slack import SlackSender
from korebot.watch.store import Store, migrate
from korebot.watch.store.abc import Policy
from korebot.watch.store.tables import Command
from korebot.watch.types import CommandRecord, now


@pytest.fixture
def killer() -> Killer:
    return Killer()


@pytest.fixture
def kore(killer: Killer) -> Iterator[HookedKore]:
    with HookedKore(killer, rate_limit=None) as fake:
        yield fake


@pytest.fixture
def slack(killer: Killer) -> Iterator[HookedSlack]:
    with HookedSlack(killer) as fake:
        yield fake


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    store = open_store(f"sqlite:///{tmp_path / 'korebot.db'}")
    yield store
    store.dispose()


def commands(store: Store) -> list[tuple[str, int, bool]]:
    """Each recorded command: its text, its runs, whether it is done."""
    with store.session() as session:
        rows = session.execute(
            select(Command.text, Command.attempts, Command.done_at).order_by(Command.id)
        )
        return [(text, attempts, done_at is not None) for text, attempts, done_at in rows]


def ask(app: AppProcess, channel: str, text: str, url: str) -> None:
    """Send a signed /faq-status with this response_url; it is acked."""
    with SlackSender(app.events_url, SIGNING_SECRET) as sender:
        response = sender.command(text, channel_id=channel, response_url=url)
    assert response.status_code == 200, response.text


def answers(slack: HookedSlack, url: str) -> list[dict[str, object]]:
    return [c.args for c in slack.calls_to("response_url") if c.args.get("_url") == url]


def killed_during_its_status_call(
    kore: HookedKore, slack: HookedSlack, killer: Killer, env: dict[str, str], language: str
) -> tuple[str, str]:
    """Ask in a new channel; the app dies when the ask's Kore.ai call arrives. (channel, url)"""
    channel, url = new_channel(), slack.response_url()
    app = AppProcess(env).start()
    killer.app = app
    killer.arm(
        Trigger("status-call", lambda seen: seen.source == "kore" and seen.language == language)
    )
    ask(app, channel, f"support {language}", url)
    assert killer.wait(10)
    app.stop()
    return channel, url


def test_a_watch_asked_for_before_a_crash_is_started_once_and_posts_its_result_once(
    kore: HookedKore, slack: HookedSlack, killer: Killer, tmp_path: Path, store: Store
) -> None:
    env = app_env(kore, slack, tmp_path / "korebot.db", **FAST)
    language = "dua"
    kore.script(BOT, language, Status("in-progress"))
    channel, url = killed_during_its_status_call(kore, slack, killer, env, language)
    # Acked, recorded, never answered: nothing in Slack yet, no watch.
    assert commands(store) == [(f"support {language}", 1, False)]
    assert slack.messages(channel) == []
    assert watches(store) == []
    with AppProcess(env) as again:
        wait_until(lambda: any(row.thread_ts for row in watches(store)), 20, "the watch")
        kore.script(BOT, language, Status("success"))
        wait_until(lambda: all(row.ended for row in watches(store)), 20, "the watch to end")
        wait_until(lambda: commands(store)[0][2], 10, "the command to be done")
        assert again.stop() == 0
        check_clean(again, kore, slack)
    assert commands(store) == [(f"support {language}", 2, True)]
    problems, tally, rows = check_exactly_once(slack, store, [channel])
    assert problems == []
    assert len(rows) == 1
    assert len(tally.announcements[rows[0].id]) == 1  # the answer: the watch's message, once
    assert answers(slack, url) == []  # nothing more to say privately


def test_a_finished_trainings_status_asked_for_before_a_crash_is_answered_once(
    kore: HookedKore, slack: HookedSlack, killer: Killer, tmp_path: Path, store: Store
) -> None:
    env = app_env(kore, slack, tmp_path / "korebot.db", **FAST)
    language = "dub"
    kore.script(BOT, language, Status("success"))
    channel, url = killed_during_its_status_call(kore, slack, killer, env, language)
    assert answers(slack, url) == []
    with AppProcess(env) as again:
        wait_until(lambda: commands(store)[0][2], 20, "the command to be done")
        assert again.stop() == 0
        check_clean(again, kore, slack)
    (answer,) = answers(slack, url)
    assert answer["response_type"] == "in_channel"
    assert "succeeded" in alltext(answer)
    assert commands(store) == [(f"support {language}", 2, True)]
    assert watches(store) == []
    assert slack.messages(channel) == []


def test_a_command_too_old_to_answer_is_not_run_again(
    kore: HookedKore, slack: HookedSlack, tmp_path: Path, store: Store
) -> None:
    """Acked 40 minutes ago by a process that died: its response_url is gone, so no rerun."""
    migrate.upgrade(store.engine)
    language, channel, url = "duc", new_channel(), slack.response_url()
    kore.script(BOT, language, Status("success"))
    moment = now() - timedelta(minutes=40)
    store.configure(Policy(clock=lambda: moment))
    store.slash_commands.record_command(
        CommandRecord("T0FAKE", channel, "U0ASKER", "/faq-status", f"support {language}", url)
    )
    env = app_env(kore, slack, tmp_path / "korebot.db", **FAST)
    with AppProcess(env) as app:
        wait_until(lambda: commands(store)[0][2], 20, "the command to be marked done")
        assert app.stop() == 0
    assert commands(store) == [(f"support {language}", 1, True)]  # never run again
    assert answers(slack, url) == []
    assert not [r for r in kore.requests if r.query.get("language") == language]


def test_a_slow_command_keeps_its_lease_and_is_run_once(
    kore: HookedKore, slack: HookedSlack, tmp_path: Path, store: Store
) -> None:
    """Its Kore.ai call outlasts its lease (1 s) twice over: renewed, it is not run again."""
    env = app_env(kore, slack, tmp_path / "korebot.db", **FAST)
    language, channel, url = "dud", new_channel(), slack.response_url()
    kore.script(BOT, language, Delay(2.5), Status("success"))
    with AppProcess(env) as app:
        ask(app, channel, f"support {language}", url)
        wait_until(lambda: bool(commands(store)) and commands(store)[0][2], 20, "the command")
        assert app.stop() == 0
    assert len(answers(slack, url)) == 1
    assert commands(store) == [(f"support {language}", 1, True)]
    assert len([r for r in kore.requests if r.query.get("language") == language]) == 1
