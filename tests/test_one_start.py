"""One start per training, whoever confirms (issue 19, item 6), and the sweep of requests
left starting.

Two trainers who each got their own confirmation for the same training (or one trainer in
two channels) click **Train now** at the same moment: Kore.ai gets one train POST, and the
second click joins the first's start (its user and channel in the watch). Checked in the
store (SQLite and PostgreSQL, two stores as two processes), in the listeners (in this
process, with a controlled clock for the sweep), and end to end through the real app, in
one process and in two sharing a database.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from slack_app import BOT, Harness, alltext, app_env, check_clean, new_channel, wait_until
from slack_bolt import Respond
from sqlalchemy import select

from korebot import config
from korebot.gateway import StatusGateway
from korebot.kore import State
from korebot.ratelimit import KeyedWindows
from korebot.registry import TrainingKey
from korebot.slack.app import web_client
from korebot.slack.listeners import Services
from korebot.slack.listeners.actions.train import STALE_AFTER, sweep_train_requests, train_now
from korebot.slack.notifier import SlackNotifier
from korebot.slack.training_messages import TRAIN_ACTION
from korebot.testing.app_process import AppProcess
from korebot.testing.clock import Clock
from korebot.testing.fake_kore import Delay, Fail, FakeKore, Status
from korebot.testing.fake_slack import FakeSlack, SlackSender
from korebot.testing.slack_payloads import block_actions_payload
from korebot.watch.engine import WatchEngine
from korebot.watch.store import Store, migrate
from korebot.watch.store.abc import Policy
from korebot.watch.store.tables import Asker, TrainRequest, Watch
from korebot.watch.types import TrainAsk, TrainClaim, TrainState

ALICE, BOB = "U0ALICE", "U0BOB"
TEAM = "T0TEAM"


def trains(kore: FakeKore) -> int:
    return kore.count(BOT, kind="train", training="faq")


# --- The store: the claim and the take-over, on SQLite and PostgreSQL, two stores at once ----


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'korebot.db'}"
    return str(request.getfixturevalue("postgres_url"))


def configured(store: Store, clock: Clock) -> Store:
    store.configure(
        Policy(
            watch_timeout=3600,
            max_watches_per_channel=20,
            poll_lease=5,
            delivery_lease=30,
            pace=lambda _running_for, _watched, _usual: 30.0,
            clock=clock.now,
        )
    )
    return store


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def stores(database_url: str, clock: Clock) -> Iterator[tuple[Store, Store]]:
    """Two stores on one database: what two processes sharing it have."""
    first = configured(Store(database_url), clock)
    migrate.upgrade(first.engine)
    second = configured(Store(database_url), clock)
    yield first, second
    first.dispose()
    second.dispose()


def key(language: str) -> TrainingKey:
    return TrainingKey("https://bots.kore.ai", BOT, language, State.CONFIGURED)


def asked(store: Store, language: str, user: str, channel: str = "C0ONE") -> str:
    """A recorded confirmation for the training in ``language``; its token."""
    ask = TrainAsk(TEAM, channel, user, key(language), "support", valid_for=600)
    return store.train_requests.record_train_request(ask).token


def holders(store: Store) -> list[int]:
    """The requests holding their training's start, as the database says."""
    with store.session() as session:
        query = select(TrainRequest.id).where(TrainRequest.starting_key.is_not(None))
        return sorted(session.scalars(query))


def claim_at_once(
    stores: tuple[Store, Store], tokens: list[str], users: list[str]
) -> list[TrainClaim]:
    """Each token claimed by its user at the same moment, through the two stores in turn."""
    start = threading.Barrier(len(tokens))

    def claim(index: int) -> TrainClaim:
        start.wait(timeout=10)
        return stores[index % 2].train_requests.claim_train_start(tokens[index], users[index])

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
            assert claimed.request.state is TrainState.STARTING
            assert claimed.request.follows == winner.request_id
        assert holders(first) == [winner.request_id]
        # Once its start ends, the training's next request holds it again.
        assert first.train_requests.finish_train_request(
            winner.request_id, TrainState.STARTED, "ok"
        )
        assert holders(first) == []
        for claimed in followers:
            assert claimed.request is not None
            first.train_requests.finish_train_request(
                claimed.request.request_id, TrainState.JOINED, "joined"
            )
        later = first.train_requests.claim_train_start(asked(first, language, "U0LATER"), "U0LATER")
        assert later.won
        assert later.request is not None
        assert holders(first) == [later.request.request_id]
        assert first.train_requests.finish_train_request(
            later.request.request_id, TrainState.FAILED, "refused"
        )


