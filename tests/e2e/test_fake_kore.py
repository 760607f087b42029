"""Tests for the fake Kore.ai server: real HTTP against a started FakeKore."""

from __future__ import annotations

import http.client
import re
import ssl
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import httpx
import jwt
import pytest

from korebot.testing.clock import Clock
from korebot.testing.fake_kore import Delay, Drop, Fail, FakeKore, KoreRequest, MlStatus, Status

CLIENT_ID = "cs-test-client"
SECRET = "test-secret-0123456789abcdef0123456789"
BOT = "st-1a2b3c4d-0000-5e6f-8a9b-0c1d2e3f4a5b"
OTHER_BOT = "st-00000000-1111-2222-3333-444444444444"
T0 = 1_700_000_000.0
RATE_MSG = "Rate limit for this API has been reached. Please try again later"
# Plain HTTP only: an empty TLS context spares loading the CA bundle (~0.1 s per client).
NO_TLS = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)


def token(
    secret: str = SECRET, app_id: str = CLIENT_ID, *, jti: str | None = "fresh", **extra: Any
) -> str:
    issued = int(time.time())
    claims: dict[str, Any] = {"appId": app_id, "sub": "korebot", "iat": issued}
    claims["exp"] = issued + 60
    if jti is not None:
        claims["jti"] = uuid.uuid4().hex if jti == "fresh" else jti
    claims.update(extra)
    return jwt.encode(claims, secret, algorithm="HS256")


def status_path(bot: str = BOT) -> str:
    return f"/api/public/bot/{bot}/faqs/train/status"


def train_path(bot: str = BOT) -> str:
    return f"/api/public/bot/{bot}/faqs/train"


@pytest.fixture
def clock() -> Clock:
    return Clock(datetime.fromtimestamp(T0, UTC))


@pytest.fixture
def kore(clock: Clock) -> Iterator[FakeKore]:
    with FakeKore(CLIENT_ID, SECRET, bots=[BOT], clock=clock.time) as fake:
        yield fake


@pytest.fixture
def client(kore: FakeKore) -> Iterator[httpx.Client]:
    with http_client(kore) as http:
        yield http


def http_client(kore: FakeKore, timeout: float = 5.0) -> httpx.Client:
    return httpx.Client(base_url=kore.url, timeout=timeout, verify=NO_TLS)


def get_status(
    client: httpx.Client, bot: str = BOT, *, headers: dict[str, str] | None = None, **params: str
) -> httpx.Response:
    params.setdefault("language", "en")
    sent = {"auth": token()} if headers is None else headers
    return client.get(status_path(bot), params=params, headers=sent)


def post_train(client: httpx.Client, bot: str = BOT, language: str = "en") -> httpx.Response:
    return client.post(train_path(bot), json={"language": language}, headers={"auth": token()})


def raw_request(kore: FakeKore, method: str, target: str) -> tuple[int, bytes]:
    """Send a request line exactly as given (httpx would normalise the path)."""
    port = urlsplit(kore.url).port
    assert port is not None
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        connection.putrequest(method, target, skip_accept_encoding=True)
        connection.putheader("auth", token())
        connection.endheaders()
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def error_msg(response: httpx.Response) -> str:
    errors = response.json()["errors"]
    assert len(errors) == 1
    return str(errors[0]["msg"])


# -- good requests and scripts ---------------------------------------------------------------


def test_good_request_gets_kore_shaped_default_success(
    kore: FakeKore, client: httpx.Client, clock: Clock
) -> None:
    clock.advance(datetime(2019, 6, 27, 12, 7, 30, 898000, tzinfo=UTC).timestamp() - clock.time())
    response = get_status(client)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert set(body) == {"_id", "message", "status", "__v", "modifiedOn", "lastModifiedBy"}
    assert body["status"] == "success"
    assert body["message"] == "Success"
    assert body["__v"] == 0
    assert body["modifiedOn"] == "2019-06-27T12:07:30.898Z"
    assert re.fullmatch(r"[0-9a-f]{24}", body["_id"])
    assert body["lastModifiedBy"] == "u-00000000-0000-0000-0000-000000000001"
    seen = kore.requests
    assert len(seen) == 1
    assert seen[0].claims is not None
    assert seen[0].claims["appId"] == CLIENT_ID
    assert seen[0].query == {"language": "en"}
    assert seen[0].at == clock.time()


