"""The watch store's contract (korebot.watch.store.abc), held against each implementation.

The same tests run on SQLite in a file, SQLite in memory and PostgreSQL, with the store's
clock controlled: leases (one holder, expiry, renewal, checked release), due targets,
owed posts with their attempts counted, the commands' rows, and recorded slash commands.
"""

from __future__ import annotations

import sqlite3
import threading
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import event, select
from support.store import BOT, KEY, ask, status

from korebot.errors import DatabaseUnavailable, LimitReached, Undeliverable
from korebot.kore import JobStatus, Kind, State, Status
from korebot.registry import Bot, JobKey
from korebot.testing.clock import Clock
from korebot.watch.store import Store, abc
from korebot.watch.store.tables import Command
from korebot.watch.types import (
    CommandRecord,
    Ended,
    Outcome,
    StartAsk,
    StartState,
    Subscribed,
    Via,
    WatchRequest,
)


def test_a_new_watch_is_leased_to_its_creator_and_a_second_ask_joins_it(
    store: abc.Store,
) -> None:
    request = WatchRequest("T0TEAM", "C0ONE", "U0ONE", BOT, "en", State.CONFIGURED)
    first = store.watches.join_watch(request, status("in-progress"))
    assert first.lease is not None
    assert first.view.via is Via.ASK
    # Its message is owed, but its creator holds it: nobody else acquires it.
    assert store.watches.acquire_deliveries(10) == []
    again = store.watches.join_watch(
        WatchRequest("T0TEAM", "C0ONE", "U0TWO", BOT, "en", State.CONFIGURED), status("x")
    )
    assert again.lease is None
    assert again.view.watch_id == first.view.watch_id
    assert set(again.view.askers) == {"U0ONE", "U0TWO"}
    assert (
        store.watches.record_thread(first.lease, ("C0ONE", "1.000"), release=True).thread_ts
        == "1.000"
    )
    assert store.watches.acquire_deliveries(10) == []  # nothing owed any more
    assert store.watches.find_watch(KEY, "C0ONE") == first.view.watch_id


def test_a_creator_that_dies_leaves_the_message_owed_after_the_lease(
    store: abc.Store, clock: Clock
) -> None:
    request = WatchRequest("T0TEAM", "C0ONE", "U0ONE", BOT, "en", State.CONFIGURED)
    store.watches.join_watch(request, status("in-progress"))  # and never records its thread
    clock.advance(29)
    assert store.watches.acquire_deliveries(10) == []
    clock.advance(2)
    (claim,) = store.watches.acquire_deliveries(10)
    assert claim.outcome is None
    assert claim.announce_attempts == 1  # look before posting again


def test_the_limits_count_active_watches(store: abc.Store) -> None:
    ask(store, "C0ONE")
    other = Bot("st-other", "other", BOT.host, BOT.credentials)
    store.watches.join_watch(
        WatchRequest("T0TEAM", "C0ONE", "U0ONE", other, "en", State.CONFIGURED), status("x")
    )
    third = Bot("st-third", "third", BOT.host, BOT.credentials)
    with pytest.raises(LimitReached):
        store.watches.join_watch(
            WatchRequest("T0TEAM", "C0ONE", "U0ONE", third, "en", State.CONFIGURED), status("x")
        )
    assert len(store.watches.watches_in("C0ONE")) == 2
    # Another channel has its own count; an ended watch counts no more.
    ask(store, "C0TWO")
    store.watches.stop_watch(store.watches.watches_in("C0ONE")[0].watch_id, "C0ONE")
    store.watches.join_watch(
        WatchRequest("T0TEAM", "C0ONE", "U0ONE", third, "en", State.CONFIGURED), status("x")
    )


