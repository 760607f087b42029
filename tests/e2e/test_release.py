"""End to end: `/publish-status release` through the real app process against the fake
Kore.ai: the confirmation, the checklist updated in place, one thread line per step,
the gate, a failed training, Stop release, two releases of one bot, list and history.

Each test has a bot of its own (a release holds its bot). Trainings, runs and publishes
are scripted to end after a poll or two; the app polls every 0.2 s. The fake's record of
requests, in the order it answered them, shows what was sent and when.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
from support.home import wait_view
from support.slack_app import Harness, alltext, app_env, check_clean, new_channel, wait_until

from korebot.slack.release_messages import (
    CANCEL_RELEASE_ACTION,
    RELEASE_ACTION,
    STOP_RELEASE_ACTION,
)
from korebot.testing.app_process import AppProcess
from korebot.testing.fake_kore import (
    BatchScript,
    BatchSuite,
    FakeKore,
    KoreRequest,
    MlStatus,
    PastRun,
    PublishScript,
    Status,
)
from korebot.testing.fake_slack import FakeSlack

COMMAND = "/publish-status"
RELEASER = "U0RELEASER"
SMOKE = "smoke tests"
BOTS = {f"r{n}": f"st-00000000-0000-4000-8000-0000000001{n:02d}" for n in range(1, 11)}


@pytest.fixture(scope="module")
def kore() -> Iterator[FakeKore]:
    with FakeKore(bots=list(BOTS.values()), rate_limit=None) as fake:
        for bot in BOTS.values():
            fake.batch_suites(bot, BatchSuite(SMOKE, results=(PastRun("0.91"),)))
            fake.on_batch_run(bot, SMOKE, BatchScript(running_polls=1, f1="0.92"))
            fake.on_publish(bot, PublishScript(languages=("en",)))
        yield fake


@pytest.fixture(scope="module")
def h(
    kore: FakeKore, slack: FakeSlack, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Harness]:
    folder = tmp_path_factory.mktemp("db")
    env = app_env(
        kore,
        slack,
        folder / "korebot.db",
        KOREBOT_BOTS=",".join(f"{alias}={bot}" for alias, bot in BOTS.items()),
        KORE_ADMIN_CLIENT_ID=kore.admin_client_id,
        KORE_ADMIN_CLIENT_SECRET=kore.admin_client_secret,
        KOREBOT_TRAINERS=f"{RELEASER},U0BOTH,U0TRAINER",
        KOREBOT_PUBLISHERS=f"{RELEASER},U0BOTH,U0PUBLISHER",
        KOREBOT_MIN_F1="0.90",
    )
    with AppProcess(env) as app:
        yield Harness(kore, slack, app)
    check_clean(app, kore, slack, extra=kore.admin_client_secret)


def confirm(h: Harness, text: str, channel: str, user: str = RELEASER) -> tuple[str, str]:
    """Ask for a release; the confirmation's text and its buttons' token."""
    answer = h.answer(h.ask(text, channel, user=user, command=COMMAND))
    assert answer.get("response_type", "ephemeral") == "ephemeral"
    (actions,) = [block for block in answer["blocks"] if block["type"] == "actions"]
    assert [e["action_id"] for e in actions["elements"]] == [RELEASE_ACTION, CANCEL_RELEASE_ACTION]
    (token,) = {element["value"] for element in actions["elements"]}
    return alltext(answer), token


def click(h: Harness, action: str, token: str, channel: str, user: str = RELEASER) -> str:
    url = h.slack.response_url()
    response = h.sender.action(action, token, user_id=user, channel_id=channel, response_url=url)
    assert response.status_code == 200
    return url


def ended(h: Harness, channel: str, lines: int, timeout: float = 30.0) -> dict[str, Any]:
    """The release's checklist once its thread has ``lines`` lines and it shows an end."""

    def done(slack: FakeSlack) -> bool:
        top = slack.messages(channel)
        return (
            bool(top) and len(top[0]["replies"]) >= lines and "Stop release" not in alltext(top[0])
        )

    h.slack.wait_for(done, timeout, f"a release ended with {lines} lines in {channel}")
    (checklist,) = h.slack.messages(channel)
    return checklist


