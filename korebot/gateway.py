"""One door to Kore.ai's status API for the whole process.

Kore.ai allows about 60 design-time calls a minute and 1800 an hour per bot,
shared by everyone asking about that bot. The gateway makes one call serve
everyone: concurrent asks for the same job (``JobKey``: host, bot, language,
state, kind and subject) share one request in flight, an answer fetched a moment
ago answers new asks without a call, and a per-bot budget, shared by every kind of
job (trainings, batch test runs and suite lists), keeps every caller (slash
commands and polls) inside Kore.ai's limits.
When the budget is spent, asks get the freshest known status with its age, and
polls wait for the budget instead of failing.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any, Literal, Protocol, TypeVar

from korebot.kore import JobStatus, Kind, State, kinds
from korebot.kore.errors import BudgetExhausted
from korebot.kore.kinds import batch, publish
from korebot.ratelimit import KeyedWindows
from korebot.registry import Bot, BotRegistry, JobKey

__all__ = ["Budget", "BudgetExhausted", "Fetched", "Limits", "LocalBudget", "StatusGateway"]

Purpose = Literal["ask", "poll"]
_T = TypeVar("_T")


@dataclass(frozen=True)
class _SuitesKey:
    """A bot's list of batch test suites in one language, as the gateway shares it."""

    host: str
    bot_id: str
    language: str


_Key = JobKey | _SuitesKey


@dataclass(frozen=True)
class Fetched:
    """A status and how old it is (0 when it was fetched for this caller)."""

    status: JobStatus
    age: float


@dataclass(frozen=True)
class Limits:
    per_minute: int = 60
    per_hour: int = 1800

    @property
    def windows(self) -> dict[float, int]:
        return {60: self.per_minute, 3600: self.per_hour}


class Budget(Protocol):
    """Counts calls per bot (host, bot ID); says how long to wait when the budget is spent."""

    def acquire(self, bot: tuple[str, str]) -> float:
        """Count a call and return 0 if allowed now; else the seconds to wait."""


class LocalBudget:
    """The budget of this process alone (the CLI, tests, a single web process)."""

    def __init__(self, limits: Limits, clock: Callable[[], float] = time.monotonic) -> None:
        self.windows = KeyedWindows(limits.windows)
        self.clock = clock

    def acquire(self, bot: tuple[str, str]) -> float:
        return self.windows.acquire(bot, self.clock())


