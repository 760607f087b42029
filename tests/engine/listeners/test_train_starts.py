"""One start per training in the listeners (issue 19, item 6), called in this process with a
clock the test moves: a click while another request starts the training follows it and
never POSTs; the sweep takes over requests a dead process left starting."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from slack_bolt import Respond
from sqlalchemy import select
from support.slack_app import BOT, alltext, app_env, new_channel, wait_until
from support.store import open_store

from korebot import config
from korebot.gateway import StatusGateway
from korebot.kore import Kind, State
from korebot.ratelimit import KeyedWindows
from korebot.registry import JobKey
from korebot.slack.app import web_client
from korebot.slack.listeners import Services
from korebot.slack.listeners.actions.train import sweep_train_requests, train_now
from korebot.slack.notifier import SlackNotifier
from korebot.slack.training_messages import TRAIN_ACTION
from korebot.testing.clock import Clock
from korebot.testing.fake_kore import Delay, Fail, FakeKore, PublishScript, Status
from korebot.testing.fake_slack import FakeSlack
from korebot.testing.slack_payloads import block_actions_payload
from korebot.watch.engine import STALE_AFTER, WatchEngine
from korebot.watch.store.tables import Asker, Watch
from korebot.watch.types import StartAsk, StartState

ALICE, BOB = "U0ALICE", "U0BOB"
TEAM = "T0TEAM"


def trains(kore: FakeKore) -> int:
    return kore.count(BOT, kind="train", training="faq")


# --- The listeners, in this process: the follower's wait, and the sweep with a clock --------


class World:
    """The listeners' real services on a SQLite file, with a clock the test moves (the
    engine's scheduler is not started: nothing polls)."""

    def __init__(self, kore: FakeKore, slack: FakeSlack, folder: Path, clock: Clock) -> None:
        self.kore, self.slack = kore, slack
        env = app_env(
            kore,
            slack,
            folder / "korebot.db",
            KOREBOT_TRAINERS=f"{ALICE},{BOB}",
            KORE_ADMIN_CLIENT_ID=kore.admin_client_id,
            KORE_ADMIN_CLIENT_SECRET=kore.admin_client_secret,
        )
        loaded = config.load(env)
        self.store = open_store(loaded.settings.database_url, upgrade=True)
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

    def ask(self, language: str, user: str, channel: str, key: JobKey | None = None) -> str:
        ask = StartAsk(TEAM, channel, user, key or self.key(language), "support", valid_for=600)
        return self.store.start_requests.record_start_request(ask).token

    def key(self, language: str) -> JobKey:
        return JobKey(self.kore.url, BOT, language, State.CONFIGURED)

    def click(self, token: str, user: str, channel: str) -> str:
        """Click Train now, as Bolt would call the listener; the click's response_url."""
        url = self.slack.response_url()
        body = block_actions_payload(TRAIN_ACTION, token, user_id=user, channel_id=channel)
        train_now(self.services, body, body["actions"][0], Respond(response_url=url))
        return url

    def answers(self, url: str) -> list[dict[str, Any]]:
        return [c.args for c in self.slack.calls_to("response_url") if c.args.get("_url") == url]

    def request(self, token: str) -> Any:
        view = self.store.start_requests.start_request(token)
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
    wait_until(lambda: world.request(first).state is StartState.STARTING, 10, "the claim")
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
        StartState.STARTED,
        StartState.JOINED,
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
    assert world.request(second).state is StartState.FAILED
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
    assert (leader.state, leader.watch_id) == (StartState.STARTED, None)
    assert "not watched" in (leader.result or "")
    # The follower saw that start end (it did not wait for it to be presumed dead).
    assert f"<@{ALICE}> just started" in alltext(world.answers(follow)[0])
    assert world.request(second).state is StartState.JOINED
    assert world.askers(there) == [BOB]