def call(request: KoreRequest, bot: str) -> str:
    """A request in a word or three: "POST faq", "GET ml published", "GET run"…"""
    path = request.path.split(f"/bot/{bot}/", 1)[1]
    what = {
        "faqs/train": "faq",
        "faqs/train/status": "faq",
        "ml/train": "ml",
        "ml/train/status": "ml",
        "testsuite": "suites",
        "publish": "publish",
        "publish/status": "publish",
    }.get(path) or ("run" if path.startswith("testsuite/") else path)
    state = request.query.get("state")
    return " ".join(word for word in (request.method, what, state) if word)


def calls(kore: FakeKore, alias: str) -> list[str]:
    bot = BOTS[alias]
    return [call(r, bot) for r in kore.requests if f"/bot/{bot}/" in r.path]


def posts(kore: FakeKore, alias: str) -> list[str]:
    return [c for c in calls(kore, alias) if c.startswith("POST")]


def replies(checklist: dict[str, Any]) -> list[str]:
    return [reply["text"] for reply in checklist["replies"]]


def test_a_release_goes_live_one_post_each_every_step_after_the_last(h: Harness) -> None:
    channel = new_channel()
    text, token = confirm(h, f'release r1 en "{SMOKE}"', channel)
    for shown in ("Release r1", "Train FAQ and ML (en)", SMOKE, "F1 at least 0.90", "Publish"):
        assert shown in text
    assert posts(h.kore, "r1") == []  # nothing before the click
    clicks = [
        threading.Thread(target=click, args=(h, RELEASE_ACTION, token, channel)) for _ in "ab"
    ]
    for thread in clicks:
        thread.start()
    for thread in clicks:
        thread.join()

    checklist = ended(h, channel, lines=5)
    assert posts(h.kore, "r1") == ["POST faq", "POST ml", "POST run", "POST publish"]
    sent = calls(h.kore, "r1")
    # Each POST after the step before it ended: both trainings seen done before the run,
    # the run seen done before the publish, the publish seen done before its trainings.
    run, publish = sent.index("POST run"), sent.index("POST publish")
    assert {"GET faq configured", "GET ml configured"} <= set(sent[sent.index("POST ml") : run])
    assert "GET run" in sent[run:publish]
    assert sent[publish:].count("GET publish") >= 1
    assert "GET faq published" in sent[publish:]
    lines = replies(checklist)
    assert lines[0].startswith(":white_check_mark: Train FAQ and ML (en)")
    assert "F1 0.92" in lines[1]
    assert lines[2].startswith(":white_check_mark: Publish")
    assert lines[3].startswith(":white_check_mark: Published version trained (en)")
    assert lines[4].startswith(f"<@{RELEASER}> :rocket: r1 is live")
    assert "r1 is live" in alltext(checklist)
    (post,) = h.kore.publish_posts
    assert post.version_comment.startswith("korebot release: FAQ and ML trained (en); smoke tests")
    # Replayed later: the confirmation is spent.
    again = alltext(h.answer(click(h, RELEASE_ACTION, token, channel)))
    assert "already handled" in again
    assert posts(h.kore, "r1") == ["POST faq", "POST ml", "POST run", "POST publish"]


def test_the_gate_stops_a_release_below_the_bar_before_publishing(h: Harness) -> None:
    h.kore.on_batch_run(BOTS["r2"], SMOKE, BatchScript(running_polls=1, f1="0.85"))
    channel = new_channel()
    _, token = confirm(h, f"release r2 en {SMOKE}", channel)  # unquoted: the words after LANG
    click(h, RELEASE_ACTION, token, channel)

    checklist = ended(h, channel, lines=3)
    assert posts(h.kore, "r2") == ["POST faq", "POST ml", "POST run"]  # no publish
    lines = replies(checklist)
    assert lines[1].startswith(":x: Batch test “smoke tests”")
    assert "F1 0.85 is below the bar of 0.90 by 0.05" in lines[1]
    assert lines[2] == (
        f"<@{RELEASER}> :x: Batch test \u201csmoke tests\u201d failed: not published"
    )


def test_a_failed_training_runs_no_suite_and_publishes_nothing(h: Harness) -> None:
    h.kore.on_train(BOTS["r3"], "en", MlStatus("Inprogress"), MlStatus("Failed"), kind="ml")
    channel = new_channel()
    _, token = confirm(h, f'release r3 en "{SMOKE}"', channel)
    click(h, RELEASE_ACTION, token, channel)

    checklist = ended(h, channel, lines=2)
    assert posts(h.kore, "r3") == ["POST faq", "POST ml"]
    lines = replies(checklist)
    assert lines[0].startswith(":x: Train FAQ and ML (en)")
    assert "ML training failed" in lines[0]
    assert lines[1] == f"<@{RELEASER}> :x: ML training failed: not published"
    assert ":white_circle: *Publish*" in alltext(checklist)  # never begun


