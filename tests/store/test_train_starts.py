"""One start per training in the store (issue 19, item 6): of the requests for one
training claimed at once, one holds its start and the others follow it, on SQLite and
PostgreSQL, through two stores as two processes; a request left starting is taken over by
one of two sweeps."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import select
from support.slack_app import BOT

from korebot.kore import State
from korebot.registry import JobKey
from korebot.slack.listeners.actions.train import STALE_AFTER
from korebot.testing.clock import Clock
from korebot.watch.store import Store
from korebot.watch.store.abc import Policy
from korebot.watch.store.tables import StartRequest
from korebot.watch.types import StartAsk, StartClaim, StartState

ALICE, BOB = "U0ALICE", "U0BOB"
TEAM = "T0TEAM"


@pytest.fixture
def stores(store_url: str, make_store: Callable[..., Store], clock: Clock) -> tuple[Store, Store]:
    """Two stores on one database: what two processes sharing it have."""
    if store_url == "sqlite://":
        pytest.skip("a database in memory is one process's: there is no second")
    policy = Policy(
        watch_timeout=3600,
        max_watches_per_channel=20,
        poll_lease=5,
        delivery_lease=30,
        pace=lambda _running_for, _watched, _usual: 30.0,
        clock=clock.now,
    )
    return make_store(store_url, policy=policy), make_store(store_url, policy=policy)


def key(language: str) -> JobKey:
    return JobKey("https://bots.kore.ai", BOT, language, State.CONFIGURED)


def asked(store: Store, language: str, user: str, channel: str = "C0ONE") -> str:
    """A recorded confirmation for the training in ``language``; its token."""
    ask = StartAsk(TEAM, channel, user, key(language), "support", valid_for=600)
    return store.start_requests.record_start_request(ask).token


def holders(store: Store) -> list[int]:
    """The requests holding their training's start, as the database says."""
    with store.session() as session:
        query = select(StartRequest.id).where(StartRequest.starting_key.is_not(None))
        return sorted(session.scalars(query))


def claim_at_once(
    stores: tuple[Store, Store], tokens: list[str], users: list[str]
) -> list[StartClaim]:
    """Each token claimed by its user at the same moment, through the two stores in turn."""
    start = threading.Barrier(len(tokens))

    def claim(index: int) -> StartClaim:
        start.wait(timeout=10)
        return stores[index % 2].start_requests.claim_start(tokens[index], users[index])

    with ThreadPoolExecutor(len(tokens)) as pool:
        return list(pool.map(claim, range(len(tokens))))


def test_of_requests_for_one_training_claimed_at_once_one_holds_its_start(
    stores: tuple[Store, Store],
) -> None:
    first, _ = stores
    for attempt in range(5):  # several rounds, for several interleavings
        language = f"r{attempt}"
        users = [f"U0USER{n}" for n in range(8)]
        tokens = [asked(first, language, user, channel=f"C{n}") for n, user in enumerate(users)]
        claims = claim_at_once(stores, tokens, users)
        (winner,) = [c.request for c in claims if c.won]
        assert winner is not None
        followers = [c for c in claims if not c.won]
        assert len(followers) == len(tokens) - 1
        for claimed in followers:
            assert claimed.leader is not None
            assert claimed.leader.request_id == winner.request_id
            assert claimed.request is not None
            assert claimed.request.state is StartState.STARTING
            assert claimed.request.follows == winner.request_id
        assert holders(first) == [winner.request_id]
        # Once its start ends, the training's next request holds it again.
        assert first.start_requests.finish_start_request(
            winner.request_id, StartState.STARTED, "ok"
        )
        assert holders(first) == []
        for claimed in followers:
            assert claimed.request is not None
            first.start_requests.finish_start_request(
                claimed.request.request_id, StartState.JOINED, "joined"
            )
        later = first.start_requests.claim_start(asked(first, language, "U0LATER"), "U0LATER")
        assert later.won
        assert later.request is not None
        assert holders(first) == [later.request.request_id]
        assert first.start_requests.finish_start_request(
            later.request.request_id, StartState.FAILED, "refused"
        )


def test_a_click_is_single_use_and_trainings_do_not_share_a_start(
    stores: tuple[Store, Store],
) -> None:
    first, second = stores
    german, french = asked(first, "de", ALICE), asked(first, "fr", ALICE)
    assert first.start_requests.claim_start(german, ALICE).won
    # Another training: its own start.
    assert second.start_requests.claim_start(french, ALICE).won
    again = second.start_requests.claim_start(german, ALICE)
    assert (again.won, again.leader) == (False, None)  # a replayed click: nothing
    follower = asked(first, "de", BOB)
    followed = second.start_requests.claim_start(follower, BOB)
    assert followed.leader is not None
    replayed = first.start_requests.claim_start(follower, BOB)
    assert (replayed.won, replayed.leader) == (False, None)
    assert first.start_requests.claim_start("no-such-token", BOB) == StartClaim(None)


def test_a_request_left_starting_is_taken_over_by_one_of_two_sweeps(
    stores: tuple[Store, Store], clock: Clock
) -> None:
    first, _ = stores
    leader, follower = asked(first, "it", ALICE), asked(first, "it", BOB)
    assert first.start_requests.claim_start(leader, ALICE).won
    assert first.start_requests.claim_start(follower, BOB).leader is not None
    clock.advance(STALE_AFTER - 1)
    assert first.start_requests.take_stale_start_requests(STALE_AFTER) == []  # its claimer may live
    clock.advance(2)
    start = threading.Barrier(2)

    def sweep(store: Store) -> list[int]:
        start.wait(timeout=10)
        return [
            taken.request_id
            for taken in store.start_requests.take_stale_start_requests(STALE_AFTER)
        ]

    with ThreadPoolExecutor(2) as pool:
        taken = list(pool.map(sweep, stores))
    assert sorted(taken[0] + taken[1]) == sorted(
        view.request_id
        for view in (
            first.start_requests.start_request(leader),
            first.start_requests.start_request(follower),
        )
        if view is not None
    )
    assert first.start_requests.take_stale_start_requests(STALE_AFTER) == []  # each once
    clock.advance(STALE_AFTER + 1)
    retaken = first.start_requests.take_stale_start_requests(
        STALE_AFTER
    )  # its taker died too: again
    assert len(retaken) == 2
    for view in retaken:
        assert first.start_requests.finish_start_request(
            view.request_id, StartState.UNKNOWN, "checked"
        )
    clock.advance(STALE_AFTER + 1)
    assert (
        first.start_requests.take_stale_start_requests(STALE_AFTER) == []
    )  # finished: never again
    assert holders(first) == []