def test_script_is_consumed_in_order_and_last_step_sticks(
    kore: FakeKore, client: httpx.Client
) -> None:
    kore.script(BOT, "en", Status("in-progress"), Status("failure", message="FAQ training failed"))
    answers = [get_status(client).json() for _ in range(4)]
    assert [a["status"] for a in answers] == ["in-progress", "failure", "failure", "failure"]
    assert answers[0]["message"] == "in-progress"
    assert answers[1]["message"] == "FAQ training failed"
    assert len({a["_id"] for a in answers}) == 1


def test_status_fields_can_be_scripted_verbatim(kore: FakeKore, client: httpx.Client) -> None:
    when = datetime(2024, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)
    kore.script(BOT, "en", Status("queued", modified_on=when, training_id="abc", modified_by="u-x"))
    body = get_status(client).json()
    assert body["status"] == "queued"
    assert body["message"] == "queued"
    assert body["modifiedOn"] == "2024-01-02T03:04:05.678Z"
    assert body["_id"] == "abc"
    assert body["lastModifiedBy"] == "u-x"


def test_scripts_are_keyed_by_lowercased_language_and_state(
    kore: FakeKore, client: httpx.Client
) -> None:
    kore.script(BOT, "DE", Status("failure"))
    kore.script(BOT, "de", Status("in-progress"), state="published")
    assert get_status(client, language="de").json()["status"] == "failure"
    assert get_status(client, language="De", state="configured").json()["status"] == "failure"
    assert get_status(client, language="de", state="published").json()["status"] == "in-progress"
    assert get_status(client, language="en").json()["status"] == "success"


def test_script_rejects_bad_arguments(kore: FakeKore) -> None:
    with pytest.raises(ValueError, match="at least one step"):
        kore.script(BOT, "en")
    with pytest.raises(ValueError, match="end with a Delay"):
        kore.script(BOT, "en", Status(), Delay(1))
    with pytest.raises(ValueError, match="state"):
        kore.script(BOT, "en", Status(), state="draft")
    with pytest.raises(ValueError, match="bot id"):
        kore.add_bot("st-NOT-A-UUID")


# -- authentication ----------------------------------------------------------------------------


def no_exp_token() -> str:
    return jwt.encode({"appId": CLIENT_ID, "iat": int(time.time()), "jti": "x"}, SECRET, "HS256")


BAD_CREDENTIALS: dict[str, tuple[Callable[[], dict[str, str]], str]] = {
    "missing": (dict, "no auth header"),
    "bearer": (lambda: {"Authorization": f"Bearer {token()}"}, "Authorization is not accepted"),
    "wrong-secret": (lambda: {"auth": token(secret="wrong-" + SECRET)}, "bad token"),
    "wrong-appid": (lambda: {"auth": token(app_id="cs-someone-else")}, "appId mismatch"),
    "no-jti": (lambda: {"auth": token(jti=None)}, "jti missing"),
    "expired": (lambda: {"auth": token(exp=int(time.time()) - 10)}, "bad token"),
    "no-exp": (lambda: {"auth": no_exp_token()}, "bad token"),
    "garbage": (lambda: {"auth": "not-a-jwt"}, "bad token"),
}


@pytest.mark.parametrize("case", BAD_CREDENTIALS)
def test_bad_credentials_get_401(kore: FakeKore, client: httpx.Client, case: str) -> None:
    make_headers, why = BAD_CREDENTIALS[case]
    response = get_status(client, headers=make_headers())
    assert response.status_code == 401
    assert response.json()["errors"][0]["code"] == 4002
    assert error_msg(response).startswith("Invalid SDK credentials: ")
    assert why in error_msg(response)
    assert kore.requests[0].claims is None
    assert kore.requests[0].http_status == 401


def test_reused_jti_gets_401(client: httpx.Client) -> None:
    once = token(jti="same-jti")
    assert get_status(client, headers={"auth": once}).status_code == 200
    again = get_status(client, headers={"auth": once})
    assert again.status_code == 401
    assert "jti reused" in error_msg(again)


def test_jti_not_enforced_when_switched_off() -> None:
    with (
        FakeKore(CLIENT_ID, SECRET, bots=[BOT], enforce_jti=False) as fake,
        http_client(fake) as http,
    ):
        once = token(jti=None)
        codes = [get_status(http, headers={"auth": once}).status_code for _ in range(2)]
    assert codes == [200, 200]