def test_a_due_target_has_one_holder_until_it_is_released_or_expires(
    store: abc.Store, clock: Clock
) -> None:
    ask(store)
    assert store.targets.acquire_polls(10) == []  # due one interval after the ask
    clock.advance(30)
    (claim,) = store.targets.acquire_polls(10)
    assert (claim.bot_name, claim.language, claim.state) == ("support", "en", State.CONFIGURED)
    assert store.targets.acquire_polls(10) == []  # held
    clock.advance(4)
    assert store.leases.renew([claim.lease]) == set()  # renewed: 5 s from now
    clock.advance(4)
    assert store.targets.acquire_polls(10) == []
    clock.advance(2)  # expired: the holder is taken for dead
    (taken,) = store.targets.acquire_polls(10)
    assert taken.lease.owner != claim.lease.owner
    # The first holder's release is refused, and changes nothing.
    assert store.targets.record_status(claim.lease, status("success"), str) is None
    assert store.leases.renew([claim.lease]) == {claim.lease}
    assert store.targets.defer(claim.lease, 1) is False
    observed = store.targets.record_status(taken.lease, status("in-progress"), str)
    assert observed is not None
    assert store.targets.acquire_polls(10) == []  # released with its next poll, 30 s on
    clock.advance(30)
    assert len(store.targets.acquire_polls(10)) == 1


def test_a_final_status_records_the_outcome_before_it_is_posted(
    store: abc.Store, clock: Clock
) -> None:
    watch_id = ask(store)
    clock.advance(30)
    (poll,) = store.targets.acquire_polls(10)
    store.targets.record_status(poll.lease, status("success"), str)
    (claim,) = store.watches.acquire_deliveries(10)
    assert claim.view.watch_id == watch_id
    assert claim.outcome == Outcome(result=status("success"), took=30.0)  # first seen by the ask
    assert (claim.announce_attempts, claim.outcome_attempts) == (1, 0)  # its message, once
    assert store.watches.acquire_deliveries(10) == []
    # A failed post: released with a retry time; then acquired again, attempt counted.
    assert store.watches.release_delivery(claim.lease, clock.now() + timedelta(seconds=4))
    assert store.watches.acquire_deliveries(10) == []
    clock.advance(5)
    (again,) = store.watches.acquire_deliveries(10)
    assert again.outcome_attempts == 1
    assert store.watches.close_delivery(again.lease, Ended.DELIVERED)
    assert store.watches.close_delivery(again.lease, Ended.DELIVERED) is False
    assert store.watches.watches_in("C0ONE") == []
    assert store.targets.active_count() == 0  # nothing waits on the target: no more polls


def test_a_watch_past_its_deadline_times_out(store: abc.Store, clock: Clock) -> None:
    ask(store)
    clock.advance(3601)
    (poll,) = store.targets.acquire_polls(10)
    store.targets.record_status(
        poll.lease, status("in-progress"), lambda seen: f"timed out at {seen}"
    )
    (claim,) = store.watches.acquire_deliveries(10)
    assert claim.outcome == Outcome(reason="timed out at in-progress")


def test_a_permanent_failure_ends_watches_and_pauses_subscriptions(
    store: abc.Store, clock: Clock
) -> None:
    _, how = store.subscriptions.subscribe("T0TEAM", "C0SUB", "U0LEAD", KEY, "support")
    assert how is Subscribed.CREATED
    ask(store)
    (poll,) = store.targets.acquire_polls(10)  # a new subscription is due at once
    failed = store.targets.record_failure(
        poll.lease, "gone", permanent=True, retry_after=None, timeout_reason=lambda _s, _e: ""
    )
    assert failed is not None
    assert [sub.channel_id for sub in failed.paused] == ["C0SUB"]
    (claim,) = store.watches.acquire_deliveries(10)
    assert claim.outcome == Outcome(reason="Kore.ai answered: gone")
    assert store.subscriptions.subscriptions_in("C0SUB")[0].paused == "gone"
    assert (
        store.subscriptions.subscribe("T0TEAM", "C0SUB", "U0LEAD", KEY, "support")[1]
        is Subscribed.RESUMED
    )


def test_a_subscription_gets_a_watch_when_a_run_starts(store: abc.Store, clock: Clock) -> None:
    store.subscriptions.subscribe("T0TEAM", "C0SUB", "U0LEAD", KEY, "support")
    (poll,) = store.targets.acquire_polls(10)
    store.targets.record_status(poll.lease, status("success", "run-0"), str)  # arms it
    clock.advance(60)
    (poll,) = store.targets.acquire_polls(10)
    store.targets.record_status(poll.lease, status("in-progress", "run-1"), str)
    (claim,) = store.watches.acquire_deliveries(10)
    assert claim.view.via is Via.SUBSCRIPTION
    assert claim.view.channel_id == "C0SUB"
    state = store.targets.target_state(KEY)
    assert state is not None
    assert state.status is not None
    assert state.status.status is Status.IN_PROGRESS
    gone = store.subscriptions.unsubscribe("C0SUB", KEY)
    assert gone is not None
    assert [view.watch_id for view in gone[1]] == [claim.view.watch_id]
    assert store.subscriptions.unsubscribe("C0SUB", KEY) is None