def test_stop_release_starts_no_further_step_and_says_what_goes_on(h: Harness) -> None:
    bot = BOTS["r4"]
    h.kore.on_train(bot, "en", *[Status("in-progress")] * 50, Status("success"))
    channel = new_channel()
    _, token = confirm(h, "release r4 en", channel)
    assert "no quality gate will apply" in alltext(h.slack.calls_to("response_url")[-1].args)
    click(h, RELEASE_ACTION, token, channel)
    wait_until(lambda: posts(h.kore, "r4") == ["POST faq", "POST ml"], 10, "both trainings")
    h.slack.wait_for(lambda s: bool(s.messages(channel)), 10, "the checklist")
    (checklist,) = h.slack.messages(channel)
    (stop,) = [
        e
        for b in checklist["blocks"]
        if b["type"] == "actions"
        for e in b["elements"]
        if e["action_id"] == STOP_RELEASE_ACTION
    ]
    refused = alltext(h.answer(click(h, STOP_RELEASE_ACTION, stop["value"], channel, "U0TRAINER")))
    assert "Only publishers" in refused
    said = alltext(h.answer(click(h, STOP_RELEASE_ACTION, stop["value"], channel)))
    assert "no further step starts" in said

    checklist = ended(h, channel, lines=2)
    lines = replies(checklist)
    assert lines[0].startswith(":octagonal_sign: Train FAQ and ML (en)")
    assert "started and going on in Kore.ai: FAQ training" in lines[0]
    assert lines[1].startswith(
        f"<@{RELEASER}> :octagonal_sign: Release stopped by <@{RELEASER}> at Train FAQ and ML"
    )
    assert posts(h.kore, "r4") == ["POST faq", "POST ml"]


def test_two_releases_of_one_bot_at_once_make_one(h: Harness) -> None:
    channel, other = new_channel(), new_channel()
    _, first = confirm(h, "release r5 en", channel)
    _, second = confirm(h, "release r5 en", other, user="U0BOTH")
    urls: list[str] = []
    clicks = [
        threading.Thread(target=lambda: urls.append(click(h, RELEASE_ACTION, first, channel))),
        threading.Thread(
            target=lambda: urls.append(click(h, RELEASE_ACTION, second, other, "U0BOTH"))
        ),
    ]
    for thread in clicks:
        thread.start()
    for thread in clicks:
        thread.join()
    answers = sorted(alltext(h.answer(url)) for url in urls)
    assert answers[0].startswith("A release of r5 is already running")
    assert answers[1].startswith("Releasing r5 (en)")
    # Asked again while it runs: told at once, no confirmation.
    again = alltext(h.answer(h.ask("release r5 en", new_channel(), user=RELEASER, command=COMMAND)))
    assert again.startswith("A release of r5 is already running")
    wait_until(lambda: "POST publish" in posts(h.kore, "r5"), 20, "the publish")
    assert posts(h.kore, "r5") == ["POST faq", "POST ml", "POST publish"]


def test_cancel_starts_nothing_and_rights_and_suites_are_checked_first(h: Harness) -> None:
    channel = new_channel()
    _, token = confirm(h, "release r6 en", channel)
    cancelled = alltext(h.answer(click(h, CANCEL_RELEASE_ACTION, token, channel)))
    assert cancelled.startswith("Release of r6 cancelled; nothing was started.")
    again = alltext(h.answer(click(h, RELEASE_ACTION, token, channel)))
    assert "already handled (cancelled)" in again
    trainer = alltext(h.answer(h.ask("release r6 en", channel, user="U0TRAINER", command=COMMAND)))
    assert "Only publishers may publish r6" in trainer
    publisher = alltext(
        h.answer(h.ask("release r6 en", channel, user="U0PUBLISHER", command=COMMAND))
    )
    assert "trainers" in publisher
    unknown = alltext(
        h.answer(h.ask('release r6 en "nope"', channel, user=RELEASER, command=COMMAND))
    )
    assert "smoke tests" in unknown  # the bot's suites, named
    usage = alltext(h.answer(h.ask("release r6", channel, user=RELEASER, command=COMMAND)))
    assert "Say which bot and language" in usage
    assert posts(h.kore, "r6") == []