def test_hs512_token_is_refused(client: httpx.Client) -> None:
    now = int(time.time())
    claims = {"appId": CLIENT_ID, "iat": now, "exp": now + 60, "jti": "a"}
    forged = jwt.encode(claims, SECRET + SECRET, algorithm="HS512")
    assert get_status(client, headers={"auth": forged}).status_code == 401


# -- paths, bots, query and body -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "target"),
    [
        ("GET", "/api/public/bot/st-1a2b3c4d-0000-5e6f-8a9b-0c1d2e3f4a5b/faqs/train/statu"),
        ("GET", "/api/public/bot/ST-1A2B3C4D-0000-5E6F-8A9B-0C1D2E3F4A5B/faqs/train/status"),
        ("GET", "/api/public/bot/st-1a2b3c4d/faqs/train/status"),
        ("GET", "/api/public/bot/st-1a2b3c4d-0000-5e6f-8a9b-0c1d2e3f4a5b/faqs/train"),
        ("POST", "/api/public/bot/st-1a2b3c4d-0000-5e6f-8a9b-0c1d2e3f4a5b/faqs/train/status"),
        ("PUT", "/api/public/bot/st-1a2b3c4d-0000-5e6f-8a9b-0c1d2e3f4a5b/faqs/train"),
        ("GET", "/api/public/bot/x/../st-1a2b3c4d-0000-5e6f-8a9b-0c1d2e3f4a5b/faqs/train/status"),
        ("GET", "/api/public/bot/st-1a2b3c4d-0000-5e6f-8a9b-0c1d2e3f4a5b/faqs/train/%73tatus"),
        ("GET", "//api/public/bot/st-1a2b3c4d-0000-5e6f-8a9b-0c1d2e3f4a5b/faqs/train/status"),
        ("GET", "/api/public/bot//st-1a2b3c4d-0000-5e6f-8a9b-0c1d2e3f4a5b/faqs/train/status"),
        ("GET", "/api/public/bot/st-1a2b3c4d-0000-5e6f-8a9b-0c1d2e3f4a5b@x/faqs/train/status"),
        (
            "GET",
            "http://127.0.0.1/api/public/bot/st-1a2b3c4d-0000-5e6f-8a9b-0c1d2e3f4a5b/faqs/train",
        ),
    ],
)
def test_bad_paths_and_traversal_get_404_and_are_recorded(
    kore: FakeKore, method: str, target: str
) -> None:
    code, body = raw_request(kore, method, target + "?language=en")
    assert code == 404
    assert b'"code": 404' in body
    kore.wait_for_requests(1)
    seen = kore.requests
    assert [(r.method, r.path, r.http_status) for r in seen] == [(method, target, 404)]
    assert kore.count(BOT) == 0


def test_unknown_bot_gets_404(kore: FakeKore, client: httpx.Client) -> None:
    response = get_status(client, OTHER_BOT)
    assert response.status_code == 404
    assert error_msg(response) == "Bot not found"
    kore.add_bot(OTHER_BOT)
    assert get_status(client, OTHER_BOT).status_code == 200


@pytest.mark.parametrize(
    ("params", "msg"),
    [
        ({}, "language is required"),
        ({"language": ""}, "language is required"),
        ({"language": "english"}, "language is invalid"),
        ({"language": "en", "state": "draft"}, "state must be"),
        ({"language": "en", "botId": BOT}, "unexpected query parameter"),
        ([("language", "en"), ("language", "de")], "repeated query parameter"),
    ],
)
def test_bad_query_gets_400(client: httpx.Client, params: Any, msg: str) -> None:
    response = client.get(status_path(), params=params, headers={"auth": token()})
    assert response.status_code == 400
    assert msg in error_msg(response)


def test_region_language_codes_are_accepted(client: httpx.Client) -> None:
    for language in ("zh_cn", "pt-BR", "fil"):
        assert get_status(client, language=language).status_code == 200


@pytest.mark.parametrize(
    ("content", "msg"),
    [
        (b"", "JSON object"),
        (b"{not json", "JSON object"),
        (b'["en"]', "JSON object"),
        (b"{}", "language is required"),
        (b'{"language": 1}', "language is required"),
    ],
)
def test_bad_train_body_gets_400(
    kore: FakeKore, client: httpx.Client, content: bytes, msg: str
) -> None:
    headers = {"auth": token(), "content-type": "application/json"}
    response = client.post(train_path(), content=content, headers=headers)
    assert response.status_code == 400
    assert msg in error_msg(response)
    assert kore.count(kind="train") == 1


