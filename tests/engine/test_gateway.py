"""The status gateway: shared calls, reused answers and per-bot budgets (time controlled)."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from korebot.gateway import BudgetExhausted, Limits, StatusGateway
from korebot.kore import NO_RETRY, TRAININGS, Credentials, Kind, KoreUnavailable, State
from korebot.registry import Bot, BotRegistry
from korebot.testing.clock import Clock
from korebot.testing.fake_kore import BatchSuite, Delay, Fail, FakeKore, MlStatus, Status

BOT = "st-1a2b3c4d-0000-4e6f-8a9b-0c1d2e3f4a5b"
OTHER = "st-99999999-0000-4e6f-8a9b-0c1d2e3f4a5b"


@pytest.fixture
def kore() -> Iterator[FakeKore]:
    with FakeKore(bots=[BOT, OTHER], rate_limit=None) as fake:
        yield fake


@pytest.fixture
def registry(kore: FakeKore) -> Iterator[BotRegistry]:
    credentials = Credentials(kore.client_id, kore.client_secret)
    bots = [
        Bot(BOT, "support", kore.url, credentials),
        Bot(OTHER, "sales", kore.url, credentials),
    ]
    registry = BotRegistry(bots, default_host=kore.url, default_credentials=credentials)
    registry.retry = NO_RETRY
    yield registry
    registry.close()


def gateway(
    registry: BotRegistry, clock: Clock, fresh_for: float = 5.0, limits: Limits | None = None
) -> StatusGateway:
    return StatusGateway(
        registry, fresh_for=fresh_for, limits=limits or Limits(), clock=clock.monotonic
    )


def test_a_hundred_identical_asks_make_one_call(kore: FakeKore, registry: BotRegistry) -> None:
    kore.script(BOT, "en", Delay(0.5), Status("in-progress"))
    door = gateway(registry, Clock())
    bot = registry.resolve("support")
    start = threading.Barrier(100)
    answers: list[str] = []

    def ask() -> None:
        start.wait()
        answers.append(door.status(bot, "en", State.CONFIGURED).status.raw_status)

    threads = [threading.Thread(target=ask) for _ in range(100)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert answers == ["in-progress"] * 100
    assert kore.count(BOT) == 1
    assert door.calls == 1


def test_a_fresh_answer_is_reused_then_refreshed(kore: FakeKore, registry: BotRegistry) -> None:
    kore.script(BOT, "en", Status("in-progress"), Status("success"))
    clock = Clock()
    door = gateway(registry, clock, fresh_for=5.0)
    bot = registry.resolve("support")
    assert door.status(bot, "en", State.CONFIGURED).status.raw_status == "in-progress"
    clock.advance(4)
    reused = door.status(bot, "en", State.CONFIGURED)
    assert (reused.status.raw_status, reused.age) == ("in-progress", 4.0)
    clock.advance(2)
    assert door.status(bot, "en", State.CONFIGURED).status.raw_status == "success"
    assert kore.count(BOT) == 2


def test_polls_always_ask_kore(kore: FakeKore, registry: BotRegistry) -> None:
    kore.script(BOT, "en", Status("in-progress"), Status("success"))
    door = gateway(registry, Clock())
    bot = registry.resolve("support")
    door.status(bot, "en", State.CONFIGURED)
    assert door.status(bot, "en", State.CONFIGURED, "poll").status.raw_status == "success"
    assert kore.count(BOT) == 2


def test_keys_are_separate(kore: FakeKore, registry: BotRegistry) -> None:
    door = gateway(registry, Clock())
    support, sales = registry.resolve("support"), registry.resolve("sales")
    door.status(support, "en", State.CONFIGURED)
    door.status(support, "de", State.CONFIGURED)
    door.status(support, "en", State.PUBLISHED)
    door.status(sales, "en", State.CONFIGURED)
    assert len(kore.requests) == 4


def test_the_budget_holds_per_bot_and_stale_answers_carry_their_age(
    kore: FakeKore, registry: BotRegistry
) -> None:
    clock = Clock()
    door = gateway(registry, clock, fresh_for=0.0, limits=Limits(per_minute=3, per_hour=100))
    support, sales = registry.resolve("support"), registry.resolve("sales")
    for _ in range(3):
        clock.advance(1)
        door.status(support, "en", State.CONFIGURED, "poll")
    clock.advance(1)
    stale = door.status(support, "en", State.CONFIGURED)  # an ask: the last known status
    assert stale.age == 1.0
    with pytest.raises(BudgetExhausted) as refused:
        door.status(support, "en", State.CONFIGURED, "poll")
    assert refused.value.retry_after == pytest.approx(57.0)
    with pytest.raises(BudgetExhausted, match="try again in"):
        door.status(support, "de", State.CONFIGURED)  # nothing known yet
    door.status(sales, "en", State.CONFIGURED, "poll")  # another bot has its own budget
    assert kore.count(BOT) == 3
    clock.advance(57)
    door.status(support, "en", State.CONFIGURED, "poll")
    assert kore.count(BOT) == 4


def test_the_hourly_window(kore: FakeKore, registry: BotRegistry) -> None:
    clock = Clock()
    door = gateway(registry, clock, limits=Limits(per_minute=60, per_hour=5))
    bot = registry.resolve("support")
    for _ in range(5):
        clock.advance(61)
        door.status(bot, "en", State.CONFIGURED, "poll")
    with pytest.raises(BudgetExhausted) as refused:
        door.status(bot, "en", State.CONFIGURED, "poll")
    assert refused.value.retry_after == pytest.approx(3600 - 4 * 61)


def test_a_failed_call_is_shared_and_not_cached(kore: FakeKore, registry: BotRegistry) -> None:
    kore.script(BOT, "en", Fail(503), Status("success"))
    door = gateway(registry, Clock())
    bot = registry.resolve("support")
    with pytest.raises(KoreUnavailable):
        door.status(bot, "en", State.CONFIGURED)
    assert door.status(bot, "en", State.CONFIGURED).status.raw_status == "success"


def test_both_kinds_of_a_bot_share_its_budget_but_not_their_answers(
    kore: FakeKore, registry: BotRegistry
) -> None:
    kore.script(BOT, "en", Status("in-progress"))
    kore.script(BOT, "en", MlStatus("Finished"), kind="ml")
    door = gateway(registry, Clock(), limits=Limits(per_minute=2))
    bot = registry.resolve("support")
    faq = door.status(bot, "en", State.CONFIGURED)
    ml = door.status(bot, "en", State.CONFIGURED, kind=Kind.ML)
    # One training each: the FAQ answer is not reused for the ML ask.
    assert (faq.status.raw_status, ml.status.raw_status) == ("in-progress", "Finished")
    assert kore.count(BOT, training="faq") == kore.count(BOT, training="ml") == 1
    # Two calls of either kind spent the bot's one budget: a poll of either waits.
    for kind in TRAININGS:
        with pytest.raises(BudgetExhausted):
            door.status(bot, "en", State.CONFIGURED, "poll", kind)
    assert door.status(registry.resolve("sales"), "en", State.CONFIGURED, "poll").age == 0


@pytest.mark.parametrize("kind", [Kind.FAQ, Kind.ML])
def test_starting_a_training_counts_against_the_bots_budget_and_is_never_shared(
    kore: FakeKore, registry: BotRegistry, kind: Kind
) -> None:
    door = gateway(registry, Clock(), limits=Limits(per_minute=3, per_hour=100))
    bot = registry.resolve("support")
    kore.script(BOT, "en", Status("success") if kind is Kind.FAQ else MlStatus(), kind=kind.value)
    door.status(bot, "en", State.CONFIGURED, kind=kind)
    door.start_training(bot, "en", kind)
    # The status known from before the start is stale: the next ask asks again.
    door.status(bot, "en", State.CONFIGURED, kind=kind)
    assert kore.count(BOT, kind="status", training=kind.value) == 2
    with pytest.raises(BudgetExhausted, match="try again in") as refused:
        door.start_training(bot, "en", kind)
    assert refused.value.retry_after > 0
    assert kore.count(BOT, kind="train", training=kind.value) == 1


def test_a_bots_suites_are_listed_once_for_asks_at_once_and_reused_while_fresh(
    kore: FakeKore, registry: BotRegistry
) -> None:
    kore.batch_suites(BOT, BatchSuite("Smoke"))
    clock = Clock()
    door = gateway(registry, clock, fresh_for=5.0)
    bot = registry.resolve("support")
    start = threading.Barrier(20)
    names: list[str] = []

    def ask() -> None:
        start.wait()
        names.extend(suite.name for suite in door.suites(bot, "en"))

    threads = [threading.Thread(target=ask) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert names == ["Smoke"] * 20
    clock.advance(4)
    door.suites(bot, "en")
    assert kore.count(BOT, kind="batch-suites") == 1
    door.suites(bot, "de")  # another language: its own list
    clock.advance(2)
    door.suites(bot, "en")  # no longer fresh
    assert kore.count(BOT, kind="batch-suites") == 3
    assert door.calls == 3