def test_a_click_is_single_use_and_trainings_do_not_share_a_start(
    stores: tuple[Store, Store],
) -> None:
    first, second = stores
    german, french = asked(first, "de", ALICE), asked(first, "fr", ALICE)
    assert first.train_requests.claim_train_start(german, ALICE).won
    # Another training: its own start.
    assert second.train_requests.claim_train_start(french, ALICE).won
    again = second.train_requests.claim_train_start(german, ALICE)
    assert (again.won, again.leader) == (False, None)  # a replayed click: nothing
    follower = asked(first, "de", BOB)
    followed = second.train_requests.claim_train_start(follower, BOB)
    assert followed.leader is not None
    replayed = first.train_requests.claim_train_start(follower, BOB)
    assert (replayed.won, replayed.leader) == (False, None)
    assert first.train_requests.claim_train_start("no-such-token", BOB) == TrainClaim(None)


def test_a_request_left_starting_is_taken_over_by_one_of_two_sweeps(
    stores: tuple[Store, Store], clock: Clock
) -> None:
    first, _ = stores
    leader, follower = asked(first, "it", ALICE), asked(first, "it", BOB)
    assert first.train_requests.claim_train_start(leader, ALICE).won
    assert first.train_requests.claim_train_start(follower, BOB).leader is not None
    clock.advance(STALE_AFTER - 1)
    assert first.train_requests.take_stale_train_requests(STALE_AFTER) == []  # its claimer may live
    clock.advance(2)
    start = threading.Barrier(2)

    def sweep(store: Store) -> list[int]:
        start.wait(timeout=10)
        return [
            taken.request_id
            for taken in store.train_requests.take_stale_train_requests(STALE_AFTER)
        ]

    with ThreadPoolExecutor(2) as pool:
        taken = list(pool.map(sweep, stores))
    assert sorted(taken[0] + taken[1]) == sorted(
        view.request_id
        for view in (
            first.train_requests.train_request(leader),
            first.train_requests.train_request(follower),
        )
        if view is not None
    )
    assert first.train_requests.take_stale_train_requests(STALE_AFTER) == []  # each once
    clock.advance(STALE_AFTER + 1)
    retaken = first.train_requests.take_stale_train_requests(
        STALE_AFTER
    )  # its taker died too: again
    assert len(retaken) == 2
    for view in retaken:
        assert first.train_requests.finish_train_request(
            view.request_id, TrainState.UNKNOWN, "checked"
        )
    clock.advance(STALE_AFTER + 1)
    assert (
        first.train_requests.take_stale_train_requests(STALE_AFTER) == []
    )  # finished: never again
    assert holders(first) == []


# --- The listeners, in this process: the follower's wait, and the sweep with a clock --------


class World:
    """The listeners' real services on a SQLite file, with a clock the test moves (the
    engine's scheduler is not started: nothing polls)."""

    def __init__(self, kore: FakeKore, slack: FakeSlack, folder: Path, clock: Clock) -> None:
        self.kore, self.slack = kore, slack
        env = app_env(kore, slack, folder / "korebot.db", KOREBOT_TRAINERS=f"{ALICE},{BOB}")
        loaded = config.load(env)
        self.store = Store(loaded.settings.database_url)
        migrate.upgrade(self.store.engine)
        self.notifier = SlackNotifier(web_client(slack.token, slack.api_url))
        self.engine = WatchEngine(
            self.store,
            StatusGateway(loaded.registry, fresh_for=0),
            self.notifier,
            poll_interval=60,
            watch_timeout=3600,
            clock=clock.now,
        )
        self.services = Services(
            self.engine.gateway,
            self.engine,
            allow_raw_ids=False,
            commands=KeyedWindows({60: 10000}),
            trainers=loaded.trainers,
        )

    def ask(self, language: str, user: str, channel: str) -> str:
        ask = TrainAsk(TEAM, channel, user, self.key(language), "support", valid_for=600)
        return self.store.train_requests.record_train_request(ask).token

    def key(self, language: str) -> TrainingKey:
        return TrainingKey(self.kore.url, BOT, language, State.CONFIGURED)

    def click(self, token: str, user: str, channel: str) -> str:
        """Click Train now, as Bolt would call the listener; the click's response_url."""
        url = self.slack.response_url()
        body = block_actions_payload(TRAIN_ACTION, token, user_id=user, channel_id=channel)
        train_now(self.services, body, body["actions"][0], Respond(response_url=url))
        return url

    def answers(self, url: str) -> list[dict[str, Any]]:
        return [c.args for c in self.slack.calls_to("response_url") if c.args.get("_url") == url]

    def request(self, token: str) -> Any:
        view = self.store.train_requests.train_request(token)
        assert view is not None
        return view

    def askers(self, channel: str) -> list[str]:
        with self.store.session() as session:
            query = select(Asker.user_id).join(Watch).where(Watch.channel_id == channel)
            return sorted(session.scalars(query))

    def ephemerals(self, channel: str, user: str) -> list[dict[str, Any]]:
        return [
            call.args
            for call in self.slack.calls_to("chat.postEphemeral")
            if (call.args.get("channel"), call.args.get("user")) == (channel, user)
        ]

    def close(self) -> None:
        self.engine.shutdown()
        self.store.dispose()