def test_list_shows_a_running_release_and_history_its_outcome(h: Harness) -> None:
    bot = BOTS["r7"]
    h.kore.on_train(bot, "en", *[Status("in-progress")] * 20, Status("success"))
    channel = new_channel()
    _, token = confirm(h, "release r7 en", channel)
    click(h, RELEASE_ACTION, token, channel)
    wait_until(lambda: posts(h.kore, "r7") == ["POST faq", "POST ml"], 10, "both trainings")
    listed = alltext(h.answer(h.ask("list", channel, command=COMMAND)))
    assert "Releases running (1)" in listed
    assert "release of r7 (en): Train FAQ and ML (en)" in listed
    assert h.sender.home_opened("U0HOMER").status_code == 200
    wait_view(h, "U0HOMER", "release of r7 (en): Train FAQ and ML (en)")

    ended(h, channel, lines=4)
    history = alltext(h.answer(h.ask("history r7", channel, command=COMMAND)))
    assert "Releases of r7, newest first" in history
    assert ":rocket: live" in history
    assert "r7 is live (en)" in history


def test_stop_release_while_the_suite_runs_publishes_nothing(h: Harness) -> None:
    h.kore.on_batch_run(BOTS["r8"], SMOKE, BatchScript(running_polls=50, f1="0.95"))
    channel = new_channel()
    _, token = confirm(h, f'release r8 en "{SMOKE}"', channel)
    click(h, RELEASE_ACTION, token, channel)
    wait_until(lambda: "POST run" in posts(h.kore, "r8"), 10, "the suite's run")
    said = alltext(h.answer(click(h, STOP_RELEASE_ACTION, token, channel)))
    assert "no further step starts" in said

    checklist = ended(h, channel, lines=3)
    lines = replies(checklist)
    assert lines[0].startswith(":white_check_mark: Train FAQ and ML (en)")
    assert lines[1].startswith(":octagonal_sign: Batch test “smoke tests”")
    assert "started and going on in Kore.ai: run of 'smoke tests'" in lines[1]
    assert lines[2].startswith(f"<@{RELEASER}> :octagonal_sign: Release stopped by")
    assert lines[2].endswith("at Batch test \u201csmoke tests\u201d: not published")
    assert posts(h.kore, "r8") == ["POST faq", "POST ml", "POST run"]


def test_a_running_training_is_joined_and_approvals_are_named_at_the_end(h: Harness) -> None:
    bot = BOTS["r9"]
    h.kore.script(bot, "en", Status("in-progress"), Status("in-progress"), Status("success"))
    h.kore.on_publish(bot, PublishScript(awaiting=("mortgage",), languages=("en",)))
    channel = new_channel()
    _, token = confirm(h, "release r9 en", channel)
    click(h, RELEASE_ACTION, token, channel)

    checklist = ended(h, channel, lines=5)
    assert posts(h.kore, "r9") == ["POST ml", "POST publish"]  # FAQ was running: joined
    lines = replies(checklist)
    assert "FAQ success (joined: it was running)" in lines[0]
    assert lines[1].startswith(":heavy_minus_sign: Quality gate")
    assert lines[2].startswith(":warning: Publish")
    assert "awaiting approval: mortgage" in lines[2]
    assert lines[4].startswith(
        f"<@{RELEASER}> :warning: r9 is published and trained, but dialogs await an admin's "
        "approval: not live until"
    )


def test_a_channel_korebot_cannot_post_in_gets_the_checklist_by_dm(h: Harness) -> None:
    closed = new_channel()
    h.slack.set_channel(closed, member=False)
    _, token = confirm(h, "release r10 en", closed)
    click(h, RELEASE_ACTION, token, closed)

    def checklist_posted() -> list[str]:
        return [
            str(c.result["channel"])
            for c in h.slack.calls_to("chat.postMessage")
            if c.ok
            and (c.args.get("metadata") or {}).get("event_payload", {}).get("line") == "checklist"
            and "r10" in str(c.args.get("text"))
        ]

    wait_until(lambda: bool(checklist_posted()), 10, "the checklist")
    (dm,) = checklist_posted()
    assert dm != closed
    checklist = ended(h, dm, lines=5)
    assert replies(checklist)[-1].startswith(f"<@{RELEASER}> :rocket: r10 is live (en)")
    assert h.slack.messages(closed) == []
