"""A small, typed client for Kore.ai's training APIs (every kind) and batch tests, on httpx."""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from email.utils import parsedate_to_datetime
from types import TracebackType
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

import httpx
from tenacity import RetryCallState, Retrying, retry_if_exception, stop_after_attempt
from tenacity.stop import stop_base
from tenacity.wait import wait_random_exponential

from korebot import __version__
from korebot.kore import kinds, validation
from korebot.kore.auth import Credentials
from korebot.kore.errors import (
    BadRequest,
    CredentialsRejected,
    KoreError,
    KoreUnavailable,
    KoreUnreachable,
    NotFound,
    RateLimited,
    ScopeMissing,
    UnreadableResponse,
)
from korebot.kore.kinds import batch, publish
from korebot.kore.models import JobStatus, Kind, State

if TYPE_CHECKING:  # the registry builds on the client
    from korebot.registry import JobKey

log = logging.getLogger(__name__)
T = TypeVar("T")

DEFAULT_TIMEOUT = httpx.Timeout(10.0, connect=5.0)
_RATE_LIMIT_TEXT = re.compile(r"rate\s*limit", re.IGNORECASE)
_SCOPE_TEXT = re.compile(r"\bscope", re.IGNORECASE)
_NOT_FOUND_TEXT = re.compile(r"not\s*found|does\s*not\s*exist|invalid\s*bot", re.IGNORECASE)


@dataclass(frozen=True)
class RetryPolicy:
    """How the status call rides out transient failures (network, 5xx, 429).

    Waits grow exponentially with full jitter (``base`` doubling up to ``cap``),
    or follow ``Retry-After``; at most ``attempts`` tries and ``budget`` seconds
    of waiting in total.
    """

    attempts: int = 4
    budget: float = 30.0
    base: float = 0.5
    cap: float = 8.0


NO_RETRY = RetryPolicy(attempts=1)


class _Api(Protocol):
    """What reading an answer needs of an API: its name, its scope, its status key."""

    @property
    def label(self) -> str: ...

    @property
    def scope(self) -> str: ...

    @property
    def admin_scope(self) -> str: ...

    @property
    def status_field(self) -> str: ...


@dataclass(frozen=True)
class _BatchApi:
    """One of the batch test APIs, as ``_read`` names it in errors."""

    label: str
    scope: str
    admin_scope: str
    status_field: str
    #: What a 404 says Kore.ai does not know, after the bot.
    subject: str = "or its batch test suites"


_BATCH_RUN = _BatchApi(batch.label, batch.scope, batch.admin_scope, "status")
_PUBLISH = _BatchApi(
    publish.label, publish.scope, publish.admin_scope, "status", subject="or its publishing"
)
_PUBLISH_STATUS = replace(_PUBLISH, scope=publish.status_scope, admin_scope=publish.status_scope)
_BATCH_LIST = _BatchApi(batch.label, batch.manage_scope, batch.manage_scope, "count")