# -- rate limits -----------------------------------------------------------------------------------


def test_rate_limit_minute_window_slides_with_the_clock(client: httpx.Client, clock: Clock) -> None:
    for _ in range(60):
        assert get_status(client).status_code == 200
        clock.advance(0.5)
    # 60 calls between T0 and T0 + 29.5; now T0 + 30: the call at T0 frees at T0 + 60.
    limited = get_status(client)
    assert limited.status_code == 429
    assert error_msg(limited) == RATE_MSG
    assert limited.headers["Retry-After"] == "30"
    clock.advance(29.9)
    assert get_status(client).status_code == 429
    assert get_status(client).headers["Retry-After"] == "1"
    clock.advance(0.1)
    assert get_status(client).status_code == 200


def test_rate_limit_hour_window_and_what_counts(clock: Clock) -> None:
    with (
        FakeKore(
            CLIENT_ID, SECRET, bots=[BOT, OTHER_BOT], rate_limit=(3, 5), clock=clock.time
        ) as fake,
        http_client(fake) as http,
    ):
        assert [get_status(http).status_code for _ in range(4)] == [200, 200, 200, 429]
        # Refused and rate-limited calls do not count; the other bot has its own budget.
        assert get_status(http, headers={}).status_code == 401
        assert get_status(http, language="").status_code == 400
        assert get_status(http, OTHER_BOT).status_code == 200
        clock.advance(60)
        assert post_train(http).status_code == 200
        assert get_status(http).status_code == 200
        hour_limited = get_status(http)
        assert hour_limited.status_code == 429
        assert hour_limited.headers["Retry-After"] == str(3600 - 60)
        clock.advance(3600 - 60)
        assert get_status(http).status_code == 200


def test_rate_limit_without_retry_after_and_switched_off(clock: Clock) -> None:
    quiet = FakeKore(
        CLIENT_ID,
        SECRET,
        bots=[BOT],
        rate_limit=(1, 10),
        retry_after_on_limit=False,
        clock=clock.time,
    )
    with quiet, http_client(quiet) as http:
        assert get_status(http).status_code == 200
        limited = get_status(http)
        assert limited.status_code == 429
        assert "Retry-After" not in limited.headers
    with (
        FakeKore(CLIENT_ID, SECRET, bots=[BOT], rate_limit=None, clock=clock.time) as unlimited,
        http_client(unlimited) as http,
    ):
        assert {get_status(http).status_code for _ in range(61)} == {200}


# -- failures, drops and delays ----------------------------------------------------------------


def test_fail_with_custom_body_and_retry_after(kore: FakeKore, client: httpx.Client) -> None:
    kore.script(
        BOT,
        "en",
        Fail(503, body="upstream down", retry_after=2.0, content_type="text/plain"),
        Fail(500, retry_after=1.5),
        Status(),
    )
    first = get_status(client)
    assert first.status_code == 503
    assert first.text == "upstream down"
    assert first.headers["content-type"] == "text/plain"
    assert first.headers["Retry-After"] == "2"
    second = get_status(client)
    assert second.status_code == 500
    assert second.json() == {"errors": [{"msg": "Internal Server Error", "code": 500}]}
    assert second.headers["Retry-After"] == "1.5"
    assert get_status(client).status_code == 200
    assert [r.http_status for r in kore.requests] == [503, 500, 200]


def test_drop_is_a_transport_error(kore: FakeKore, client: httpx.Client) -> None:
    kore.script(BOT, "en", Drop(), Status())
    with pytest.raises(httpx.TransportError):
        get_status(client)
    assert get_status(client).status_code == 200
    assert [r.http_status for r in kore.requests] == [0, 200]


@pytest.mark.timing
def test_delay_holds_the_next_answer(kore: FakeKore, client: httpx.Client) -> None:
    kore.script(BOT, "en", Delay(0.15), Status("in-progress"), Status())
    started = time.monotonic()
    assert get_status(client).json()["status"] == "in-progress"
    assert time.monotonic() - started >= 0.15
    started = time.monotonic()
    assert get_status(client).json()["status"] == "success"
    assert time.monotonic() - started < 0.15


def test_delay_past_the_client_timeout_is_a_timeout(kore: FakeKore) -> None:
    kore.script(BOT, "en", Delay(0.3), Status())
    with http_client(kore, timeout=0.05) as http, pytest.raises(httpx.ReadTimeout):
        get_status(http)


