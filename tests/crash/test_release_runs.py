"""A release from Slack across SIGKILL: every POST at most once, and the release finishes.

The real app runs as a child process against fakes that kill it at a chosen moment
(tests/support/chaos.py): as Kore.ai takes each of a release's POSTs in turn (the FAQ
training's, the suite run's, the publish's: each reached Kore.ai, and the app never heard
the answer) and while it follows the published version's trainings. A new process on the
same database takes the release over once its lease expires; the test counts the POSTs
the fake Kore.ai got and the lines Slack got.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select
from support.chaos import HookedKore, HookedSlack, Killer, Trigger
from support.exactly_once import FAST
from support.slack_app import BOT, SIGNING_SECRET, app_env, check_clean, new_channel, wait_until
from support.store import open_store

from korebot.slack.release_messages import RELEASE_ACTION
from korebot.testing.app_process import AppProcess
from korebot.testing.fake_kore import (
    BatchScript,
    BatchSuite,
    MlStatus,
    PastRun,
    PublishScript,
    Status,
)
from korebot.testing.fake_slack import SlackSender
from korebot.watch.store import Store
from korebot.watch.store.tables import Release

RELEASER = "U0RELEASER"
SMOKE = "smoke tests"
RELEASED = "korebot_release"


@pytest.fixture
def killer() -> Killer:
    return Killer()


@pytest.fixture
def kore(killer: Killer) -> Iterator[HookedKore]:
    with HookedKore(killer, rate_limit=None) as fake:
        fake.on_train(BOT, "en", Status("in-progress"), Status("in-progress"), Status("success"))
        fake.on_train(
            BOT, "en", MlStatus("Inprogress"), MlStatus("Inprogress"), MlStatus("Finished"),
            kind="ml",
        )  # fmt: skip
        fake.batch_suites(BOT, BatchSuite(SMOKE, results=(PastRun("0.91"),)))
        fake.on_batch_run(BOT, SMOKE, BatchScript(running_polls=2, f1="0.92"))
        fake.on_publish(BOT, PublishScript(running_polls=2, languages=("en",)))
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
    return app_env(
        kore,
        slack,
        tmp_path / "korebot.db",
        **FAST,
        KORE_ADMIN_CLIENT_ID=kore.admin_client_id,
        KORE_ADMIN_CLIENT_SECRET=kore.admin_client_secret,
        KOREBOT_TRAINERS=RELEASER,
        KOREBOT_PUBLISHERS=RELEASER,
        KOREBOT_MIN_F1="0.90",
    )


def release_from_slack(app: AppProcess, slack: HookedSlack, channel: str) -> None:
    """Ask for a release, then click its confirmation's Release."""
    url = slack.response_url()
    with SlackSender(app.events_url, SIGNING_SECRET) as sender:
        asked = sender.command(
            f'release support en "{SMOKE}"', channel_id=channel, user_id=RELEASER,
            response_url=url, command="/publish-status",
        )  # fmt: skip
        assert asked.status_code == 200
        wait_until(lambda: bool(slack.calls_to("response_url")), 10, "the confirmation")
        (confirmation,) = [c.args for c in slack.calls_to("response_url") if c.args["_url"] == url]
        (actions,) = [b for b in confirmation["blocks"] if b["type"] == "actions"]
        token = actions["elements"][0]["value"]
        clicked = sender.action(
            RELEASE_ACTION, token, user_id=RELEASER, channel_id=channel,
            response_url=slack.response_url(),
        )  # fmt: skip
        assert clicked.status_code == 200


def state(store: Store) -> str:
    with store.session() as session:
        (row,) = session.scalars(select(Release))
        return row.state


#: Where the app is killed: as Kore.ai takes a POST (it is recorded and acted on; the app
#: never hears the answer), or while the published version's trainings are followed.
MOMENTS = {
    "train": lambda seen: seen.method == "train",
    "gate": lambda seen: seen.method == "batch-run",
    "publish": lambda seen: seen.method == "publish",
    "live": lambda seen: seen.method == "status" and seen.args.get("state") == "published",
}


@pytest.mark.parametrize("moment", list(MOMENTS))
def test_a_release_killed_in_each_step_posts_each_once_and_goes_live(
    kore: HookedKore,
    slack: HookedSlack,
    killer: Killer,
    env: dict[str, str],
    store: Store,
    moment: str,
) -> None:
    channel = new_channel()
    app = AppProcess(env).start()
    killer.app = app
    matches = MOMENTS[moment]
    killer.arm(Trigger(moment, lambda seen: seen.source == "kore" and matches(seen)))
    release_from_slack(app, slack, channel)
    assert killer.wait(20), "the app was not killed"
    app.stop()

    with AppProcess(env) as again:
        wait_until(lambda: state(store) == "ended", 40, "the release to end")
        wait_until(lambda: len(thread(slack, channel)) == 5, 10, "the thread's five lines")
        assert again.stop() == 0
        check_clean(again, kore, slack, extra=kore.admin_client_secret)

    assert kore.count(BOT, kind="train", training="faq") == 1
    assert kore.count(BOT, kind="train", training="ml") == 1
    assert len(kore.batch_posts) == 1
    assert len(kore.publish_posts) == 1
    lines = thread(slack, channel)
    assert lines[-1].startswith(f"<@{RELEASER}> :rocket: support is live (en)")
    tags = [m["metadata"]["event_payload"]["line"] for m in slack.messages(channel)[0]["replies"]]
    assert tags == ["train", "gate", "publish", "live", "end"]  # each once


def thread(slack: HookedSlack, channel: str) -> list[str]:
    top = slack.messages(channel)
    return [reply["text"] for reply in top[0]["replies"]] if top else []
