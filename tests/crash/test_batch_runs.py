"""Batch test runs across SIGKILL: one run POST, ever; one result, in its thread.

The real app runs as a child process against fakes that kill it at a chosen moment
(tests/support/chaos.py): while the run is being polled, right after Slack stored the
result (so the app never learns its ts), when the run POST reaches Kore.ai (the fake has
started the run, the app never hears its request ID), or as the run's message is about to
be posted (its watch recorded). A new process on the same database takes over, running
the unfinished command again where there is one; each test then counts the run POSTs the
fake Kore.ai got and what Slack got: the run's message, the result in its thread, the
answers at the response_url.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import select
from support.chaos import (
    OUTCOME_TAG,
    WATCH_TAG,
    HookedKore,
    HookedSlack,
    Killer,
    Seen,
    Tally,
    Trigger,
)
from support.exactly_once import FAST, watches
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
from korebot.testing.fake_kore import BatchScript, BatchSuite, PastRun
from korebot.testing.fake_slack import SlackSender
from korebot.watch.store import Store
from korebot.watch.store.tables import Command, StartRequest

BATCH = "/batch-test"
SUITE = "Smoke"
ASKED = f'support en "{SUITE}"'
#: Polls the run answers "running" to: enough for the app to post its message and finish
#: the command first (0.2 s apart), so that a kill can land while it runs.
RUNNING_POLLS = 25


@pytest.fixture
def killer() -> Killer:
    return Killer()


@pytest.fixture
def kore(killer: Killer) -> Iterator[HookedKore]:
    with HookedKore(killer, rate_limit=None) as fake:
        fake.batch_suites(BOT, BatchSuite(SUITE, results=(PastRun("0.91"),)))
        fake.on_batch_run(BOT, SUITE, BatchScript(running_polls=RUNNING_POLLS, f1="0.9"))
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


@pytest.fixture
def env(kore: HookedKore, slack: HookedSlack, tmp_path: Path) -> dict[str, str]:
    # Polls every 0.2 s however long the run goes (no backoff).
    return app_env(kore, slack, tmp_path / "korebot.db", **FAST, KOREBOT_POLL_MAX_INTERVAL="0.2")


def commands(store: Store) -> list[tuple[str, int, bool]]:
    """Each recorded command: its text, its runs, whether it is done."""
    with store.session() as session:
        rows = session.execute(
            select(Command.text, Command.attempts, Command.done_at).order_by(Command.id)
        )
        return [(text, attempts, done_at is not None) for text, attempts, done_at in rows]


def start_requests(store: Store) -> list[tuple[str, str, int | None]]:
    """Each start request: its token, its state, its watch."""
    with store.session() as session:
        rows = session.execute(
            select(StartRequest.token, StartRequest.state, StartRequest.watch_id).order_by(
                StartRequest.id
            )
        )
        return [(token, state, watch_id) for token, state, watch_id in rows]


def ask(app: AppProcess, channel: str, url: str) -> None:
    """Send a signed /batch-test with this response_url; it is acked."""
    with SlackSender(app.events_url, SIGNING_SECRET) as sender:
        response = sender.command(
            ASKED, channel_id=channel, user_id="U0TEST", response_url=url, command=BATCH
        )
    assert response.status_code == 200, response.text


def answers(slack: HookedSlack, url: str) -> list[dict[str, object]]:
    return [c.args for c in slack.calls_to("response_url") if c.args.get("_url") == url]


def status_paths(kore: HookedKore) -> list[str]:
    return [r.path for r in kore.requests if r.method == "GET" and r.path.endswith("/status")]


def killed_at(
    killer: Killer, env: dict[str, str], channel: str, url: str, trigger: Trigger
) -> None:
    """Ask for the suite's run; the app dies when the trigger fires."""
    app = AppProcess(env).start()
    killer.app = app
    killer.arm(trigger)
    ask(app, channel, url)
    assert killer.wait(15), f"the app was not killed at {trigger.name}"
    app.stop()


def check_delivered_once(slack: HookedSlack, store: Store, channel: str) -> int:
    """The run's one watch: its message once, its result once in its thread; its ID."""
    (row,) = watches(store)
    assert row.ended == "delivered"
    tally = Tally.of(slack, [channel])
    assert tally.announcements == {row.id: [row.thread_ts]}
    assert tally.finals == {row.id: [row.thread_ts]}  # once, in the thread
    (top,) = slack.messages(channel)
    (reply,) = top["replies"]
    assert "passed: F1 0.90" in reply["text"]
    assert "<@U0TEST>" in reply["text"]
    assert "edited" in top  # the run's message was updated to its outcome
    return row.id


# 1. Killed while the run goes on -------------------------------------------------------


def mid_run(ready: threading.Event) -> Callable[[Seen], bool]:
    """A status poll of the run, once its message is out and the command done."""
    return lambda seen: seen.source == "kore" and seen.method == "batch-status" and ready.is_set()


def result_stored(_ready: threading.Event) -> Callable[[Seen], bool]:
    """Slack stored the result in the thread; the app never hears its ts."""

    def matches(seen: Seen) -> bool:
        return (
            seen.source == "slack"
            and seen.phase == "after"
            and seen.method == "chat.postMessage"
            and seen.tag == OUTCOME_TAG
        )

    return matches


