"""Tests for korebot.kore: KoreClient over real HTTP against the fake Kore.ai on 127.0.0.1.

Nothing of korebot is mocked. Time is controlled, not waited for: every client gets a
recorder as its ``sleep``, which notes the requested seconds and returns at once.
"""

from __future__ import annotations

import logging
import re
import ssl
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from korebot.kore import (
    NO_RETRY,
    BadRequest,
    Credentials,
    CredentialsRejected,
    InvalidInput,
    JobStatus,
    Kind,
    KoreClient,
    KoreError,
    KoreUnavailable,
    KoreUnreachable,
    NotFound,
    RateLimited,
    RetryPolicy,
    ScopeMissing,
    State,
    Status,
    UnreadableResponse,
)
from korebot.kore.client import DEFAULT_TIMEOUT
from korebot.testing.fake_kore import Delay, Drop, Fail, FakeKore, MlStatus
from korebot.testing.fake_kore import Status as Answer

CLIENT_ID = "cs-kore-client-tests"
SECRET = "kore-client-tests-secret-5b1f0e9d7c"
BOT = "st-1a2b3c4d-0000-5e6f-8a9b-0c1d2e3f4a5b"
UNKNOWN_BOT = "st-99999999-8888-7777-6666-555555555555"
STATUS_PATH = f"/api/public/bot/{BOT}/faqs/train/status"
TRAIN_PATH = f"/api/public/bot/{BOT}/faqs/train"
RATE_MSG = "Rate limit for this API has been reached. Please try again later"
WHEN = datetime(2019, 6, 27, 12, 7, 30, 898000, tzinfo=UTC)
# Any JWT: base64url of '{"' starts every header and payload with "eyJ".
JWT_LIKE = re.compile(r"eyJ[\w-]+\.eyJ[\w-]+\.[\w-]+")
# What a validated bot ID and language must look like once they reach a URL: plain ASCII.
PLAIN_BOT_ID = re.compile(
    r"st-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.ASCII
)
PLAIN_LANGUAGE = re.compile(r"[a-z]{2,3}(?:[_-][a-z]{2,4})?", re.ASCII)
# The fake speaks plain HTTP: a bare TLS context spares loading the CA bundle, ~0.1 s a client.
NO_TLS = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)


def plain_http() -> httpx.HTTPTransport:
    """httpx's real network transport, as KoreClient would build it, minus the CA bundle."""
    return httpx.HTTPTransport(verify=NO_TLS)


DEFAULT_POLICY = RetryPolicy()