def test_unsubscribing_leaves_a_watch_someone_asked_for(store: abc.Store, clock: Clock) -> None:
    store.subscriptions.subscribe("T0TEAM", "C0SUB", "U0LEAD", KEY, "support")
    (poll,) = store.targets.acquire_polls(10)
    store.targets.record_status(poll.lease, status("success", "run-0"), str)  # arms it
    clock.advance(60)
    (poll,) = store.targets.acquire_polls(10)
    store.targets.record_status(poll.lease, status("in-progress", "run-1"), str)
    (claim,) = store.watches.acquire_deliveries(10)
    store.watches.record_thread(claim.lease, ("C0SUB", "2.000"), release=True)
    request = WatchRequest("T0TEAM", "C0SUB", "U0ASKER", BOT, "en", State.CONFIGURED)
    assert store.watches.join_watch(request, status("in-progress", "run-1")).lease is None  # joined
    gone = store.subscriptions.unsubscribe("C0SUB", KEY)
    assert gone is not None
    assert gone[1] == []  # nothing stopped
    (kept,) = store.watches.watches_in("C0SUB")
    assert (kept.watch_id, kept.askers) == (claim.view.watch_id, ("U0ASKER",))
    assert store.targets.active_count() == 1  # still polled for it


def test_subscribing_while_a_run_is_in_progress_watches_that_run(
    store: abc.Store, clock: Clock
) -> None:
    ask(store)  # the target's last status: in progress
    clock.advance(10)
    view, _ = store.subscriptions.subscribe("T0TEAM", "C0SUB", "U0LEAD", KEY, "support")
    assert view.running
    assert store.targets.acquire_polls(10) == []  # known already: no first poll needed
    (claim,) = store.watches.acquire_deliveries(10)  # the subscription's watch of the run
    assert (claim.view.via, claim.view.channel_id, claim.outcome) == (
        Via.SUBSCRIPTION,
        "C0SUB",
        None,
    )
    store.watches.record_thread(claim.lease, ("C0SUB", "2.000"), release=True)
    clock.advance(20)
    (poll,) = store.targets.acquire_polls(10)
    store.targets.record_status(poll.lease, status("success"), str)
    ended = store.watches.acquire_deliveries(10)
    assert sorted(claim.view.channel_id for claim in ended) == ["C0ONE", "C0SUB"]
    assert {claim.outcome for claim in ended} == {Outcome(result=status("success"), took=30.0)}


def test_the_first_poll_of_a_subscription_watches_a_run_in_progress(
    store: abc.Store, clock: Clock
) -> None:
    ask(store)
    watch_id = store.watches.watches_in("C0ONE")[0].watch_id
    clock.advance(3600 * 24)  # a day later the status seen then is history
    store.watches.stop_watch(watch_id, "C0ONE")
    view, _ = store.subscriptions.subscribe("T0TEAM", "C0SUB", "U0LEAD", KEY, "support")
    assert not view.running
    assert store.watches.acquire_deliveries(10) == []
    (poll,) = store.targets.acquire_polls(10)  # due at once
    store.targets.record_status(poll.lease, status("in-progress", "run-2"), str)
    (claim,) = store.watches.acquire_deliveries(10)
    assert (claim.view.via, claim.view.channel_id, claim.outcome) == (
        Via.SUBSCRIPTION,
        "C0SUB",
        None,
    )
    store.watches.record_thread(claim.lease, ("C0SUB", "2.000"), release=True)
    clock.advance(30)
    (poll,) = store.targets.acquire_polls(10)
    store.targets.record_status(poll.lease, status("failure", "run-2"), str)
    (done,) = store.watches.acquire_deliveries(10)  # that watch's result, and no second watch
    assert done.view.watch_id == claim.view.watch_id
    # The run the ask saw a day ago ended unseen; this one was first seen by the poll.
    assert done.outcome == Outcome(result=status("failure", "run-2"), took=30.0)