@pytest.fixture
def world(kore: FakeKore, slack: FakeSlack, tmp_path: Path, clock: Clock) -> Iterator[World]:
    made = World(kore, slack, tmp_path, clock)
    yield made
    made.close()


def follow_while_leading(
    world: World, language: str, leader: tuple[str, str], follower: tuple[str, str]
) -> tuple[str, str, str, str]:
    """The leader's click runs while Kore.ai takes a second over its first status answer;
    the follower clicks once the leader's claim is in the database. Tokens and answers'
    response_urls: (leader's, follower's, leader's url, follower's url)."""
    first = world.ask(language, *leader)
    second = world.ask(language, *follower)
    urls: dict[str, str] = {}

    def lead() -> None:
        urls["leader"] = world.click(first, *leader)

    thread = threading.Thread(target=lead)
    thread.start()
    wait_until(lambda: world.request(first).state is TrainState.STARTING, 10, "the claim")
    urls["follower"] = world.click(second, *follower)
    thread.join(30)
    return first, second, urls["leader"], urls["follower"]


def test_a_click_while_another_starts_the_training_joins_it_and_never_posts(
    world: World,
) -> None:
    kore, channel = world.kore, new_channel()
    kore.script(BOT, "hu", Delay(1.0), Status("success"))  # the leader's status check is slow
    kore.on_train(BOT, "hu", Status("in-progress"))
    before = trains(kore)
    first, second, lead, follow = follow_while_leading(
        world, "hu", (ALICE, channel), (BOB, channel)
    )
    assert trains(kore) == before + 1
    (led,) = world.answers(lead)
    assert "Started" in alltext(led)
    (followed,) = world.answers(follow)
    assert f"<@{ALICE}> just started FAQ training for support (hu)" in alltext(followed)
    assert (world.request(first).state, world.request(second).state) == (
        TrainState.STARTED,
        TrainState.JOINED,
    )
    assert world.request(second).follows == world.request(first).request_id
    assert world.request(second).watch_id == world.request(first).watch_id
    assert world.askers(channel) == sorted([ALICE, BOB])  # both mentioned in the result
    assert len(world.slack.messages(channel)) == 1  # one announcement


def test_the_same_trainer_in_two_channels_gets_one_start_watched_in_both(
    world: World,
) -> None:
    kore, here, there = world.kore, new_channel(), new_channel()
    kore.script(BOT, "cs", Delay(1.0), Status("success"))
    kore.on_train(BOT, "cs", Status("in-progress"))
    before = trains(kore)
    _, _, lead, follow = follow_while_leading(world, "cs", (ALICE, here), (ALICE, there))
    assert trains(kore) == before + 1
    assert "Started" in alltext(world.answers(lead)[0])
    assert "just started" in alltext(world.answers(follow)[0])
    assert world.askers(here) == [ALICE]
    assert world.askers(there) == [ALICE]
    assert f"<@{ALICE}> started" in world.slack.messages(here)[0]["text"]
    assert "is in progress" in world.slack.messages(there)[0]["text"]  # watched as an ask


def test_when_the_start_followed_is_refused_the_follower_hears_it_and_may_ask_again(
    world: World,
) -> None:
    kore, channel = world.kore, new_channel()
    kore.script(BOT, "el", Delay(1.0), Status("success"))
    kore.on_train(BOT, "el", Fail(400, '{"errors": [{"msg": "Bot is being published"}]}'))
    before = trains(kore)
    _, second, lead, follow = follow_while_leading(world, "el", (ALICE, channel), (BOB, channel))
    assert trains(kore) == before + 1  # the follower sent nothing
    assert "being published" in alltext(world.answers(lead)[0])
    told, offered = world.answers(follow)
    assert "was not started" in alltext(told)
    assert f"<@{ALICE}> was starting it at the same moment" in alltext(told)
    assert any(block["type"] == "actions" for block in offered["blocks"])  # a fresh one
    assert world.request(second).state is TrainState.FAILED
    assert world.slack.messages(channel) == []


