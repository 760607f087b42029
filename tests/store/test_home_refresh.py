"""The Home tab's store reads (HomeStore) and its refreshes (korebot.slack.home_refresh):
who is shown what, which tabs count as open, and refreshes coalesced per user and capped."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from korebot.kore import Credentials, JobStatus, Kind, State
from korebot.registry import Bot, BotRegistry, JobKey
from korebot.slack.home_refresh import HomeRefresher
from korebot.testing.clock import Clock
from korebot.watch.store import Store
from korebot.watch.store.abc import Policy
from korebot.watch.types import WatchRequest

CREDS = Credentials("cs-1", "secret")
SUPPORT = Bot("st-support", "support", "https://bots.kore.ai", CREDS)
RESTRICTED = Bot("st-restricted", "restricted", "https://bots.kore.ai", CREDS, users=("U0A",))


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def store(tmp_path: Path, clock: Clock, make_store: Callable[..., Store]) -> Store:
    return make_store(f"sqlite:///{tmp_path / 'korebot.db'}", policy=Policy(clock=clock.now))


def running() -> JobStatus:
    return JobStatus.from_json({"status": "in-progress", "message": "m", "_id": "r"})


def test_the_activity_is_the_users_watches_and_the_subscriptions_they_can_know_of(
    store: Store,
) -> None:
    mine = WatchRequest("T1", "C1", "U0A", SUPPORT, "en", State.CONFIGURED)
    store.watches.join_watch(mine, running())
    store.watches.join_watch(
        WatchRequest("T1", "C2", "U0B", SUPPORT, "de", State.CONFIGURED), running()
    )
    key = JobKey.of(SUPPORT, "en", State.CONFIGURED, Kind.ML)
    store.subscriptions.subscribe(
        "T1", "C1", "U0B", key, "support"
    )  # in a channel where U0A watches
    store.subscriptions.subscribe("T1", "C3", "U0A", key, "support")  # created by U0A
    store.subscriptions.subscribe("T1", "C4", "U0B", key, "support")  # neither
    activity = store.home_tabs.home_activity("U0A", [(SUPPORT.host, SUPPORT.bot_id)])
    assert [w.channel_id for w in activity.watches] == ["C1"]
    assert [s.channel_id for s in activity.subscriptions] == ["C1", "C3"]
    faq_en = activity.trainings[mine.key]
    assert faq_en.last_status == "in-progress"
    assert faq_en.checked_at is not None
    assert faq_en.usual_seconds is None  # no run history yet
    de = JobKey.of(SUPPORT, "de", State.CONFIGURED)
    assert set(activity.trainings) == {mine.key, de, key}
    assert store.home_tabs.home_activity("U0A", []).trainings == {}


def test_refreshes_go_to_open_tabs_of_users_who_see_the_bot_once_each(
    store: Store, clock: Clock
) -> None:
    store.home_tabs.record_home_opened("T1", "U0OLD")
    clock.advance(700)  # past OPEN_FOR (600 s): closed, as far as korebot can tell
    store.home_tabs.record_home_opened("T1", "U0A")
    store.home_tabs.record_home_opened("T1", "U0B")
    published: list[tuple[str, str]] = []
    registry = BotRegistry([SUPPORT, RESTRICTED], default_host="h", default_credentials=None)
    refresher = HomeRefresher(
        store.home_tabs.open_homes,
        registry,
        lambda team, user: published.append((team, user)),
        clock.now,
    )
    refresher.flush()
    assert published == []  # nothing changed
    for _ in range(3):
        refresher.changed("restricted")
    refresher.flush()
    assert published == [("T1", "U0A")]  # once, and only for whom the bot is shown
    refresher.changed("support")
    refresher.changed("restricted")
    refresher.flush()
    assert published[1:] == [("T1", "U0A"), ("T1", "U0B")]
    clock.advance(601)
    refresher.changed("support")
    refresher.flush()
    assert len(published) == 3  # no tab opened in the last 10 minutes


def test_refreshes_are_capped_per_minute_and_the_rest_wait(store: Store, clock: Clock) -> None:
    for user in ("U01", "U02", "U03"):
        store.home_tabs.record_home_opened("T1", user)
    published: list[str] = []
    registry = BotRegistry([SUPPORT], default_host="h", default_credentials=None)
    refresher = HomeRefresher(
        store.home_tabs.open_homes,
        registry,
        lambda _team, user: published.append(user),
        clock.now,
        per_minute=2,
    )
    refresher.changed("support")
    refresher.flush()
    assert published == ["U01", "U02"]
    refresher.changed("support")  # U01 and U02 queued again, U03 still waiting
    refresher.flush()
    assert published == ["U01", "U02"]  # the cap holds within the minute
    store.home_tabs.record_home_opened("T1", "U01")  # opened again: one row, its time moved
    assert sorted(user for _, user in store.home_tabs.open_homes(clock.now())) == [
        "U01",
        "U02",
        "U03",
    ]