@pytest.mark.parametrize("moment", [mid_run, result_stored], ids=["mid-run", "result-stored"])
def test_a_batch_run_killed_while_it_runs_posts_its_result_once_in_its_thread(
    kore: HookedKore,
    slack: HookedSlack,
    killer: Killer,
    env: dict[str, str],
    store: Store,
    moment: Callable[[threading.Event], Callable[[Seen], bool]],
) -> None:
    channel, url = new_channel(), slack.response_url()
    ready = threading.Event()
    app = AppProcess(env).start()
    killer.app = app
    killer.arm(Trigger(moment.__name__, moment(ready)))
    ask(app, channel, url)
    # The run POSTed, its message in the channel, the command done: then the kill.
    wait_until(lambda: any(row.thread_ts for row in watches(store)), 10, "the run's message")
    wait_until(lambda: commands(store) == [(ASKED, 1, True)], 10, "the command to be done")
    ready.set()
    assert killer.wait(15), "the app was not killed"
    app.stop()
    (post,) = kore.batch_posts
    assert post.request_id is not None
    (row,) = watches(store)
    assert row.ended is None
    if moment is mid_run:
        assert [top["replies"] for top in slack.messages(channel)] == [[]]

    with AppProcess(env) as again:
        wait_until(lambda: all(row.ended for row in watches(store)), 20, "the run to end")
        assert again.stop() == 0
        check_clean(again, kore, slack)

    assert len(kore.batch_posts) == 1  # never POSTed again
    # Every status poll, before the kill and after, asked for the one run's request ID.
    polls = status_paths(kore)
    assert polls
    assert all(f"/{post.request_id}/status" in path for path in polls)
    watch_id = check_delivered_once(slack, store, channel)
    assert answers(slack, url) == []  # nothing said privately
    assert start_requests(store) == [("batch-command-1", "started", watch_id)]
    assert commands(store) == [(ASKED, 1, True)]


# 2. Killed at the run POST, the command not finished ----------------------------------


def test_a_batch_test_killed_at_its_run_post_never_posts_again_and_its_asker_is_told(
    kore: HookedKore, slack: HookedSlack, killer: Killer, env: dict[str, str], store: Store
) -> None:
    """The POST reached Kore.ai (the run started there), the app never heard its request ID:
    the command is run again after the restart, finds its own start request, and tells the
    asker it was interrupted rather than POSTing a second run."""
    channel, url = new_channel(), slack.response_url()
    posting = Trigger("run POST", lambda seen: seen.source == "kore" and seen.method == "batch-run")
    killed_at(killer, env, channel, url, posting)
    (post,) = kore.batch_posts
    assert post.http_status == 200  # Kore.ai started the run
    assert commands(store) == [(ASKED, 1, False)]
    assert start_requests(store) == [("batch-command-1", "starting", None)]
    assert slack.messages(channel) == []
    assert answers(slack, url) == []

    with AppProcess(env) as again:
        wait_until(lambda: commands(store) == [(ASKED, 2, True)], 20, "the command run again")
        wait_until(lambda: bool(answers(slack, url)), 10, "the asker's answer")
        assert again.stop() == 0
        check_clean(again, kore, slack)

    assert len(kore.batch_posts) == 1  # never a second run
    (answer,) = answers(slack, url)
    assert answer.get("response_type", "ephemeral") == "ephemeral"
    said = alltext(answer)
    assert "interrupted" in said
    assert "will not send it twice" in said
    # Finished for good: the periodic sweep of requests left starting will not take it.
    assert start_requests(store) == [("batch-command-1", "unknown", None)]
    assert watches(store) == []
    assert slack.messages(channel) == []
    assert [c for c in slack.calls if c.method == "chat.postEphemeral"] == []


def test_a_batch_test_killed_as_its_run_is_announced_is_watched_once_and_never_posted_again(
    kore: HookedKore, slack: HookedSlack, killer: Killer, env: dict[str, str], store: Store
) -> None:
    """The POST was answered and the run's watch recorded, then the app died as it was about
    to post the run's message: the run started, so the command run again after the restart
    says so, and the run's message and result come once, from the new process."""
    channel, url = new_channel(), slack.response_url()

    def announcing(seen: Seen) -> bool:
        return (
            seen.source == "slack"
            and seen.phase == "before"
            and seen.method == "chat.postMessage"
            and seen.tag == WATCH_TAG
        )

    killed_at(killer, env, channel, url, Trigger("announcement", announcing))
    assert len(kore.batch_posts) == 1
    assert commands(store) == [(ASKED, 1, False)]
    assert start_requests(store) == [("batch-command-1", "starting", None)]
    (row,) = watches(store)
    assert row.thread_ts is None
    assert slack.messages(channel) == []

    with AppProcess(env) as again:
        wait_until(lambda: commands(store) == [(ASKED, 2, True)], 20, "the command run again")
        wait_until(lambda: all(row.ended for row in watches(store)), 20, "the run to end")
        assert again.stop() == 0
        check_clean(again, kore, slack)

    assert len(kore.batch_posts) == 1  # never a second run
    watch_id = check_delivered_once(slack, store, channel)
    # Finished with the run's watch: the periodic sweep of requests left starting will not
    # take it over later and tell the asker it may not have run.
    assert start_requests(store) == [("batch-command-1", "started", watch_id)]
    (answer,) = answers(slack, url)  # pointed to the run's thread, not told it was lost
    said = alltext(answer)
    assert "thread" in said
    assert "interrupted" not in said