class StatusGateway:
    def __init__(
        self,
        registry: BotRegistry,
        *,
        fresh_for: float = 5.0,
        limits: Limits = Limits(),
        clock: Callable[[], float] = time.monotonic,
        budget: Budget | None = None,
    ) -> None:
        self.registry = registry
        self.fresh_for = fresh_for
        self.limits = limits
        self.clock = clock
        self._lock = threading.Lock()
        # Answers by what they answer (a job's status, a bot's suites in a language).
        self._cache: dict[_Key, tuple[Any, float]] = {}
        self._in_flight: dict[_Key, Future[Any]] = {}
        self.budget = budget or LocalBudget(limits, clock)
        #: Calls sent to Kore.ai so far (for the benchmarks and the logs).
        self.calls = 0

    def status(
        self,
        bot: Bot,
        language: str,
        state: State,
        purpose: Purpose = "ask",
        kind: Kind = Kind.FAQ,
        *,
        subject: str = "",
        last: JobStatus | None = None,
    ) -> Fetched:
        """The job's status, shared with concurrent callers and within the bot's budget
        (``_shared``: what an ask and a poll each take).

        ``subject`` and ``last`` (the previous answer) are a batch test's: its suite, and
        the run being followed (``KoreClient.job_status``).
        """
        key = JobKey.of(bot, language, state, kind, subject)
        spec = kinds.spec(kind)
        client, own = self.registry.client(bot, admin=spec.admin_app), self.registry.client(bot)
        status, age = self._shared(
            key, bot, purpose, lambda: client.job_status(key, last, own), cost=spec.calls(last)
        )
        return Fetched(status, age)

    def start_training(self, bot: Bot, language: str, kind: Kind = Kind.FAQ) -> JobStatus:
        """POST a new training, once (never retried), within the bot's budget like an ask:
        BudgetExhausted with the seconds to wait when it is spent."""
        self._spend(bot, JobKey.of(bot, language, State.CONFIGURED, kind))
        return self.registry.client(bot).start_training(bot.bot_id, language, kind)

    def run_suite(self, bot: Bot, key: JobKey, previous: batch.PastResult | None) -> JobStatus:
        """POST a run of the key's batch test suite, once (never retried), within the bot's
        budget; its status (running) carries ``previous``, the run to compare it with."""
        self._spend(bot, key)
        client = self.registry.client(bot)
        start = client.run_batch_test(bot.bot_id, key.language, key.subject, key.state)
        return batch.started(start, previous)

    def publish(self, bot: Bot, comment: str, *, train: bool = True) -> publish.Started:
        """POST a publish of the bot with the Admin Console app, once (never retried),
        within the bot's budget."""
        client = self.registry.client(bot, admin=True)  # AdminCredentialsMissing first
        self._spend(bot, JobKey.of(bot, publish.LANGUAGE, publish.STATE, Kind.PUBLISH))
        return client.publish(bot.bot_id, comment, train=train)

    def suites(self, bot: Bot, language: str, purpose: Purpose = "ask") -> tuple[batch.Suite, ...]:
        """The bot's batch test suites with their past results, shared and reused like an
        ask's status (many asking to run a suite at once list them once); ``"poll"``: a
        fresh list (a release's gate compares with the newest result)."""
        client = self.registry.client(bot)
        key = _SuitesKey(bot.host, bot.bot_id, language)
        suites, _ = self._shared(
            key, bot, purpose, lambda: client.batch_test_suites(bot.bot_id, language)
        )
        return suites

    def _shared(
        self, key: _Key, bot: Bot, purpose: Purpose, call: Callable[[], _T], *, cost: int = 1
    ) -> tuple[_T, float]:
        """``call``'s answer and its age, shared with concurrent callers of the same key and
        within the bot's budget.

        An ask takes an answer up to ``fresh_for`` seconds old; a poll wants a new one (or
        joins one in flight). When the budget is spent, an ask gets the last known answer
        with its age, and a poll gets BudgetExhausted with the seconds to wait; so does an
        ask when nothing is known yet. ``cost``: the Kore.ai calls ``call`` makes, each
        counted on the budget.
        """
        with self._lock:
            moment = self.clock()
            known = self._known(key, moment)
            if purpose == "ask" and known is not None and known[1] <= self.fresh_for:
                return known
            joined = self._in_flight.get(key)
            if joined is None:
                wait = 0.0
                for _ in range(cost):  # stops at the first call the budget refuses
                    wait = self.budget.acquire((bot.host, bot.bot_id))
                    if wait > 0:
                        break
                if wait > 0:
                    if purpose == "ask" and known is not None:
                        return known
                    raise BudgetExhausted(
                        f"korebot's share of Kore.ai's rate limit for {bot.name} is used up; "
                        f"try again in {math.ceil(wait)} s.",
                        retry_after=wait,
                    )
                self.calls += cost
                leading: Future[Any] = Future()
                self._in_flight[key] = leading
        if joined is not None:
            return joined.result(), 0.0
        try:
            result = call()
        except BaseException as error:
            with self._lock:
                del self._in_flight[key]
            leading.set_exception(error)
            raise
        with self._lock:
            self._cache[key] = (result, self.clock())
            del self._in_flight[key]
        leading.set_result(result)
        return result, 0.0

    def _spend(self, bot: Bot, starts: JobKey | None = None) -> None:
        """Count one call on the bot's budget (BudgetExhausted when it is spent); a call that
        starts a job makes what was known of it stale."""
        wait = self.budget.acquire((bot.host, bot.bot_id))
        if wait > 0:
            raise BudgetExhausted(
                f"korebot's share of Kore.ai's rate limit for {bot.name} is used up; "
                f"try again in {math.ceil(wait)} s.",
                retry_after=wait,
            )
        with self._lock:
            self.calls += 1
            if starts is not None:
                self._cache.pop(starts, None)

    def _known(self, key: _Key, moment: float) -> tuple[Any, float] | None:
        cached = self._cache.get(key)
        if cached is None:
            return None
        answer, fetched_at = cached
        return answer, max(0.0, moment - fetched_at)