def test_a_start_that_cannot_be_watched_still_ends_so_its_follower_goes_on(
    world: World,
) -> None:
    kore, here, there = world.kore, new_channel(), new_channel()
    kore.script(BOT, "is", Delay(1.0), Status("success"))
    kore.on_train(BOT, "is", Status("in-progress"))
    world.slack.fail("chat.postMessage", "msg_blocks_too_long")  # the leader's message
    before = trains(kore)
    first, second, lead, follow = follow_while_leading(world, "is", (ALICE, here), (BOB, there))
    assert trains(kore) == before + 1
    assert "not watching this training" in alltext(world.answers(lead)[0])
    leader = world.request(first)
    assert (leader.state, leader.watch_id) == (TrainState.STARTED, None)
    assert "not watched" in (leader.result or "")
    # The follower saw that start end (it did not wait for it to be presumed dead).
    assert f"<@{ALICE}> just started" in alltext(world.answers(follow)[0])
    assert world.request(second).state is TrainState.JOINED
    assert world.askers(there) == [BOB]


def test_the_sweep_watches_a_training_a_dead_process_started(world: World, clock: Clock) -> None:
    kore, channel = world.kore, new_channel()
    kore.script(BOT, "ro", Status("in-progress"))
    token = world.ask("ro", ALICE, channel)
    assert world.store.train_requests.claim_train_start(token, ALICE).won  # then its process died
    posts, checks = trains(kore), kore.count(BOT)
    clock.advance(STALE_AFTER - 1)
    assert sweep_train_requests(world.services, world.notifier) == 0
    assert kore.count(BOT) == checks
    clock.advance(2)
    assert sweep_train_requests(world.services, world.notifier) == 1
    assert kore.count(BOT) == checks + 1  # the status first...
    assert trains(kore) == posts  # ...and never a POST
    request = world.request(token)
    assert request.state is TrainState.UNKNOWN
    assert request.watch_id is not None
    (parent,) = world.slack.messages(channel)
    assert f"<@{ALICE}> started FAQ training for support (ro)" in parent["text"]
    assert world.askers(channel) == [ALICE]
    clock.advance(STALE_AFTER + 1)
    assert sweep_train_requests(world.services, world.notifier) == 0  # finished


@pytest.mark.parametrize("member", [True, False], ids=["ephemeral", "dm"])
def test_the_sweep_tells_the_starter_when_nothing_runs(
    world: World, clock: Clock, member: bool
) -> None:
    kore, channel = world.kore, new_channel()
    language = "sk" if member else "sl"
    world.slack.set_channel(channel, member=member)
    kore.script(BOT, language, Status("success"))
    token = world.ask(language, ALICE, channel)
    assert world.store.train_requests.claim_train_start(token, ALICE).won
    posts = trains(kore)
    clock.advance(STALE_AFTER + 1)
    assert sweep_train_requests(world.services, world.notifier) == 1
    assert trains(kore) == posts
    request = world.request(token)
    assert (request.state, request.watch_id) == (TrainState.UNKNOWN, None)
    if member:
        (told,) = world.ephemerals(channel, ALICE)
    else:  # korebot cannot post in the channel: by DM
        (told,) = world.slack.messages(ALICE)
    assert "no training of it is running now" in alltext(told)
    assert f"/faq-status train support {language}" in alltext(told)
    assert world.slack.messages(channel) == []
    # The start is free again: a new confirmation can start it.
    fresh = world.ask(language, ALICE, channel)
    assert world.store.train_requests.claim_train_start(fresh, ALICE).won


def test_the_sweep_takes_over_a_follower_whose_process_died(world: World, clock: Clock) -> None:
    kore, here, there = world.kore, new_channel(), new_channel()
    kore.script(BOT, "lt", Status("in-progress"))
    leader, follower = world.ask("lt", ALICE, here), world.ask("lt", BOB, there)
    assert world.store.train_requests.claim_train_start(leader, ALICE).won
    assert world.store.train_requests.claim_train_start(follower, BOB).leader is not None
    posts = trains(kore)
    clock.advance(STALE_AFTER + 1)
    assert sweep_train_requests(world.services, world.notifier) == 2
    assert trains(kore) == posts
    assert world.askers(here) == [ALICE]
    assert world.askers(there) == [BOB]
    assert f"<@{ALICE}> started" in world.slack.messages(here)[0]["text"]
    assert "is in progress" in world.slack.messages(there)[0]["text"]  # BOB asked; not started