def test_a_stopped_watch_is_only_stopped_from_its_channel(store: abc.Store) -> None:
    watch_id = ask(store)
    assert store.watches.stop_watch(watch_id, "C0ELSEWHERE") is None
    stopped = store.watches.stop_watch(watch_id, "C0ONE")
    assert stopped is not None
    assert store.watches.stop_watch(watch_id, "C0ONE") is None
    assert store.watches.find_watch(KEY, "C0ONE") is None


def test_giving_up_on_a_workspace_ends_its_watches_and_pauses_its_subscriptions(
    store: abc.Store, clock: Clock
) -> None:
    store.subscriptions.subscribe("T0TEAM", "C0SUB", "U0LEAD", KEY, "support")
    ask(store, "C0ONE")
    clock.advance(30)
    (poll,) = store.targets.acquire_polls(10)
    store.targets.record_status(poll.lease, status("failure"), str)
    (claim,) = store.watches.acquire_deliveries(10)
    store.watches.give_up(claim.lease, Undeliverable("invalid_auth", "workspace"))
    assert store.watches.watches_in("C0ONE") == []
    assert (
        store.subscriptions.subscriptions_in("C0SUB")[0].paused
        == "Slack refused the app's token (invalid_auth)"
    )
    assert store.watches.acquire_deliveries(10) == []


def test_owed_posts_take_turns_between_trainings(store: abc.Store, clock: Clock) -> None:
    """A training watched by one channel is not posted after one watched by fifty."""
    crowded = [ask(store, f"C{n:04d}") for n in range(50)]
    lone = Bot("st-lone", "lone", BOT.host, BOT.credentials)
    joined = store.watches.join_watch(
        WatchRequest("T0TEAM", "C0LONE", "U0ONE", lone, "en", State.CONFIGURED),
        status("in-progress"),
    )
    assert joined.lease is not None
    store.watches.record_thread(joined.lease, ("C0LONE", "1.000"), release=True)
    clock.advance(30)
    polls = store.targets.acquire_polls(10)
    assert len(polls) == 2
    for poll in polls:
        store.targets.record_status(poll.lease, status("success"), str)
    # 51 results owed, the lone one last of all: the first small batch has it second.
    first = store.watches.acquire_deliveries(4)
    assert [claim.view.bot_name for claim in first] == ["support", "lone", "support", "support"]
    assert first[1].view.watch_id == joined.view.watch_id
    assert [claim.view.watch_id for claim in first if claim.view.bot_name == "support"] == (
        crowded[:3]
    )
    rest = store.watches.acquire_deliveries(100)
    assert sorted(claim.view.watch_id for claim in rest) == crowded[3:]


def test_the_kinds_of_one_training_are_two_targets_polled_and_ended_apart(
    store: abc.Store, clock: Clock
) -> None:
    """An FAQ and an ML watch of one bot, language and state in one channel: two watches,
    two targets (each claimed with its kind), and an ML result ends only the ML watch."""
    ml_key = JobKey.of(BOT, "en", State.CONFIGURED, Kind.ML)
    faq = ask(store)
    running = JobStatus.from_json({"trainingStatus": "Inprogress"}, Kind.ML)
    ml = store.watches.join_watch(
        WatchRequest("T0TEAM", "C0ONE", "U0ONE", BOT, "en", State.CONFIGURED, Kind.ML), running
    )
    assert ml.lease is not None
    assert ml.view.watch_id != faq
    store.watches.record_thread(ml.lease, ("C0ONE", "2.000"), release=True)
    assert (store.watches.find_watch(KEY, "C0ONE"), store.watches.find_watch(ml_key, "C0ONE")) == (
        faq,
        ml.view.watch_id,
    )
    assert [watch.kind for watch in store.watches.watches_in("C0ONE")] == [Kind.FAQ, Kind.ML]
    clock.advance(30)  # due one interval after the asks
    polls = {claim.kind: claim for claim in store.targets.acquire_polls(10)}
    assert set(polls) == {Kind.FAQ, Kind.ML}
    finished = JobStatus.from_json(
        {"trainingStatus": "Finished", "trainDetails": {"trainVersion": 2}}, Kind.ML
    )
    store.targets.record_status(polls[Kind.ML].lease, finished, lambda seen: seen)
    store.targets.record_status(polls[Kind.FAQ].lease, status("in-progress"), lambda seen: seen)
    (claim,) = store.watches.acquire_deliveries(10)
    assert (claim.view.watch_id, claim.view.kind) == (ml.view.watch_id, Kind.ML)
    assert claim.outcome is not None
    assert claim.outcome.result == finished
    # The ML target's last answer is kept as ML's, for asks between polls.
    state = store.targets.target_state(ml_key)
    assert state is not None
    assert state.last_status == "Finished"