class KoreClient:
    """Talks to one Kore.ai host with one JWT app's credentials.

    ``sleep`` is injectable so that the retry policy can be tested without waiting.
    """

    def __init__(
        self,
        host: str,
        credentials: Credentials,
        *,
        timeout: httpx.Timeout = DEFAULT_TIMEOUT,
        retry: RetryPolicy = RetryPolicy(),
        sleep: Callable[[float], None] = time.sleep,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.host = validation.host(host)
        self.credentials = credentials
        self.retry = retry
        self._sleep = sleep
        self._http = httpx.Client(
            base_url=self.host,
            timeout=timeout,
            transport=transport,
            headers={"User-Agent": f"korebot/{__version__}"},
            follow_redirects=False,
        )

    def __repr__(self) -> str:
        return f"KoreClient(host={self.host!r}, client_id={self.credentials.client_id!r})"

    def __enter__(self) -> KoreClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def training_status(
        self,
        bot_id: str,
        language: str,
        state: State | str = State.CONFIGURED,
        kind: Kind = Kind.FAQ,
    ) -> JobStatus:
        """GET the kind's training status, retrying transient failures per the policy."""
        bot, lang = validation.bot_id(bot_id), validation.language(language)
        spec = kinds.training(kind)
        request = spec.status_request(bot, lang, validation.state(state))
        for attempt in self._retrying():
            with attempt:
                return self._call(request, spec, spec.parse, bot=bot, language=lang)
        raise AssertionError("unreachable: tenacity either returns or raises")  # pragma: no cover

    def job_status(
        self, key: JobKey, last: JobStatus | None = None, own: KoreClient | None = None
    ) -> JobStatus:
        """The job's status, whatever its kind: a training's status call; a batch test run's
        status while ``last`` (the previous answer) follows one, else its suite's last
        result from the list (korebot.kore.kinds.batch); a publish's (this client being the
        Admin Console app's), with the published trainings korebot follows after its own
        publish read by ``own``, the bot's own app's client."""
        if key.kind.is_training:
            return self.training_status(key.bot_id, key.language, key.state, key.kind)
        if key.kind is Kind.PUBLISH:
            job = publish.following(self.publish_status(key.bot_id), last)
            if job.follows_trainings:  # korebot's publish: the published trainings it started
                trainings = own or self

                def read(kind: Kind, language: str) -> JobStatus:
                    return trainings.training_status(key.bot_id, language, State.PUBLISHED, kind)

                job = publish.trained(job, read)
            return publish.as_status(job)
        request_id = batch.following(last)
        if request_id is not None:
            run = self.batch_test_status(key.bot_id, key.language, key.subject, request_id)
            return batch.as_status(run, last.previous if last else None)
        suites = self.batch_test_suites(key.bot_id, key.language)
        return batch.latest(suites, key.subject, key.state, key.language)

    def start_training(self, bot_id: str, language: str, kind: Kind = Kind.FAQ) -> JobStatus:
        """POST a new training of the kind. Never retried: the call is not idempotent."""
        bot, lang = validation.bot_id(bot_id), validation.language(language)
        spec = kinds.training(kind)
        request = spec.train_request(bot, lang)
        return self._call(request, spec, spec.parse_train, bot=bot, language=lang)

    # -- publishing (korebot.kore.kinds.publish): an Admin Console app's client ------------

    def publish_status(self, bot_id: str) -> publish.Publish:
        """GET the bot's current or latest publish job, retrying transient failures."""
        bot = validation.bot_id(bot_id)
        request = publish.status_request(bot)
        for attempt in self._retrying():
            with attempt:
                return self._call(request, _PUBLISH_STATUS, publish.parse_publish, bot=bot)
        raise AssertionError("unreachable: tenacity either returns or raises")  # pragma: no cover

    def publish(self, bot_id: str, comment: str, *, train: bool = True) -> publish.Started:
        """POST a publish of the bot (its published version trained unless ``train`` is
        False). Never retried: the call is not idempotent."""
        bot = validation.bot_id(bot_id)
        request = publish.publish_request(bot, comment, train)
        return self._call(request, _PUBLISH, publish.parse_start, bot=bot)

    # -- batch tests (korebot.kore.kinds.batch) ----------------------------------------------

    def run_batch_test(
        self, bot_id: str, language: str, suite: str, state: State | str = State.CONFIGURED
    ) -> batch.BatchStart:
        """POST a run of the suite on the bot's configured (``inDevelopment``) or published
        version. Never retried: the call is not idempotent. Scope: Batch Tests Execution."""
        bot, lang = validation.bot_id(bot_id), validation.language(language)
        request = batch.run_request(bot, lang, batch.suite_name(suite), validation.state(state))
        return self._batch_call(request, _BATCH_RUN, batch.parse_start, bot, lang, suite)

    def batch_test_status(
        self, bot_id: str, language: str, suite: str, request_id: str
    ) -> batch.BatchRun:
        """GET the status of a run (by the request ID its POST answered), retrying transient
        failures per the policy. Scope: Batch Tests Execution."""
        bot, lang = validation.bot_id(bot_id), validation.language(language)
        request = batch.status_request(bot, lang, batch.suite_name(suite), request_id)

        def parse(data: Any) -> batch.BatchRun:
            return batch.parse_status(data, request_id)

        for attempt in self._retrying():
            with attempt:
                return self._batch_call(request, _BATCH_RUN, parse, bot, lang, suite)
        raise AssertionError("unreachable: tenacity either returns or raises")  # pragma: no cover

    def batch_test_suites(self, bot_id: str, language: str) -> tuple[batch.Suite, ...]:
        """GET every test suite of the bot with its past results, page after page while
        Kore.ai says more are available (each page retried per the policy). Scope: Batch
        Tests Management."""
        bot, lang = validation.bot_id(bot_id), validation.language(language)
        suites: list[batch.Suite] = []
        for _ in range(_MAX_PAGES):
            request = batch.suites_request(bot, lang, skip=len(suites))
            for attempt in self._retrying():
                with attempt:
                    page = self._batch_call(request, _BATCH_LIST, batch.parse_suites, bot, lang)
            suites.extend(page.suites)
            if not page.more or not page.suites:
                break
        return tuple(suites)

    def _batch_call(
        self,
        request: kinds.Request,
        api: _BatchApi,
        parse: Callable[[Any], T],
        bot: str,
        language: str,
        suite: str | None = None,
    ) -> T:
        if suite is not None:
            api = replace(api, subject=f"or its batch test suite {validation.shown(suite)}")
        return self._call(request, api, parse, bot=bot, language=language)

    def _retrying(self) -> Retrying:
        policy = self.retry

        def transient(error: BaseException) -> bool:
            return isinstance(error, KoreError) and error.transient

        backoff = wait_random_exponential(multiplier=policy.base, max=policy.cap)

        def wait(state: RetryCallState) -> float:
            error = state.outcome.exception() if state.outcome else None
            if isinstance(error, RateLimited) and error.retry_after is not None:
                return error.retry_after
            return backoff(state)

        def before_sleep(state: RetryCallState) -> None:
            error = state.outcome.exception() if state.outcome else None
            log.warning(
                "Kore.ai call failed (%s), try %d of %d, retrying in %.1f s",
                error,
                state.attempt_number,
                policy.attempts,
                state.upcoming_sleep,
            )

        return Retrying(
            retry=retry_if_exception(transient),
            stop=stop_after_attempt(policy.attempts) | _BudgetSpent(policy.budget),
            wait=wait,
            sleep=self._sleep,
            before_sleep=before_sleep,
            reraise=True,
        )

    def _call(
        self,
        request: kinds.Request,
        spec: _Api,
        parse: Callable[[Any], T],
        *,
        bot: str,
        language: str | None = None,
    ) -> T:
        headers = {**request.headers, "auth": self.credentials.token()}
        try:
            response = self._http.request(
                request.method,
                request.path,
                params=request.params,
                json=request.json,
                headers=headers,
            )
        except httpx.TimeoutException as error:
            raise KoreUnreachable(
                f"Kore.ai at {self.host} did not answer in time; it may be slow or down. "
                "Try again in a minute.",
                connected=not isinstance(error, httpx.ConnectTimeout),
            ) from None
        except httpx.TransportError as error:
            raise KoreUnreachable(
                f"Could not reach Kore.ai at {self.host} ({type(error).__name__}). "
                "Check KORE_HOST and the network.",
                connected=not isinstance(error, httpx.ConnectError),
            ) from None
        return self._read(response, spec, parse, bot=bot, language=language)

    def _read(
        self,
        response: httpx.Response,
        spec: _Api,
        parse: Callable[[Any], T],
        *,
        bot: str,
        language: str | None,
    ) -> T:
        code = response.status_code
        body = _json_or_none(response)
        detail = _kore_message(body, response.text)
        if code == 429 or (code >= 400 and _RATE_LIMIT_TEXT.search(detail)):
            raise RateLimited(
                f"Kore.ai's rate limit for bot {bot} was reached ({detail or code}).",
                retry_after=_retry_after(response),
            )
        if code in (401, 403) and _SCOPE_TEXT.search(detail):
            raise ScopeMissing(
                f"Kore.ai refused JWT app {self.credentials.client_id} for a missing scope "
                f"(HTTP {code}: {detail}). Grant the app the '{spec.scope}' scope (Admin Console: "
                f"{spec.admin_scope}) with access to bot {bot}, then publish the app's "
                "scopes: they take effect only once published."
            )
        if code in (401, 403):
            raise CredentialsRejected(
                f"Kore.ai rejected the credentials of JWT app {self.credentials.client_id} "
                f"(HTTP {code}: {detail or 'no detail'}). Check the client ID and secret, and "
                f"that the app is granted the '{spec.scope}' scope (Admin Console: "
                f"{spec.admin_scope}) and can reach bot {bot}."
            )
        if code == 404 or (code == 400 and _NOT_FOUND_TEXT.search(detail)):
            subject = spec.subject if isinstance(spec, _BatchApi) else f"with {spec.label} training"
            where = f" in language '{language}'" if language else ""
            checks = "the bot ID, the language and" if language else "the bot ID and"
            raise NotFound(
                f"Kore.ai does not know bot {bot} {subject}{where} "
                f"(HTTP {code}: {detail or 'no detail'}). Check {checks} the host {self.host}."
            )
        if code >= 500:
            raise KoreUnavailable(
                f"Kore.ai at {self.host} is having trouble (HTTP {code}). Try again later.",
                status_code=code,
            )
        if code >= 300:
            raise BadRequest(f"Kore.ai refused the request (HTTP {code}): {detail or 'no detail'}")
        unshaped = body is None or (isinstance(body, dict) and spec.status_field not in body)
        if unshaped and _RATE_LIMIT_TEXT.search(detail):
            raise RateLimited(
                f"Kore.ai's rate limit for bot {bot} was reached ({detail}).",
                retry_after=_retry_after(response),
            )
        if body is None:
            raise UnreadableResponse(
                f"Kore.ai answered HTTP {code} with something that is not JSON: "
                f"{_short(response.text) or 'an empty body'}"
            )
        return parse(body)


#: At most this many pages of suites are read (50 each).
_MAX_PAGES = 40


class _BudgetSpent(stop_base):
    """Stop when the next wait would push the total waiting past the budget."""

    def __init__(self, budget: float) -> None:
        self.budget = budget

    def __call__(self, retry_state: RetryCallState) -> bool:
        return retry_state.idle_for + retry_state.upcoming_sleep > self.budget


def _json_or_none(response: httpx.Response) -> Any:
    try:
        return response.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None


def _kore_message(body: Any, text: str) -> str:
    """Kore's ``errors[].msg`` joined, else the raw body, shortened."""
    if isinstance(body, dict):
        errors = body.get("errors")
        if isinstance(errors, list):
            msgs = [str(e["msg"]) for e in errors if isinstance(e, dict) and e.get("msg")]
            if msgs:
                return _short("; ".join(msgs))
        if isinstance(body.get("message"), str) and "status" not in body:
            return _short(body["message"])
    return _short(text)


def _short(text: str, limit: int = 200) -> str:
    cleaned = " ".join("".join(ch if ch.isprintable() else " " for ch in text).split())
    return cleaned if len(cleaned) <= limit else cleaned[: limit - 3] + "..."


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("Retry-After")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())