class SleepRecorder:
    """Stands in for time.sleep: records each requested wait and returns immediately."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


def assert_no_secrets(*texts: str) -> None:
    for text in texts:
        assert SECRET not in text
        assert not JWT_LIKE.search(text), f"a JWT leaked into: {text!r}"


def raises(error_type: type[KoreError], call: Callable[[], object]) -> KoreError:
    """Run ``call``, expect exactly ``error_type``, and check the error shows no secret."""
    with pytest.raises(error_type) as info:
        call()
    error = info.value
    assert type(error) is error_type
    assert_no_secrets(str(error), repr(error))
    return error


def make_client(
    fake: FakeKore,
    sleep: SleepRecorder,
    *,
    retry: RetryPolicy = DEFAULT_POLICY,
    timeout: httpx.Timeout = DEFAULT_TIMEOUT,
) -> KoreClient:
    credentials = Credentials(fake.client_id, fake.client_secret)
    return KoreClient(
        fake.url, credentials, retry=retry, sleep=sleep, timeout=timeout, transport=plain_http()
    )


@pytest.fixture
def fake() -> Iterator[FakeKore]:
    with FakeKore(CLIENT_ID, SECRET, bots=[BOT]) as kore:
        yield kore


@pytest.fixture
def sleeps() -> SleepRecorder:
    return SleepRecorder()


@pytest.fixture
def client(fake: FakeKore, sleeps: SleepRecorder) -> Iterator[KoreClient]:
    """The default retry policy, with time controlled."""
    with make_client(fake, sleeps) as kore_client:
        yield kore_client


@pytest.fixture
def once(fake: FakeKore, sleeps: SleepRecorder) -> Iterator[KoreClient]:
    """A client that never retries: one request per call."""
    with make_client(fake, sleeps, retry=NO_RETRY) as kore_client:
        yield kore_client


def statuses(fake: FakeKore) -> list[int]:
    return [request.http_status for request in fake.requests]


# -- statuses --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected", "message"),
    [
        ("success", Status.SUCCESS, "Success"),
        ("in-progress", Status.IN_PROGRESS, "in-progress"),
        ("failure", Status.FAILURE, "failure"),
        ("queued", Status.UNKNOWN, "queued"),
    ],
)
def test_each_status_becomes_a_training_status(
    fake: FakeKore, client: KoreClient, raw: str, expected: Status, message: str
) -> None:
    fake.script(BOT, "en", Answer(raw, modified_on=WHEN, training_id="5d14b0", modified_by="u-5e"))
    result = client.training_status(BOT, "en")
    assert isinstance(result, JobStatus)
    assert result.status is expected
    assert result.raw_status == raw
    assert result.message == message
    assert result.training_id == "5d14b0"
    assert result.modified_on == WHEN
    assert result.modified_on is not None
    assert result.modified_on.utcoffset() == timedelta(0)
    assert result.modified_by == "u-5e"
    assert result.status.is_final is (expected in (Status.SUCCESS, Status.FAILURE))
    assert [(r.method, r.path, r.query) for r in fake.requests] == [
        ("GET", STATUS_PATH, {"language": "en", "state": "configured"})
    ]


def test_free_text_message_is_kept(fake: FakeKore, client: KoreClient) -> None:
    fake.script(BOT, "en", Answer("failure", message="FAQ training failed: 3 FAQs invalid"))
    result = client.training_status(BOT, "en")
    assert result.status is Status.FAILURE
    assert result.message == "FAQ training failed: 3 FAQs invalid"


def test_state_and_language_are_sent_lower_case(fake: FakeKore, client: KoreClient) -> None:
    fake.script(BOT, "pt_br", Answer("in-progress"), state="published")
    assert client.training_status(BOT.upper(), "PT_BR", "PUBLISHED").status is Status.IN_PROGRESS
    assert client.training_status(BOT, "pt_br", State.PUBLISHED).status is Status.IN_PROGRESS
    assert client.training_status(BOT, "pt_br").status is Status.SUCCESS  # configured: default
    assert [(r.path, r.query) for r in fake.requests] == [
        (STATUS_PATH, {"language": "pt_br", "state": "published"}),
        (STATUS_PATH, {"language": "pt_br", "state": "published"}),
        (STATUS_PATH, {"language": "pt_br", "state": "configured"}),
    ]


def test_start_training_posts_once_and_answers_in_progress(
    fake: FakeKore, client: KoreClient
) -> None:
    started = client.start_training(BOT, "EN")
    assert started.status is Status.IN_PROGRESS
    assert started.training_id
    assert [(r.method, r.path) for r in fake.requests] == [("POST", TRAIN_PATH)]
    # The fake's default training then reports in-progress, then success, under the same id.
    follow_up = [client.training_status(BOT, "en") for _ in range(2)]
    assert [r.status for r in follow_up] == [Status.IN_PROGRESS, Status.SUCCESS]
    assert {r.training_id for r in follow_up} == {started.training_id}


# -- the JWT ---------------------------------------------------------------------------------------


def test_each_request_carries_a_fresh_short_lived_jwt_in_the_auth_header(
    fake: FakeKore, client: KoreClient
) -> None:
    client.training_status(BOT, "en")
    client.start_training(BOT, "en")
    # The fake accepts only the `auth` header (it refuses Authorization: Bearer) and checks
    # the HS256 signature with the client secret; decoded claims prove both were right.
    seen = fake.requests
    assert statuses(fake) == [200, 200]
    claims = [request.claims for request in seen]
    now = datetime.now(UTC).timestamp()
    for claim in claims:
        assert claim is not None
        assert claim["appId"] == CLIENT_ID
        assert claim["sub"]
        assert 0 < claim["exp"] - claim["iat"] <= 60
        assert abs(claim["iat"] - now) < 30
        assert claim["jti"]
    assert claims[0] is not None
    assert claims[1] is not None
    assert claims[0]["jti"] != claims[1]["jti"]


def test_a_token_signed_with_another_secret_is_refused(
    fake: FakeKore, sleeps: SleepRecorder
) -> None:
    wrong = Credentials(CLIENT_ID, "not-the-" + SECRET[8:])
    with KoreClient(fake.url, wrong, sleep=sleeps, transport=plain_http()) as kore_client:
        error = raises(CredentialsRejected, lambda: kore_client.training_status(BOT, "en"))
    assert "Invalid SDK credentials" in str(error)
    assert "not-the-" not in str(error)
    assert statuses(fake) == [401]
    assert sleeps.waits == []


# -- errors ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("code", [401, 403])
def test_401_and_403_are_credentials_rejected(fake: FakeKore, once: KoreClient, code: int) -> None:
    fake.script(BOT, "en", Fail(code))
    error = raises(CredentialsRejected, lambda: once.training_status(BOT, "en"))
    message = str(error)
    assert CLIENT_ID in message
    assert "'Train FAQ'" in message
    assert f"HTTP {code}" in message
    assert not error.transient


@pytest.mark.parametrize("code", [401, 403])
def test_a_refusal_naming_a_scope_is_scope_missing(
    fake: FakeKore, once: KoreClient, code: int
) -> None:
    body = '{"errors": [{"msg": "Permission denied. Scope is incorrect!", "code": 4002}]}'
    fake.script(BOT, "en", Fail(code, body=body))
    error = raises(ScopeMissing, lambda: once.training_status(BOT, "en"))
    assert isinstance(error, CredentialsRejected)
    message = str(error)
    assert "Permission denied. Scope is incorrect!" in message
    assert "'Train FAQ' scope" in message
    assert "publish the app's scopes" in message
    assert CLIENT_ID in message
    assert not error.transient


def test_404_is_not_found(fake: FakeKore, once: KoreClient) -> None:
    fake.script(BOT, "de", Fail(404))
    error = raises(NotFound, lambda: once.training_status(BOT, "de"))
    assert BOT in str(error)
    assert "'de'" in str(error)


def test_a_bot_the_server_does_not_know_is_not_found(fake: FakeKore, once: KoreClient) -> None:
    error = raises(NotFound, lambda: once.training_status(UNKNOWN_BOT, "en"))
    assert UNKNOWN_BOT in str(error)
    assert "Bot not found" in str(error)
    assert statuses(fake) == [404]


def test_400_saying_not_found_is_not_found(fake: FakeKore, once: KoreClient) -> None:
    fake.script(BOT, "en", Fail(400, body='{"errors": [{"msg": "Stream not found", "code": 7}]}'))
    error = raises(NotFound, lambda: once.training_status(BOT, "en"))
    assert "Stream not found" in str(error)


def test_400_with_a_kore_message_is_bad_request_showing_it(
    fake: FakeKore, once: KoreClient
) -> None:
    body = '{"errors": [{"msg": "FAQ training is locked by another user", "code": 400}]}'
    fake.script(BOT, "en", Fail(400, body=body))
    error = raises(BadRequest, lambda: once.training_status(BOT, "en"))
    assert "FAQ training is locked by another user" in str(error)
    assert "HTTP 400" in str(error)


def test_400_without_json_shows_the_raw_text(fake: FakeKore, once: KoreClient) -> None:
    fake.script(BOT, "en", Fail(400, body="language\tmissing\n", content_type="text/plain"))
    error = raises(BadRequest, lambda: once.training_status(BOT, "en"))
    assert "language missing" in str(error)


def test_429_is_rate_limited_with_retry_after(fake: FakeKore, once: KoreClient) -> None:
    fake.script(BOT, "en", Fail(429, retry_after=7))
    error = raises(RateLimited, lambda: once.training_status(BOT, "en"))
    assert isinstance(error, RateLimited)
    assert error.retry_after == 7.0
    assert error.transient
    assert BOT in str(error)


def test_the_servers_own_rate_limit_is_rate_limited() -> None:
    frozen = 1_700_000_000.0
    with (
        FakeKore(CLIENT_ID, SECRET, bots=[BOT], rate_limit=(1, 10), clock=lambda: frozen) as fake,
        make_client(fake, SleepRecorder(), retry=NO_RETRY) as kore_client,
    ):
        kore_client.training_status(BOT, "en")
        error = raises(RateLimited, lambda: kore_client.training_status(BOT, "en"))
        assert isinstance(error, RateLimited)
        assert error.retry_after == 60.0
        assert "Rate limit for this API has been reached" in str(error)
        assert statuses(fake) == [200, 429]


@pytest.mark.parametrize(
    ("code", "body", "content_type"),
    [
        (200, f'{{"errors": [{{"msg": "{RATE_MSG}", "code": 429}}]}}', "application/json"),
        (200, f'{{"message": "{RATE_MSG}"}}', "application/json"),
        (200, RATE_MSG, "text/plain"),
        (400, f'{{"errors": [{{"msg": "{RATE_MSG}", "code": 400}}]}}', "application/json"),
        (403, f'{{"errors": [{{"msg": "{RATE_MSG}"}}]}}', "application/json"),
    ],
    ids=["200-errors", "200-message", "200-text", "400-errors", "403-errors"],
)
def test_the_rate_limit_message_is_rate_limited_whatever_the_code(
    fake: FakeKore, once: KoreClient, code: int, body: str, content_type: str
) -> None:
    fake.script(BOT, "en", Fail(code, body=body, content_type=content_type))
    error = raises(RateLimited, lambda: once.training_status(BOT, "en"))
    assert isinstance(error, RateLimited)
    assert error.retry_after is None


@pytest.mark.parametrize("code", [200, 400])
def test_a_rate_limit_body_keeps_its_retry_after(
    fake: FakeKore, once: KoreClient, code: int
) -> None:
    body = f'{{"errors": [{{"msg": "{RATE_MSG}"}}]}}'
    fake.script(BOT, "en", Fail(code, body=body, retry_after=3))
    error = raises(RateLimited, lambda: once.training_status(BOT, "en"))
    assert isinstance(error, RateLimited)
    assert error.retry_after == 3.0


@pytest.mark.parametrize("code", [500, 502, 503, 504])
def test_5xx_is_unavailable(fake: FakeKore, once: KoreClient, code: int) -> None:
    fake.script(BOT, "en", Fail(code))
    error = raises(KoreUnavailable, lambda: once.training_status(BOT, "en"))
    assert isinstance(error, KoreUnavailable)
    assert error.status_code == code
    assert f"HTTP {code}" in str(error)
    assert error.transient


def test_a_dropped_connection_is_unreachable(fake: FakeKore, once: KoreClient) -> None:
    fake.script(BOT, "en", Drop())
    error = raises(KoreUnreachable, lambda: once.training_status(BOT, "en"))
    assert isinstance(error, KoreUnreachable)
    assert error.connected  # something at the host answered the connection
    assert fake.url in str(error)
    assert statuses(fake) == [0]


def test_an_answer_slower_than_the_timeout_is_unreachable(
    fake: FakeKore, sleeps: SleepRecorder
) -> None:
    fake.script(BOT, "en", Delay(0.5), Answer())
    with make_client(fake, sleeps, retry=NO_RETRY, timeout=httpx.Timeout(0.2)) as kore_client:
        error = raises(KoreUnreachable, lambda: kore_client.training_status(BOT, "en"))
    assert isinstance(error, KoreUnreachable)
    assert error.connected
    assert "did not answer in time" in str(error)


def test_a_closed_port_is_unreachable_and_retried(sleeps: SleepRecorder) -> None:
    with FakeKore(CLIENT_ID, SECRET) as gone:
        url = gone.url
    credentials = Credentials(CLIENT_ID, SECRET)
    with KoreClient(url, credentials, sleep=sleeps, transport=plain_http()) as kore_client:
        error = raises(KoreUnreachable, lambda: kore_client.training_status(BOT, "en"))
    assert isinstance(error, KoreUnreachable)
    assert not error.connected
    assert "Could not reach Kore.ai" in str(error)
    assert len(sleeps.waits) == RetryPolicy().attempts - 1


@pytest.mark.parametrize(
    ("body", "content_type", "shown"),
    [
        ("<html><body>Bad gateway page</body></html>", "text/html", "Bad gateway page"),
        ("", "application/json", "an empty body"),
    ],
)
def test_a_200_that_is_not_json_is_unreadable(
    fake: FakeKore, once: KoreClient, body: str, content_type: str, shown: str
) -> None:
    fake.script(BOT, "en", Fail(200, body=body, content_type=content_type))
    error = raises(UnreadableResponse, lambda: once.training_status(BOT, "en"))
    assert shown in str(error)


@pytest.mark.parametrize(
    "body", ['{"message": "Success", "_id": "5d"}', '{"status": 1}', '["success"]', "{}"]
)
def test_json_without_a_status_string_is_unreadable(
    fake: FakeKore, once: KoreClient, body: str
) -> None:
    fake.script(BOT, "en", Fail(200, body=body))
    error = raises(UnreadableResponse, lambda: once.training_status(BOT, "en"))
    assert "without a training status" in str(error)


# -- retries ---------------------------------------------------------------------------------------


def test_5xx_is_retried_with_jittered_exponential_waits(
    fake: FakeKore, client: KoreClient, sleeps: SleepRecorder
) -> None:
    fake.script(BOT, "en", Fail(503), Fail(503), Answer("success"))
    assert client.training_status(BOT, "en").status is Status.SUCCESS
    assert statuses(fake) == [503, 503, 200]
    assert len(sleeps.waits) == 2
    first, second = sleeps.waits
    assert 0 <= first <= 0.5  # base 0.5 * 2**0
    assert 0 <= second <= 1.0  # base 0.5 * 2**1


def test_exponential_waits_stop_growing_at_the_cap(fake: FakeKore, sleeps: SleepRecorder) -> None:
    fake.script(BOT, "en", Fail(502))
    policy = RetryPolicy(attempts=8, budget=1000.0, base=0.5, cap=8.0)
    with make_client(fake, sleeps, retry=policy) as kore_client:
        raises(KoreUnavailable, lambda: kore_client.training_status(BOT, "en"))
    assert len(fake.requests) == 8
    bounds = [0.5, 1.0, 2.0, 4.0, 8.0, 8.0, 8.0]
    assert len(sleeps.waits) == len(bounds)
    for wait, bound in zip(sleeps.waits, bounds, strict=True):
        assert 0 <= wait <= bound


def test_429_waits_exactly_retry_after(
    fake: FakeKore, client: KoreClient, sleeps: SleepRecorder
) -> None:
    fake.script(BOT, "en", Fail(429, retry_after=7), Answer("in-progress"))
    assert client.training_status(BOT, "en").status is Status.IN_PROGRESS
    assert sleeps.waits == [7.0]
    assert statuses(fake) == [429, 200]


def test_a_dropped_connection_is_retried(
    fake: FakeKore, client: KoreClient, sleeps: SleepRecorder
) -> None:
    fake.script(BOT, "en", Drop(), Answer("failure"))
    assert client.training_status(BOT, "en").status is Status.FAILURE
    assert statuses(fake) == [0, 200]
    assert len(sleeps.waits) == 1


def test_always_5xx_makes_exactly_attempts_requests(
    fake: FakeKore, client: KoreClient, sleeps: SleepRecorder
) -> None:
    fake.script(BOT, "en", Fail(500))
    raises(KoreUnavailable, lambda: client.training_status(BOT, "en"))
    attempts = RetryPolicy().attempts
    assert statuses(fake) == [500] * attempts
    assert len(sleeps.waits) == attempts - 1


def test_retry_after_waits_stop_at_the_budget(fake: FakeKore, sleeps: SleepRecorder) -> None:
    # Try 1 fails: wait 3 (0 + 3 <= 5). Try 2 fails: 3 + 3 > 5, so no second wait.
    fake.script(BOT, "en", Fail(429, retry_after=3))
    with make_client(fake, sleeps, retry=RetryPolicy(attempts=10, budget=5)) as kore_client:
        error = raises(RateLimited, lambda: kore_client.training_status(BOT, "en"))
    assert isinstance(error, RateLimited)
    assert error.retry_after == 3.0
    assert sleeps.waits == [3.0]
    assert statuses(fake) == [429, 429]


def test_waits_may_spend_exactly_the_budget(fake: FakeKore, sleeps: SleepRecorder) -> None:
    # 2.5 + 2.5 == 5 is within the budget; a third wait would make 7.5.
    fake.script(BOT, "en", Fail(429, retry_after=2.5))
    with make_client(fake, sleeps, retry=RetryPolicy(attempts=10, budget=5)) as kore_client:
        raises(RateLimited, lambda: kore_client.training_status(BOT, "en"))
    assert sleeps.waits == [2.5, 2.5]
    assert statuses(fake) == [429, 429, 429]


def test_retry_after_beyond_the_budget_is_not_waited_for(sleeps: SleepRecorder) -> None:
    frozen = 1_700_000_000.0
    with (
        FakeKore(CLIENT_ID, SECRET, bots=[BOT], rate_limit=(1, 10), clock=lambda: frozen) as fake,
        make_client(fake, sleeps) as kore_client,
    ):
        kore_client.training_status(BOT, "en")
        error = raises(RateLimited, lambda: kore_client.training_status(BOT, "en"))
        assert isinstance(error, RateLimited)
        assert error.retry_after == 60.0  # more than the default 30 s budget
        assert sleeps.waits == []
        assert statuses(fake) == [200, 429]


@pytest.mark.parametrize(
    ("step", "error_type"),
    [
        (Fail(401), CredentialsRejected),
        (Fail(403), CredentialsRejected),
        (Fail(404), NotFound),
        (Fail(400), BadRequest),
        (Fail(200, body="{}"), UnreadableResponse),
    ],
    ids=["401", "403", "404", "400", "unreadable"],
)
def test_permanent_errors_are_not_retried(
    fake: FakeKore,
    client: KoreClient,
    sleeps: SleepRecorder,
    step: Fail,
    error_type: type[KoreError],
) -> None:
    fake.script(BOT, "en", step, Answer("success"))
    raises(error_type, lambda: client.training_status(BOT, "en"))
    assert len(fake.requests) == 1
    assert sleeps.waits == []


@pytest.mark.parametrize(
    ("step", "error_type"),
    [
        (Fail(503), KoreUnavailable),
        (Fail(429, retry_after=1), RateLimited),
        (Drop(), KoreUnreachable),
    ],
    ids=["503", "429", "drop"],
)
def test_start_training_is_never_retried(
    fake: FakeKore,
    client: KoreClient,
    sleeps: SleepRecorder,
    step: Fail | Drop,
    error_type: type[KoreError],
) -> None:
    fake.on_train(BOT, "en", step)
    raises(error_type, lambda: client.start_training(BOT, "en"))
    assert fake.count(kind="train") == 1
    assert len(fake.requests) == 1
    assert sleeps.waits == []


# -- input validation ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def open_fake() -> Iterator[FakeKore]:
    """One fake for many inputs: no rate limit, every bot ID unknown but the test bot."""
    with FakeKore(CLIENT_ID, SECRET, bots=[BOT], rate_limit=None) as kore:
        yield kore


@pytest.fixture(scope="module")
def open_client(open_fake: FakeKore) -> Iterator[KoreClient]:
    with make_client(open_fake, SleepRecorder(), retry=NO_RETRY) as kore_client:
        yield kore_client


def _hex(size: int) -> st.SearchStrategy[str]:
    return st.text(alphabet="0123456789abcdefABCDEF", min_size=size, max_size=size)


_uuid_like = st.builds(lambda *parts: "-".join(parts), _hex(8), _hex(4), _hex(4), _hex(4), _hex(12))
_bot_ids = st.builds(
    lambda prefix, rest: f"{prefix}-{rest}", st.sampled_from(["st", "ST"]), _uuid_like
)
_languages = st.from_regex(r"[A-Za-z]{2,3}([_-][A-Za-z]{2,4})?", fullmatch=True)
bot_id_inputs = st.one_of(
    st.text(),
    _bot_ids,
    st.builds(str.__add__, _bot_ids, st.text(min_size=1)),
    st.builds(str.__add__, st.text(min_size=1), _bot_ids),
)
language_inputs = st.one_of(st.text(), _languages, st.builds(str.__add__, _languages, st.text()))


@settings(max_examples=200, deadline=None)
@given(bot_id=bot_id_inputs, language=language_inputs)
@example(bot_id=BOT, language="en")
@example(bot_id="\u017f" + BOT[1:], language="en")  # LATIN SMALL LETTER LONG S
@example(bot_id=BOT, language="\u212aa")  # KELVIN SIGN
@example(bot_id=BOT, language="\u0130t")  # LATIN CAPITAL LETTER I WITH DOT ABOVE
def test_any_input_is_refused_before_sending_or_reaches_exactly_the_status_path(
    open_fake: FakeKore, open_client: KoreClient, bot_id: str, language: str
) -> None:
    before = len(open_fake.requests)
    refusal: str | None = None
    try:
        open_client.training_status(bot_id, language)
    except InvalidInput as error:
        refusal = str(error)
    except KoreError:
        pass  # a valid but unknown bot: the fake answers 404; what was sent is what counts
    if refusal is not None:
        assert len(open_fake.requests) == before
        assert "\n" not in refusal
        return
    sent = open_fake.requests[before:]
    assert len(sent) == 1
    validated_id, validated_language = bot_id.lower(), language.lower()
    assert PLAIN_BOT_ID.fullmatch(validated_id)
    assert PLAIN_LANGUAGE.fullmatch(validated_language)
    assert sent[0].path == f"/api/public/bot/{validated_id}/faqs/train/status"
    assert sent[0].query == {"language": validated_language, "state": "configured"}


BAD_BOT_IDS = [
    "",
    "support",
    f"../{BOT}",
    f"{BOT}/../../admin",
    f"{BOT}%2e%2e",
    "%2e%2e",
    f"{BOT}?language=de",
    f"{BOT}#x",
    f"evil.example@{BOT}",
    f"{BOT} ",
    f" {BOT}",
    f"{BOT}\n",
    BOT.replace("-", " "),
    BOT[:-1],
    BOT + "0",
    BOT.replace("st-", "sx-"),
    BOT.replace("a", "g"),
    "\u017f" + BOT[1:],  # a long s folds to "s" when matching case-insensitively
]


@pytest.mark.parametrize("bot_id", BAD_BOT_IDS)
def test_bad_bot_ids_are_refused_without_a_request(
    open_fake: FakeKore, open_client: KoreClient, bot_id: str
) -> None:
    before = len(open_fake.requests)
    error = raises(InvalidInput, lambda: open_client.training_status(bot_id, "en"))
    raises(InvalidInput, lambda: open_client.start_training(bot_id, "en"))
    assert "is not a Kore.ai bot ID" in str(error)
    assert "\n" not in str(error)
    assert len(open_fake.requests) == before


BAD_LANGUAGES = [
    "",
    "e",
    "english",
    "../en",
    "%2e%2e",
    "en?",
    "en&state=published",
    "en#",
    "en@x",
    "e n",
    " en",
    "en\n",
    "en_",
    "en_usaxx",
    "\u212aa",  # KELVIN SIGN folds to "k"
    "\u017fv",  # LONG S folds to "s"
]


@pytest.mark.parametrize("language", BAD_LANGUAGES)
def test_bad_languages_are_refused_without_a_request(
    open_fake: FakeKore, open_client: KoreClient, language: str
) -> None:
    before = len(open_fake.requests)
    error = raises(InvalidInput, lambda: open_client.training_status(BOT, language))
    raises(InvalidInput, lambda: open_client.start_training(BOT, language))
    assert "is not a language code" in str(error)
    assert "\n" not in str(error)
    assert len(open_fake.requests) == before


@pytest.mark.parametrize("state", ["", "draft", "configured&x=1", "published\n", "../published"])
def test_bad_states_are_refused_without_a_request(
    open_fake: FakeKore, open_client: KoreClient, state: str
) -> None:
    before = len(open_fake.requests)
    error = raises(InvalidInput, lambda: open_client.training_status(BOT, "en", state))
    assert "is not a state" in str(error)
    assert len(open_fake.requests) == before


@pytest.mark.parametrize("language", ["en", "de", "JA", "zh_cn", "pt-BR", "fil"])
def test_good_languages_are_sent_lower_case(
    open_fake: FakeKore, open_client: KoreClient, language: str
) -> None:
    before = len(open_fake.requests)
    assert open_client.training_status(BOT, language).status is Status.SUCCESS
    (sent,) = open_fake.requests[before:]
    assert sent.query["language"] == language.lower()


@pytest.mark.parametrize(
    "host",
    [
        "http://example.com",
        "http://bots.kore.ai",
        "http://127.evil.example",
        "https://user@bots.kore.ai",
        "https://user:pass@bots.kore.ai",
        "http://user@127.0.0.1:8080",
        "ftp://bots.kore.ai",
        "bots.kore.ai",
        "",
        "https://",
        "https://bots.kore.ai?tenant=1",
        "https://bots.kore.ai#top",
    ],
)
def test_unsafe_hosts_are_refused(host: str) -> None:
    with pytest.raises(InvalidInput) as info:
        KoreClient(host, Credentials(CLIENT_ID, SECRET))
    assert "is not a usable Kore.ai host" in str(info.value)
    assert_no_secrets(str(info.value))


@pytest.mark.parametrize(
    ("host", "base"),
    [
        ("https://bots.kore.ai", "https://bots.kore.ai"),
        ("https://bots.kore.ai/", "https://bots.kore.ai"),
        ("  https://de-bots.kore.ai  ", "https://de-bots.kore.ai"),
        ("https://kore.internal.example:8443/", "https://kore.internal.example:8443"),
        ("http://127.0.0.1:8080", "http://127.0.0.1:8080"),
        ("http://localhost:3000/", "http://localhost:3000"),
    ],
)
def test_https_hosts_and_plain_http_on_loopback_are_accepted(host: str, base: str) -> None:
    with KoreClient(host, Credentials(CLIENT_ID, SECRET), transport=plain_http()) as kore_client:
        assert kore_client.host == base


# -- secrets ---------------------------------------------------------------------------------------


def test_reprs_show_the_client_id_but_never_the_secret(client: KoreClient) -> None:
    credentials = Credentials(CLIENT_ID, SECRET)
    for text in (repr(credentials), str(credentials), repr(client), str(client)):
        assert CLIENT_ID in text
        assert_no_secrets(text)


def test_logs_of_a_retrying_call_hold_neither_secret_nor_token(
    fake: FakeKore, client: KoreClient, sleeps: SleepRecorder, caplog: pytest.LogCaptureFixture
) -> None:
    fake.script(BOT, "en", Fail(503), Drop(), Fail(429, retry_after=1), Answer("success"))
    caplog.set_level(logging.DEBUG)
    assert client.training_status(BOT, "en").status is Status.SUCCESS
    assert len(sleeps.waits) == 3
    retries = [r for r in caplog.records if r.name == "korebot.kore.client"]
    assert [r.levelno for r in retries] == [logging.WARNING] * 3
    assert len(caplog.records) > len(retries)  # httpx/httpcore debug lines were captured too
    for record in caplog.records:
        assert_no_secrets(record.getMessage(), str(record.args))
    assert_no_secrets(caplog.text)


# -- ML training -----------------------------------------------------------------------------------


def test_ml_status_through_the_client(fake: FakeKore, once: KoreClient) -> None:
    fake.script(BOT, "de", MlStatus("Finished", out_of_sync=("Patterns",)), kind="ml")
    result = once.training_status(BOT, "DE", State.CONFIGURED, Kind.ML)
    assert (result.kind, result.status, result.raw_status) == (Kind.ML, Status.SUCCESS, "Finished")
    assert (result.out_of_sync, result.train_version) == (("Patterns",), 1)
    (request,) = fake.requests
    assert request.path == f"/api/public/bot/{BOT}/ml/train/status"
    assert request.query == {"language": "de", "state": "configured"}


def test_ml_training_starts_with_the_language_in_its_header(
    fake: FakeKore, once: KoreClient
) -> None:
    fake.on_train(BOT, "de", MlStatus("Inprogress"), MlStatus("Failed"), kind="ml")
    started = once.start_training(BOT, "de", Kind.ML)
    assert (started.status, started.message) == (Status.IN_PROGRESS, "Training Queued.")
    assert started.training_id
    assert once.training_status(BOT, "de", kind=Kind.ML).raw_status == "Inprogress"
    assert once.training_status(BOT, "de", kind=Kind.ML).status is Status.FAILURE
    assert fake.count(BOT, kind="train", training="ml") == 1


def test_a_missing_ml_scope_names_the_ml_scope(sleeps: SleepRecorder) -> None:
    fake = FakeKore(CLIENT_ID, SECRET, bots=[BOT], scopes=["faq"])
    with fake as kore, make_client(kore, sleeps) as client:
        error = raises(ScopeMissing, lambda: client.training_status(BOT, "en", kind=Kind.ML))
        assert "'Train ML' scope" in str(error)
        assert "Test and Train > Train ML" in str(error)
        assert client.training_status(BOT, "en").status is Status.SUCCESS