# Slash commands --------------------------------------------------------------------


def command(text: str = "support en", user: str = "U0ONE") -> CommandRecord:
    return CommandRecord(
        "T0TEAM", "C0ONE", user, "/faq-status", text, "https://hooks.slack.test/r/1"
    )


def test_a_recorded_command_is_its_recorders_until_its_lease_expires(
    store: abc.Store, clock: Clock
) -> None:
    lease = store.slash_commands.record_command(command("support en <!channel> ünïcode"))
    since = clock.now() - timedelta(minutes=25)
    assert lease.kind == "command"
    assert store.slash_commands.acquire_commands(10, since) == []  # held by its recorder
    clock.advance(20)
    assert store.leases.renew([lease]) == set()  # renewed: 30 s from now
    clock.advance(20)
    assert store.slash_commands.acquire_commands(10, since) == []
    clock.advance(11)  # expired: the recorder is taken for dead
    (claim,) = store.slash_commands.acquire_commands(10, since)
    assert claim.record == command("support en <!channel> ünïcode")
    assert claim.attempts == 2  # the acked run, and this one
    assert claim.received_at == clock.now() - timedelta(seconds=51)
    assert claim.lease.owner != lease.owner
    assert store.slash_commands.acquire_commands(10, since) == []  # held by its new holder
    # The first holder's finish is refused, and changes nothing.
    assert store.slash_commands.finish_command(lease) is False
    assert store.leases.renew([lease]) == {lease}
    assert store.slash_commands.finish_command(claim.lease) is True
    assert store.slash_commands.finish_command(claim.lease) is False  # done once
    clock.advance(60)
    assert store.slash_commands.acquire_commands(10, since) == []  # done: never again


def test_a_finished_command_is_not_acquired(store: abc.Store, clock: Clock) -> None:
    lease = store.slash_commands.record_command(command())
    assert store.slash_commands.finish_command(lease) is True
    clock.advance(60)
    assert store.slash_commands.acquire_commands(10, clock.now() - timedelta(minutes=25)) == []
    assert store.slash_commands.expire_commands(clock.now()) == []


def test_each_acquisition_counts_an_attempt(store: abc.Store, clock: Clock) -> None:
    store.slash_commands.record_command(command())
    attempts = []
    for _ in range(3):
        clock.advance(31)
        (claim,) = store.slash_commands.acquire_commands(10, clock.now() - timedelta(minutes=25))
        attempts.append(claim.attempts)
    assert attempts == [2, 3, 4]


def test_a_command_too_old_to_answer_is_not_acquired_but_expired(
    store: abc.Store, clock: Clock
) -> None:
    old = store.slash_commands.record_command(command("old"))
    clock.advance(600)
    new = store.slash_commands.record_command(command("new"))
    clock.advance(31)  # both leases expired
    since = clock.now() - timedelta(seconds=300)  # the old one is past the window
    assert store.slash_commands.expire_commands(since) == [old.id]
    assert store.slash_commands.expire_commands(since) == []  # done
    (claim,) = store.slash_commands.acquire_commands(10, since)
    assert (claim.lease.id, claim.record.text) == (new.id, "new")


def test_a_held_command_is_not_expired(store: abc.Store, clock: Clock) -> None:
    lease = store.slash_commands.record_command(command())
    assert store.slash_commands.expire_commands(clock.now() + timedelta(seconds=1)) == []
    assert store.slash_commands.finish_command(lease) is True