# -- training --------------------------------------------------------------------------------


def test_train_default_answers_in_progress_then_status_goes_to_success(
    kore: FakeKore, client: httpx.Client
) -> None:
    kore.script(BOT, "en", Status("failure"))
    started = post_train(client, language="EN")
    assert started.status_code == 200
    assert started.json()["status"] == "in-progress"
    statuses = [get_status(client).json() for _ in range(3)]
    assert [s["status"] for s in statuses] == ["in-progress", "success", "success"]
    assert {s["_id"] for s in statuses} == {started.json()["_id"]}
    assert kore.count(BOT, kind="train") == 1
    assert kore.count(BOT) == 3


def test_on_train_scripts_the_training(kore: FakeKore, client: httpx.Client) -> None:
    kore.on_train(BOT, "en", Status("in-progress"), Status("in-progress"), Status("failure"))
    assert post_train(client).json()["status"] == "in-progress"
    assert [get_status(client).json()["status"] for _ in range(4)] == [
        "in-progress",
        "in-progress",
        "failure",
        "failure",
    ]
    # Another language keeps the default training behaviour.
    assert post_train(client, language="de").status_code == 200
    assert get_status(client, language="de").json()["status"] == "in-progress"


def test_on_train_failure_leaves_the_status_script_alone(
    kore: FakeKore, client: httpx.Client
) -> None:
    kore.script(BOT, "en", Status("failure"))
    kore.on_train(BOT, "en", Fail(403, body='{"errors":[{"msg":"no scope","code":403}]}'))
    refused = post_train(client)
    assert refused.status_code == 403
    assert error_msg(refused) == "no scope"
    assert get_status(client).json()["status"] == "failure"
    kore.on_train(BOT, "en", Drop())
    with pytest.raises(httpx.TransportError):
        post_train(client)


# -- inspection, lifecycle, concurrency ------------------------------------------------------------


def test_requests_and_count(kore: FakeKore, client: httpx.Client) -> None:
    kore.add_bot(OTHER_BOT)
    get_status(client)
    get_status(client, OTHER_BOT)
    post_train(client)
    get_status(client, headers={})
    assert kore.count() == 3
    assert kore.count(BOT) == 2
    assert kore.count(OTHER_BOT) == 1
    assert kore.count(BOT, kind="train") == 1
    assert kore.count(kind="any") == 4
    seen = kore.requests
    assert all(isinstance(r, KoreRequest) for r in seen)
    assert [(r.method, r.http_status) for r in seen] == [
        ("GET", 200),
        ("GET", 200),
        ("POST", 200),
        ("GET", 401),
    ]
    seen.clear()
    assert len(kore.requests) == 4
    with pytest.raises(ValueError, match="kind"):
        kore.count(kind="other")


def test_wait_for_requests_blocks_until_answered(kore: FakeKore) -> None:
    kore.script(BOT, "en", Delay(0.1), Status())
    with http_client(kore) as http:
        worker = threading.Thread(target=get_status, args=(http,))
        worker.start()
        kore.wait_for_requests(1, timeout=5)
        assert kore.requests[0].http_status == 200
        worker.join()


def test_wait_for_requests_times_out_with_what_was_seen(
    kore: FakeKore, client: httpx.Client
) -> None:
    get_status(client)
    kore.wait_for_requests(1, timeout=0)
    with pytest.raises(AssertionError, match=r"saw 1: \['GET /api/public/bot/.* -> 200'\]"):
        kore.wait_for_requests(2, timeout=0.05)