def test_the_sweep_watches_a_training_a_dead_process_started(world: World, clock: Clock) -> None:
    kore, channel = world.kore, new_channel()
    kore.script(BOT, "ro", Status("in-progress"))
    token = world.ask("ro", ALICE, channel)
    assert world.store.start_requests.claim_start(token, ALICE).won  # then its process died
    posts, checks = trains(kore), kore.count(BOT)
    clock.advance(STALE_AFTER - 1)
    assert sweep_train_requests(world.services, world.notifier) == 0
    assert kore.count(BOT) == checks
    clock.advance(2)
    assert sweep_train_requests(world.services, world.notifier) == 1
    assert kore.count(BOT) == checks + 1  # the status first...
    assert trains(kore) == posts  # ...and never a POST
    request = world.request(token)
    assert request.state is StartState.UNKNOWN
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
    assert world.store.start_requests.claim_start(token, ALICE).won
    posts = trains(kore)
    clock.advance(STALE_AFTER + 1)
    assert sweep_train_requests(world.services, world.notifier) == 1
    assert trains(kore) == posts
    request = world.request(token)
    assert (request.state, request.watch_id) == (StartState.UNKNOWN, None)
    if member:
        (told,) = world.ephemerals(channel, ALICE)
    else:  # korebot cannot post in the channel: by DM
        (told,) = world.slack.messages(ALICE)
    assert "no training of it is running now" in alltext(told)
    assert f"/faq-status train support {language}" in alltext(told)
    assert world.slack.messages(channel) == []
    # The start is free again: a new confirmation can start it.
    fresh = world.ask(language, ALICE, channel)
    assert world.store.start_requests.claim_start(fresh, ALICE).won


def test_the_sweep_takes_over_a_follower_whose_process_died(world: World, clock: Clock) -> None:
    kore, here, there = world.kore, new_channel(), new_channel()
    kore.script(BOT, "lt", Status("in-progress"))
    leader, follower = world.ask("lt", ALICE, here), world.ask("lt", BOB, there)
    assert world.store.start_requests.claim_start(leader, ALICE).won
    assert world.store.start_requests.claim_start(follower, BOB).leader is not None
    posts = trains(kore)
    clock.advance(STALE_AFTER + 1)
    assert sweep_train_requests(world.services, world.notifier) == 2
    assert trains(kore) == posts
    assert world.askers(here) == [ALICE]
    assert world.askers(there) == [BOB]
    assert f"<@{ALICE}> started" in world.slack.messages(here)[0]["text"]
    assert "is in progress" in world.slack.messages(there)[0]["text"]  # BOB asked; not started


# --- The sweep, for the other kinds of start (korebot/slack/listeners/actions/train.py) -------


@pytest.mark.parametrize("running", [True, False], ids=["publish-seen", "none-seen"])
def test_the_sweep_reads_a_publishs_status_and_never_posts(
    world: World, clock: Clock, running: bool
) -> None:
    kore, channel = world.kore, new_channel()
    if running:  # the dead process's POST reached Kore.ai: a publish newer than the click
        kore.start_publish_elsewhere(BOT, PublishScript(running_polls=5))
    else:
        kore.never_published(BOT)
    token = world.ask("", ALICE, channel, JobKey(kore.url, BOT, "", State.PUBLISHED, Kind.PUBLISH))
    assert world.store.start_requests.claim_start(token, ALICE).won  # then its process died
    clock.advance(STALE_AFTER + 1)
    assert sweep_train_requests(world.services, world.notifier) == 1
    assert kore.publish_posts == []
    request = world.request(token)
    assert request.state is StartState.UNKNOWN
    if running:
        assert request.watch_id is not None
        (parent,) = world.slack.messages(channel)
        assert f"<@{ALICE}> started publish of support" in parent["text"]
    else:
        assert request.watch_id is None
        (told,) = world.ephemerals(channel, ALICE)
        assert "no publish newer than your click shows" in alltext(told)


def test_the_sweep_tells_a_batch_test_asker_their_run_may_or_may_not_run(
    world: World, clock: Clock
) -> None:
    kore, channel = world.kore, new_channel()
    key = JobKey(kore.url, BOT, "en", State.CONFIGURED, Kind.BATCH, "Smoke")
    token = world.ask("en", ALICE, channel, key)
    assert world.store.start_requests.claim_start(token, ALICE).won  # then its process died
    clock.advance(STALE_AFTER + 1)
    assert sweep_train_requests(world.services, world.notifier) == 1
    assert kore.batch_posts == []
    assert world.request(token).state is StartState.UNKNOWN
    (told,) = world.ephemerals(channel, ALICE)
    assert "may or may not be running. I will not send it twice" in alltext(told)