def test_done_commands_are_pruned_after_a_while(store: abc.Store, clock: Clock) -> None:
    done = store.slash_commands.record_command(command("done"))
    store.slash_commands.finish_command(done)
    running = store.slash_commands.record_command(command("running"))
    clock.advance(3600)
    assert store.slash_commands.prune_commands(clock.now() - timedelta(seconds=3601)) == 0
    assert store.slash_commands.prune_commands(clock.now() - timedelta(seconds=3599)) == 1
    # The unfinished one stays (and is due once its lease expired).
    (claim,) = store.slash_commands.acquire_commands(10, clock.now() - timedelta(hours=2))
    assert claim.lease.id == running.id


def test_two_acquirers_at_once_never_get_the_same_command(
    store: abc.Store, clock: Clock, request: pytest.FixtureRequest
) -> None:
    if request.node.callspec.params["store_url"] == "sqlite-memory":
        pytest.skip("one connection, one thread at a time: there is no 'at once'")
    recorded = {
        store.slash_commands.record_command(command(user=f"U{i:04d}")).id for i in range(40)
    }
    clock.advance(31)
    since = clock.now() - timedelta(minutes=25)
    start = threading.Barrier(4)
    taken: list[list[int]] = []

    def acquire() -> None:
        start.wait()
        mine = []
        while claims := store.slash_commands.acquire_commands(3, since):
            mine += [claim.lease.id for claim in claims]
        taken.append(mine)

    threads = [threading.Thread(target=acquire) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    everything = [command_id for mine in taken for command_id in mine]
    assert len(taken) == 4
    assert sorted(everything) == sorted(recorded)  # each once, none missed


def test_commands_recorded_at_once_are_each_committed_before_the_call_returns(
    store: abc.Store, request: pytest.FixtureRequest
) -> None:
    if request.node.callspec.params["store_url"] == "sqlite-memory":
        pytest.skip("one connection, one thread at a time: there is no 'at once'")
    assert isinstance(store, Store)
    start = threading.Barrier(8)
    seen: list[tuple[str, int, str, str | None]] = []  # (user, id, owner, owner in the table)

    def record(thread: int) -> None:
        start.wait()
        for i in range(10):
            user = f"U{thread:02d}{i:02d}"
            lease = store.slash_commands.record_command(command(user=user))
            # Read on a connection of its own: only a committed row is visible there.
            with store.engine.connect() as connection:
                owner = connection.scalar(
                    select(Command.lease_owner).where(
                        Command.id == lease.id, Command.user_id == user
                    )
                )
            seen.append((user, lease.id, lease.owner, owner))

    threads = [threading.Thread(target=record, args=(t,)) for t in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert len(seen) == 80
    assert all(owner == in_table for _, _, owner, in_table in seen)
    assert len({command_id for _, command_id, _, _ in seen}) == 80
    assert len({owner for _, _, owner, _ in seen}) == 80


def test_a_locked_database_fails_every_command_recorded_at_once(
    store: abc.Store, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    if request.node.callspec.params["store_url"] != "sqlite-file":
        pytest.skip("another process locking the database file: SQLite's outage")
    assert isinstance(store, Store)
    # Give up on the lock at once rather than after the configured 10 s.
    event.listen(
        store.engine, "connect", lambda dbapi, _record: dbapi.execute("PRAGMA busy_timeout=50")
    )
    store.engine.dispose()
    other = sqlite3.connect(tmp_path / "korebot.db", isolation_level=None)
    other.execute("BEGIN EXCLUSIVE")
    start = threading.Barrier(8)
    errors: list[BaseException | None] = []

    def record() -> None:
        start.wait()
        try:
            store.slash_commands.record_command(command())
        except DatabaseUnavailable as error:
            errors.append(error)
        else:
            errors.append(None)

    threads = [threading.Thread(target=record) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    other.rollback()
    other.close()
    assert len(errors) == 8
    assert all(isinstance(error, DatabaseUnavailable) for error in errors)
    lease = store.slash_commands.record_command(command())  # the lock gone, recording works again
    assert store.slash_commands.finish_command(lease) is True


# Trainings started from Slack ---------------------------------------------------------

TRAIN_ASK = StartAsk("T0TEAM", "C0ONE", "U0ONE", KEY, "support", valid_for=600)


def test_a_train_request_is_claimed_once_then_finished_once(store: abc.Store) -> None:
    recorded = store.start_requests.record_start_request(TRAIN_ASK)
    assert recorded.state is StartState.PENDING
    assert len(recorded.token) >= 20
    assert store.start_requests.record_start_request(TRAIN_ASK).token != recorded.token
    claimed, won = store.start_requests.claim_start_request(recorded.token, "U0ONE")
    assert won
    assert claimed is not None
    assert (claimed.state, claimed.started_by) == (StartState.STARTING, "U0ONE")
    again, won_again = store.start_requests.claim_start_request(recorded.token, "U0ONE")
    assert not won_again
    assert again is not None
    assert again.state is StartState.STARTING
    assert store.start_requests.cancel_start_request(recorded.token)[1] is False
    assert store.start_requests.finish_start_request(recorded.request_id, StartState.STARTED, "ok")
    assert not store.start_requests.finish_start_request(
        recorded.request_id, StartState.FAILED, "late"
    )
    done = store.start_requests.start_request(recorded.token)
    assert done is not None
    assert (done.state, done.result) == (StartState.STARTED, "ok")
    assert store.start_requests.claim_start_request("no-such-token", "U0ONE") == (None, False)


def test_an_expired_or_cancelled_train_request_cannot_be_claimed(
    store: abc.Store, clock: Clock
) -> None:
    late = store.start_requests.record_start_request(TRAIN_ASK)
    cancelled = store.start_requests.record_start_request(TRAIN_ASK)
    assert store.start_requests.cancel_start_request(cancelled.token)[1] is True
    clock.advance(599)
    now, won = store.start_requests.claim_start_request(cancelled.token, "U0ONE")
    assert not won
    assert now is not None
    assert now.state is StartState.CANCELLED
    clock.advance(2)
    now, won = store.start_requests.claim_start_request(late.token, "U0ONE")
    assert not won
    assert now is not None
    assert now.state is StartState.EXPIRED


def test_of_claimers_at_once_exactly_one_wins(
    store: abc.Store, request: pytest.FixtureRequest
) -> None:
    if request.node.callspec.params["store_url"] == "sqlite-memory":
        pytest.skip("one connection, one thread at a time: there is no 'at once'")
    # Ten trainings (one request each: of requests for one training, one holds its start,
    # and the others follow it: tests/store/test_train_starts.py).
    asks = [
        StartAsk("T0TEAM", "C0ONE", "U0ONE", JobKey.of(BOT, f"l{n}", State.CONFIGURED), "s")
        for n in range(10)
    ]
    tokens = [store.start_requests.record_start_request(ask).token for ask in asks]
    start = threading.Barrier(4)
    wins: list[str] = []

    def claim(user: str) -> None:
        start.wait()
        for token in tokens:
            if store.start_requests.claim_start_request(token, user)[1]:
                wins.append(token)

    threads = [threading.Thread(target=claim, args=(f"U{i}",)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(wins) == sorted(tokens)  # each claimed by exactly one claimer


def test_a_request_left_starting_is_taken_over_once_when_stale(
    store: abc.Store, clock: Clock
) -> None:
    recorded = store.start_requests.record_start_request(TRAIN_ASK)
    assert store.start_requests.claim_start_request(recorded.token, "U0ONE")[1]
    clock.advance(119)
    assert (
        store.start_requests.reclaim_start_request(recorded.token, 120) is None
    )  # its claimer may live
    clock.advance(2)
    taken = store.start_requests.reclaim_start_request(recorded.token, 120)
    assert taken is not None
    assert taken.state is StartState.STARTING
    assert taken.claimed_at == clock.now()
    assert store.start_requests.reclaim_start_request(recorded.token, 120) is None  # once
    assert store.start_requests.finish_start_request(
        recorded.request_id, StartState.UNKNOWN, "checked"
    )
    clock.advance(500)
    assert (
        store.start_requests.reclaim_start_request(recorded.token, 120) is None
    )  # finished: never again