# --- End to end: the real app, one process or two sharing the database ------------------------

ENV = {"KOREBOT_TRAINERS": f"{ALICE},{BOB}"}


def confirmation(h: Harness, language: str, channel: str, user: str) -> str:
    """Ask for a training as ``user``; the token of its confirmation's buttons."""
    answer = h.answer(h.ask(f"train support {language}", channel, user=user))
    (actions,) = [block for block in answer["blocks"] if block["type"] == "actions"]
    return str(actions["elements"][0]["value"])


def click_at_once(clicks: list[tuple[SlackSender, str, str, str]], slack: FakeSlack) -> list[str]:
    """Click Train now for (sender, token, user, channel) at the same moment; their URLs."""
    urls = [slack.response_url() for _ in clicks]
    start = threading.Barrier(len(clicks))

    def send(index: int) -> int:
        sender, token, user, channel = clicks[index]
        start.wait(timeout=10)
        response = sender.action(
            TRAIN_ACTION, token, user_id=user, channel_id=channel, response_url=urls[index]
        )
        return response.status_code

    with ThreadPoolExecutor(len(clicks)) as pool:
        assert list(pool.map(send, range(len(clicks)))) == [200] * len(clicks)
    return urls


def started_once(apps: list[Harness], language: str, users_channels: list[tuple[str, str]]) -> None:
    """Each (user, channel) confirms its own request for one training, the clicks go at
    once (one to each app, in turn); one POST, every user in the watch and its result."""
    h = apps[0]
    h.kore.script(BOT, language, Delay(1.0), Status("success"))  # the first check is slow
    h.kore.on_train(BOT, language, Status("in-progress"))
    before = trains(h.kore)
    tokens = [
        confirmation(apps[n % len(apps)], language, channel, user)
        for n, (user, channel) in enumerate(users_channels)
    ]
    clicks = [
        (apps[n % len(apps)].sender, token, user, channel)
        for n, (token, (user, channel)) in enumerate(zip(tokens, users_channels, strict=True))
    ]
    urls = click_at_once(clicks, h.slack)
    answers = [alltext(h.answer(url)) for url in urls]
    assert trains(h.kore) == before + 1
    starters = [n for n, text in enumerate(answers) if text.startswith("Started")]
    assert len(starters) == 1, answers
    starter = users_channels[starters[0]][0]
    for n, text in enumerate(answers):
        if n != starters[0]:
            assert f"<@{starter}> just started FAQ training for support ({language})" in text
    channels = sorted({channel for _, channel in users_channels})
    for channel in channels:
        h.parent(channel)  # the watch's message, one per channel
    h.kore.script(BOT, language, Status("success"))  # the training ends
    for channel in channels:
        (reply,) = h.wait_reply(channel)["replies"]
        assert "succeeded" in reply["text"]
        for user, where in users_channels:
            if where == channel:
                assert f"<@{user}>" in reply["text"]
        assert len(h.slack.messages(channel)) == 1
    assert trains(h.kore) == before + 1


@pytest.fixture(scope="module")
def h(
    kore: FakeKore, slack: FakeSlack, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Harness]:
    db = tmp_path_factory.mktemp("one") / "korebot.db"
    with AppProcess(app_env(kore, slack, db, **ENV)) as app:
        yield Harness(kore, slack, app)
    check_clean(app, kore, slack)


def test_two_trainers_confirming_one_training_at_once_start_it_once(h: Harness) -> None:
    channel = new_channel()
    started_once([h], "et", [(ALICE, channel), (BOB, channel)])


def test_one_trainer_confirming_in_two_channels_at_once_starts_it_once(h: Harness) -> None:
    started_once([h], "lv", [(ALICE, new_channel()), (ALICE, new_channel())])


def test_two_processes_sharing_the_database_start_it_once(
    kore: FakeKore, slack: FakeSlack, database_url: str, tmp_path: Path
) -> None:
    env = app_env(kore, slack, tmp_path / "unused.db", **ENV, DATABASE_URL=database_url)
    with AppProcess(env) as first, AppProcess(env) as second:
        apps = [Harness(kore, slack, first), Harness(kore, slack, second)]
        channel = new_channel()
        language = "ga" if database_url.startswith("sqlite") else "mt"
        started_once(apps, language, [(ALICE, channel), (BOB, channel)])
    check_clean(first, kore, slack)
    check_clean(second, kore, slack)
