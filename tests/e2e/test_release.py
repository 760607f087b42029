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
        KOREBOT_TRAINERS=f"{RELEASER},U0TRAINER",
        KOREBOT_PUBLISHERS=f"{RELEASER},U0PUBLISHER",
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
        return bool(top) and len(top[0]["replies"]) >= lines and "Stop release" not in alltext(top[0])

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
    clicks = [threading.Thread(target=click, args=(h, RELEASE_ACTION, token, channel)) for _ in "ab"]
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
    assert lines[0].startswith(":white_check_mark: *Train FAQ and ML (en)*")
    assert "F1 0.92" in lines[1]
    assert lines[2].startswith(":white_check_mark: *Publish*")
    assert lines[3].startswith(":white_check_mark: *Published version trained (en)*")
    assert lines[4].startswith(f"<@{RELEASER}> :rocket: r1 is live")
    assert "r1 is live" in alltext(checklist)
    (post,) = h.kore.publish_posts
    assert post.version_comment.startswith("korebot release: FAQ and ML trained (en); smoke tests")
    # Replayed later: the confirmation is spent.
    again = alltext(h.answer(click(h, RELEASE_ACTION, token, channel)))
    assert "already handled" in again
    assert posts(h.kore, "r1") == ["POST faq", "POST ml", "POST run", "POST publish"]
