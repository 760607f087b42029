"""Run history in the store (korebot.watch.store.runs), on SQLite and PostgreSQL.

With the store's clock controlled, as tests/store/test_store_contract.py does (the fixtures
of tests/conftest.py): a run seen starting and ending, one seen only finished, one started
from Slack, a first status that is a run in progress; the usual length; the bound of runs
kept; pruning.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select
from support.store import BOT, KEY, ask, status

from korebot.kore import State, Status
from korebot.testing.clock import Clock
from korebot.watch.store import Store, abc
from korebot.watch.store.runs import KEEP_RUNS, overdue, usual
from korebot.watch.store.tables import Run, Target
from korebot.watch.types import Ended, RunEvent, RunStart, Via, WatchRequest


def poll(store: abc.Store, raw: str, run: str = "run-1") -> None:
    (claim,) = store.targets.acquire_polls(1, target_id(store))
    assert store.targets.record_status(claim.lease, status(raw, run), str) is not None


def target_id(store: abc.Store) -> int:
    assert isinstance(store, Store)
    with store.session() as session:
        return session.scalars(select(Target.id).where(Target.key == str(KEY))).one()


def target(store: abc.Store) -> Target:
    assert isinstance(store, Store)
    with store.session() as session:
        return session.scalars(select(Target).where(Target.key == str(KEY))).one()


def test_a_run_seen_starting_and_ending_is_one_row_with_its_length(
    store: abc.Store, clock: Clock
) -> None:
    ask(store)  # its first status, in progress: the run is first seen now
    begun = clock.now()
    clock.advance(60)
    poll(store, "in-progress")
    (running,) = store.runs.runs(KEY)
    assert (running.outcome, running.start, running.started_at) == (
        None,
        RunStart.FIRST_SEEN,
        begun,
    )
    clock.advance(180)
    poll(store, "success")
    (run,) = store.runs.runs(KEY)
    assert (run.outcome, run.start, run.started_at, run.ended_at) == (
        Status.SUCCESS,
        RunStart.FIRST_SEEN,
        begun,
        clock.now(),
    )
    assert run.duration == 240.0
    assert run.started_by is None
    poll(store, "success")  # nothing new
    assert len(store.runs.runs(KEY)) == 1


def test_a_run_between_two_polls_has_no_start_and_a_new_one_opens_on_start(
    store: abc.Store, clock: Clock
) -> None:
    request = WatchRequest("T0TEAM", "C0ONE", "U0ONE", BOT, "en", State.CONFIGURED)
    store.watches.join_watch(request, status("success", "run-1"))
    assert store.runs.runs(KEY) == []  # a run that ended before korebot looked is not history
    clock.advance(30)
    poll(store, "failure", "run-2")  # it started and ended between two polls
    (ran,) = store.runs.runs(KEY)
    assert (ran.outcome, ran.start, ran.started_at, ran.duration) == (
        Status.FAILURE,
        None,
        None,
        None,
    )
    assert ran.ended_at == clock.now()
    clock.advance(30)
    poll(store, "in-progress", "run-3")
    newest, older = store.runs.runs(KEY)
    assert (newest.outcome, newest.start, newest.started_at) == (
        None,
        RunStart.FIRST_SEEN,
        clock.now(),
    )
    assert older == ran


def test_a_run_started_from_slack_has_its_exact_start_and_starter(
    store: abc.Store, clock: Clock
) -> None:
    ask(store, "C0OTHER")
    poll(store, "success", "run-1")  # a first run ends
    clock.advance(600)
    posted = clock.now()
    request = WatchRequest(
        "T0TEAM", "C0ONE", "U0STARTER", BOT, "en", State.CONFIGURED, via=Via.TRAIN
    )
    store.watches.join_watch(request, status("in-progress", "run-2"))
    clock.advance(45)
    poll(store, "in-progress", "run-2")  # the poll sees it start: the same run, not a second
    clock.advance(75)
    poll(store, "success", "run-2")
    newest, first = store.runs.runs(KEY)
    assert (newest.start, newest.started_at, newest.started_by) == (
        RunStart.STARTED,
        posted,
        "U0STARTER",
    )
    assert newest.duration == 120.0
    assert first.started_by is None


def test_the_usual_length_is_the_median_of_the_last_successes(
    store: abc.Store, clock: Clock
) -> None:
    ask(store)
    clock.advance(100)
    poll(store, "success", "run-0")
    for number, (seconds, raw) in enumerate(
        [(200, "success"), (5, "failure"), (400, "success"), (300, "success")], start=1
    ):
        clock.advance(60)
        poll(store, "in-progress", f"run-{number}")
        assert target(store).usual_seconds is None or number == 4
        clock.advance(seconds)
        poll(store, raw, f"run-{number}")
    found = target(store)
    # 100, 200, 400, 300 (the failure left out): their median.
    assert (found.usual_seconds, found.usual_runs) == (250.0, 4)


def test_the_usual_length_needs_three_runs_and_takes_the_last_ten() -> None:
    assert usual([100.0, 200.0]) is None
    assert usual([100.0, 200.0, 600.0]) is not None
    found = usual([60.0] * 10 + [6000.0] * 5)  # newest first: the older ones do not count
    assert found is not None
    assert (found.seconds, found.runs) == (60.0, 10)


def test_overdue_is_twice_the_usual_and_five_minutes_more() -> None:
    assert not overdue(500, 240)  # more than twice 4 min, but not 5 min over
    assert overdue(541, 240)
    assert not overdue(2 * 3600 - 1, 3600)  # an hour over, but not twice
    assert overdue(2 * 3600 + 1, 3600)


def test_only_the_last_runs_are_kept(store: abc.Store, clock: Clock) -> None:
    ask(store)
    poll(store, "success", "run-0")
    for number in range(1, KEEP_RUNS + 6):
        clock.advance(60)
        poll(store, "failure", f"run-{number}")
    runs = store.runs.runs(KEY, limit=KEEP_RUNS + 10)
    assert len(runs) == KEEP_RUNS
    assert isinstance(store, Store)
    with store.session() as session:
        assert session.scalar(select(func.count(Run.id))) == KEEP_RUNS
    assert runs[0].ended_at == clock.now()  # the newest kept


@pytest.mark.parametrize("via", [Via.ASK, Via.TRAIN])
def test_two_asks_of_a_new_target_open_one_run(store: abc.Store, via: Via) -> None:
    for channel in ("C0ONE", "C0TWO"):
        request = WatchRequest("T0TEAM", channel, "U0ONE", BOT, "en", State.CONFIGURED, via=via)
        store.watches.join_watch(request, status("in-progress"))
    (run,) = store.runs.runs(KEY)
    assert run.outcome is None


def test_pruning_deletes_old_ended_watches_and_keeps_the_runs(
    store: abc.Store, clock: Clock
) -> None:
    old = ask(store, "C0OLD")
    ask(store, "C0TWO")
    stopped = store.watches.stop_watch(old, "C0OLD")
    assert stopped is not None
    poll(store, "success")
    for claim in store.watches.acquire_deliveries(10):
        store.watches.close_delivery(claim.lease, Ended.DELIVERED)
    clock.advance(86400 * 2)
    recent = ask(store, "C0NEW")
    store.watches.stop_watch(recent, "C0NEW")
    assert store.watches.prune_watches(clock.now() - timedelta(days=1)) == 2
    assert store.watches.prune_watches(clock.now() - timedelta(days=1)) == 0
    # Kept: the first run, and the one the last ask saw start.
    assert [run.outcome for run in store.runs.runs(KEY)] == [None, Status.SUCCESS]
    assert isinstance(store, Store)
    assert store.watches.watches_in("C0NEW") == []
    assert store.watches.prune_watches(clock.now() + timedelta(seconds=1)) == 1


def test_an_ask_that_sees_a_run_first_opens_it_and_a_later_final_status_ends_it(
    store: abc.Store, clock: Clock
) -> None:
    ask(store, "C0OTHER")
    clock.advance(60)
    poll(store, "success", "run-1")
    clock.advance(600)
    asked_at = clock.now()
    ask(store)  # in progress, before any poll saw it
    clock.advance(5)
    # A poll read before the ask: within the settling time, the run stays open.
    poll(store, "success", "run-1")
    assert store.runs.runs(KEY)[0].outcome is None
    clock.advance(295)
    poll(store, "failure", "run-1")  # the same identity (no new run): still its end
    newest = store.runs.runs(KEY)[0]
    assert (newest.outcome, newest.started_at, newest.duration) == (
        Status.FAILURE,
        asked_at,
        300.0,
    )


def test_a_run_far_past_its_usual_marks_its_watches_once(store: abc.Store, clock: Clock) -> None:
    ask(store)
    for number in range(3):
        clock.advance(240)
        poll(store, "success", f"run-{number}")
        clock.advance(60)
        poll(store, "in-progress", f"run-{number + 1}")
    assert target(store).usual_seconds == 240.0
    (claim,) = store.targets.acquire_polls(1, target_id(store))
    observed = store.targets.record_status(claim.lease, status("in-progress", "run-3"), str)
    assert observed is not None
    assert observed.overdue == []  # 60 s in: not overdue
    ask(store, "C0TWO")  # (the first ask's watch has its outcome)
    ask(store, "C0THREE")
    overdue_views = []
    for _ in range(20):
        clock.advance(60)
        (claim,) = store.targets.acquire_polls(1, target_id(store))
        observed = store.targets.record_status(claim.lease, status("in-progress", "run-3"), str)
        assert observed is not None
        overdue_views += observed.overdue
    # Past 9 min (twice 4 min is less than 4 min and 5 more): each watch once.
    assert sorted(v.channel_id for v in overdue_views) == ["C0THREE", "C0TWO"]
    assert all(v.overdue and v.usual_seconds == 240.0 for v in overdue_views)
    (watch,) = store.watches.watches_in("C0TWO")
    assert watch.overdue


def test_a_poll_read_before_a_start_from_slack_is_dropped_and_the_started_run_stays_open(
    store: abc.Store, clock: Clock
) -> None:
    ask(store, "C0OTHER")
    clock.advance(60)
    poll(store, "success", "run-1")
    clock.advance(600)
    (under_way,) = store.targets.acquire_polls(1, target_id(store))  # a poll is reading...
    request = WatchRequest(
        "T0TEAM", "C0ONE", "U0STARTER", BOT, "en", State.CONFIGURED, via=Via.TRAIN
    )
    store.watches.join_watch(request, status("in-progress", "run-3"))  # ...as one starts
    clock.advance(2)
    stale = status("failure", "run-2")  # what it read before the start
    observed = store.targets.record_status(under_way.lease, stale, str, read_after=under_way.seen)
    assert observed is not None
    assert observed.event is RunEvent.SAME
    started, first = store.runs.runs(KEY)  # newest recorded first
    assert (started.outcome, started.started_by) == (None, "U0STARTER")
    assert first.outcome is Status.SUCCESS
    clock.advance(30)
    poll(store, "success", "run-3")  # the start's own run ends: its watch has the result
    ended, _ = store.runs.runs(KEY)
    assert (ended.outcome, ended.started_by, ended.duration) == (Status.SUCCESS, "U0STARTER", 32.0)


@pytest.mark.parametrize("raw", ["in-progress", "success"])
def test_a_run_nobody_looked_at_for_hours_has_no_length(
    store: abc.Store, clock: Clock, raw: str
) -> None:
    watch_id = ask(store)  # first seen running
    store.watches.stop_watch(watch_id, "C0ONE")  # nothing polls it any more
    clock.advance(3 * 3600)
    ask(store, "C0TWO")  # no poll since: the run stays open until the next one
    clock.advance(30)
    poll(store, raw, "run-2")
    runs = store.runs.runs(KEY)
    if raw == "in-progress":
        now, unseen = runs
        assert (now.outcome, now.start, now.started_at) == (None, RunStart.FIRST_SEEN, clock.now())
        assert (unseen.outcome, unseen.duration) == (Status.UNKNOWN, None)
    else:
        (ended,) = runs
        assert (ended.outcome, ended.duration, ended.ended_at) == (
            Status.SUCCESS,
            None,
            clock.now(),
        )


def test_a_run_asked_about_hours_after_the_last_look_is_timed_from_the_ask(
    store: abc.Store, clock: Clock
) -> None:
    watch_id = ask(store)
    poll(store, "success")  # the first run ends; nothing watches any more
    store.watches.stop_watch(watch_id, "C0ONE")
    clock.advance(3 * 3600)
    ask(store, "C0TWO")  # the next run, seen first by this ask
    asked = clock.now()
    clock.advance(30)
    poll(store, "in-progress", "run-2")
    clock.advance(200)
    poll(store, "success", "run-2")
    latest, _first = store.runs.runs(KEY)
    assert (latest.outcome, latest.start, latest.started_at) == (
        Status.SUCCESS,
        RunStart.FIRST_SEEN,
        asked,
    )
    assert latest.duration == 230.0