def test_concurrent_requests_each_consume_one_step(kore: FakeKore, client: httpx.Client) -> None:
    steps = [Status("in-progress", message=f"step {i}") for i in range(20)]
    kore.script(BOT, "en", *steps, Status("success"))
    messages: list[str] = []
    lock = threading.Lock()
    barrier = threading.Barrier(20)

    def call() -> None:
        barrier.wait()
        message = get_status(client).json()["message"]
        with lock:
            messages.append(message)

    workers = [threading.Thread(target=call) for _ in range(20)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert sorted(messages) == sorted(f"step {i}" for i in range(20))
    assert kore.count(BOT) == 20
    assert len({r.claims["jti"] for r in kore.requests if r.claims}) == 20


def test_binds_loopback_and_stops() -> None:
    fake = FakeKore(bots=[BOT])
    with pytest.raises(RuntimeError, match="not started"):
        _ = fake.url
    with fake, http_client(fake) as http:
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+", fake.url)
        auth = {"auth": token(fake.client_secret, fake.client_id)}
        assert get_status(http, headers=auth).is_success
        with pytest.raises(RuntimeError, match="already started"):
            fake.start()
        fake.stop()
        with pytest.raises(httpx.ConnectError):
            get_status(http, headers=auth)
    fake.stop()


def test_latency_is_added_to_every_answer() -> None:
    with FakeKore(CLIENT_ID, SECRET, bots=[BOT], latency=0.1) as fake, http_client(fake) as http:
        started = time.monotonic()
        assert get_status(http, headers={}).status_code == 401
        assert time.monotonic() - started >= 0.1


# -- ML training ------------------------------------------------------------------------------


def ml_path(bot: str = BOT, *, status: bool = True) -> str:
    return f"/api/public/bot/{bot}/ml/train" + ("/status" if status else "")


def test_ml_status_has_kore_shape_and_language_is_optional(
    kore: FakeKore, client: httpx.Client
) -> None:
    kore.script(BOT, "en", MlStatus("Finished", out_of_sync=("Synonyms",)), kind="ml")
    body = client.get(ml_path(), headers={"auth": token()}).json()  # no language: English
    assert body["trainingStatus"] == "Finished"
    assert body["trainDetails"] == {"nlpVersion": 3, "trainVersion": 1}
    flags = {key: value for key, value in body.items() if key.startswith("isMlInSyncWith")}
    assert len(flags) == 10
    assert [key for key, value in flags.items() if not value] == ["isMlInSyncWithSynonyms"]
    running = MlStatus("Inprogress")
    kore.script(BOT, "de", running, kind="ml", state="published")
    body = client.get(
        ml_path(), params={"language": "de", "state": "published"}, headers={"auth": token()}
    ).json()
    assert body["trainingStatus"] == "Inprogress"
    assert "trainDetails" not in body
    assert kore.count(BOT, training="ml") == 2
    assert kore.count(BOT, training="faq") == 0


def test_ml_scripts_take_ml_steps_only() -> None:
    kore = FakeKore(bots=[BOT])
    with pytest.raises(TypeError):
        kore.script(BOT, "en", Status("success"), kind="ml")
    with pytest.raises(TypeError):
        kore.script(BOT, "en", MlStatus(), kind="faq")
    with pytest.raises(ValueError, match="parts"):
        MlStatus(out_of_sync=("Everything",))


def test_ml_train_is_queued_from_the_header_language_and_bumps_the_version(
    kore: FakeKore, client: httpx.Client
) -> None:
    kore.on_train(BOT, "de", MlStatus("Inprogress"), MlStatus("Finished"), kind="ml")
    answer = client.post(ml_path(status=False), headers={"auth": token(), "bot-language": "de"})
    assert answer.status_code == 200
    ((queued,),) = [answer.json()]
    assert queued["message"] == "Training Queued."
    assert queued["Training_ID"]
    seen = [
        client.get(ml_path(), params={"language": "de"}, headers={"auth": token()}).json()
        for _ in range(2)
    ]
    assert [body["trainingStatus"] for body in seen] == ["Inprogress", "Finished"]
    assert seen[1]["trainDetails"]["trainVersion"] == 2
    # A body is refused: the ML train request has none.
    refused = client.post(ml_path(status=False), json={"language": "de"}, headers={"auth": token()})
    assert refused.status_code == 400


def test_a_kind_without_its_scope_is_refused_as_kore_does() -> None:
    with FakeKore(CLIENT_ID, SECRET, bots=[BOT], scopes=["faq"]) as kore, http_client(kore) as http:
        refused = http.get(ml_path(), params={"language": "en"}, headers={"auth": token()})
        assert refused.status_code == 401
        assert error_msg(refused) == "Permission denied. Scope is incorrect!"
        assert get_status(http).status_code == 200


def test_the_rate_limit_is_shared_by_both_kinds(clock: Clock) -> None:
    limited = FakeKore(CLIENT_ID, SECRET, bots=[BOT], clock=clock.time, rate_limit=(2, 100))
    with limited as kore, http_client(kore) as http:
        assert get_status(http).status_code == 200
        ml = http.get(ml_path(), params={"language": "en"}, headers={"auth": token()})
        assert ml.status_code == 200
        assert get_status(http).status_code == 429
        again = http.post(ml_path(status=False), headers={"auth": token()})
        assert again.status_code == 429
