"""``korebot_releases`` (korebot.watch.store.releases) held to its port of the contract, on
each database the store runs on, with the store's clock controlled: a confirmation begun
once, one running release per bot, the lease of a release's next step, Stop release."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from support.store import BOT

from korebot.registry import Bot
from korebot.testing.clock import Clock
from korebot.watch.store import abc
from korebot.watch.types import (
    ReleaseAsk,
    ReleaseOutcome,
    ReleaseProgress,
    ReleaseState,
    ReleaseStep,
    ReleaseView,
)


def record(store: abc.Store, user: str = "U0ONE", bot: Bot = BOT) -> ReleaseView:
    ask = ReleaseAsk("T0TEAM", "C0ONE", user, bot, "en", "smoke tests", 0.9, 0.02)
    return store.releases.record_release(ask)


def test_a_confirmation_begins_once_whoever_clicks(
    store: abc.Store, request: pytest.FixtureRequest
) -> None:
    if request.node.callspec.params["store_url"] == "sqlite-memory":
        pytest.skip("one connection, one thread at a time: there is no 'at once'")
    release = record(store)
    assert release.state is ReleaseState.PENDING
    assert store.releases.acquire_releases(10) == []  # nothing due before the click
    won: list[bool] = []
    clicks = [
        threading.Thread(target=lambda: won.append(store.releases.begin_release(release.token).won))
        for _ in range(8)
    ]
    for thread in clicks:
        thread.start()
    for thread in clicks:
        thread.join()
    assert sorted(won) == [False] * 7 + [True]
    now = store.releases.release(release.token)
    assert now is not None
    assert now.state is ReleaseState.RUNNING
    assert store.releases.cancel_release(release.token)[1] is False


def test_a_bot_has_one_running_release_and_the_next_begins_after_it(
    store: abc.Store,
) -> None:
    first, second = record(store), record(store, "U0TWO")
    assert store.releases.begin_release(first.token).won
    refused = store.releases.begin_release(second.token)
    assert not refused.won
    assert refused.running is not None
    assert refused.running.release_id == first.release_id
    assert store.releases.running_release(BOT.host, BOT.bot_id) == refused.running
    other = Bot("st-other", "other", BOT.host, BOT.credentials)
    assert store.releases.begin_release(record(store, bot=other).token).won  # another bot
    (claim, _) = store.releases.acquire_releases(10)
    assert claim.view.release_id == first.release_id
    ended = store.releases.save_release(
        claim.lease, ReleaseProgress(), ReleaseStep.TRAIN, outcome=ReleaseOutcome.FAILED
    )
    assert ended is not None
    assert ended.state is ReleaseState.ENDED
    assert store.releases.running_release(BOT.host, BOT.bot_id) is None
    assert store.releases.begin_release(second.token).won
    history = store.releases.releases(BOT.host, BOT.bot_id, 10)
    assert [r.release_id for r in history] == [second.release_id, first.release_id]


def test_an_expired_or_cancelled_confirmation_never_begins(store: abc.Store, clock: Clock) -> None:
    late, cancelled = record(store), record(store, "U0TWO")
    assert store.releases.cancel_release(cancelled.token)[1]
    assert not store.releases.begin_release(cancelled.token).won
    clock.advance(601)
    begun = store.releases.begin_release(late.token)
    assert not begun.won
    assert begun.release is not None
    assert begun.release.state is ReleaseState.PENDING


def test_a_release_has_one_holder_and_a_dead_one_writes_nothing(
    store: abc.Store, clock: Clock
) -> None:
    release = record(store)
    store.releases.begin_release(release.token)
    (claim,) = store.releases.acquire_releases(10)
    assert store.releases.acquire_releases(10) == []
    clock.advance(store.policy.poll_lease + 1)  # the holder died
    (taken,) = store.releases.acquire_releases(10)
    assert taken.lease != claim.lease
    # The dead holder's writes (a job about to be POSTed) are refused: it must not POST.
    assert store.releases.save_release(claim.lease, ReleaseProgress(), ReleaseStep.GATE) is None
    due = clock.now() + timedelta(seconds=1)
    saved = store.releases.save_release(
        taken.lease, ReleaseProgress(), ReleaseStep.GATE, message=("C0ONE", "1.000"),
        due=due, release=True,
    )  # fmt: skip
    assert saved is not None
    assert (saved.step, saved.message_ts) == (ReleaseStep.GATE, "1.000")
    assert store.releases.acquire_releases(10) == []
    clock.advance(1)
    (again,) = store.releases.acquire_releases(10)
    assert again.view.step is ReleaseStep.GATE


def test_stop_release_makes_it_due_at_once_and_is_asked_once(
    store: abc.Store, clock: Clock
) -> None:
    release = record(store)
    assert store.releases.stop_release(release.release_id, "U0TWO") is None  # not running
    store.releases.begin_release(release.token)
    (claim,) = store.releases.acquire_releases(10)
    later = clock.now() + timedelta(hours=1)
    store.releases.save_release(
        claim.lease, ReleaseProgress(), ReleaseStep.TRAIN, due=later, release=True
    )
    stopped = store.releases.stop_release(release.release_id, "U0TWO")
    assert stopped is not None
    assert stopped.stopped_by == "U0TWO"
    assert store.releases.stop_release(release.release_id, "U0ONE") is None
    (due,) = store.releases.acquire_releases(10)
    assert due.view.stopped_by == "U0TWO"
    # A holder that lets it go after a stop was asked (during its look) leaves it due now.
    store.releases.save_release(
        due.lease, ReleaseProgress(), ReleaseStep.TRAIN, due=later, release=True
    )
    (again,) = store.releases.acquire_releases(10)
    assert again.view.release_id == release.release_id
    assert [r.release_id for r in store.releases.running_releases()] == [release.release_id]
