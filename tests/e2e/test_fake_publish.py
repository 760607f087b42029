"""Tests for the fake Kore.ai's bot publish APIs: real HTTP against a started FakeKore, with
JWTs minted as korebot mints them (`korebot.kore.auth.Credentials`)."""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from korebot.kore.auth import Credentials
from korebot.testing.clock import Clock
from korebot.testing.fake_kore import Fail, FakeKore, PublishPost, PublishScript
from korebot.testing.fake_publish import (
    ADMIN_USER,
    BUILDER_USER,
    PAST_JOB_ID,
    dialog_resource_id,
)

CLIENT_ID = "cs-test-client"
SECRET = "test-secret-0123456789abcdef0123456789"
ADMIN_ID = "cs-test-admin"
ADMIN_SECRET = "test-admin-secret-0123456789abcdef01234"
BOT = "st-1a2b3c4d-0000-5e6f-8a9b-0c1d2e3f4a5b"
OTHER_BOT = "st-00000000-1111-2222-3333-444444444444"
UNKNOWN_BOT = "st-99999999-1111-2222-3333-444444444444"
T0 = datetime(2026, 11, 28, 12, 0, 0, 250000, tzinfo=UTC)
NO_TLS = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
SCOPE_ERROR = {"errors": [{"msg": "Permission denied. Scope is incorrect!", "code": 4002}]}
STATUS_KEYS = [
    "_id",
    "action",
    "jobType",
    "streamId",
    "__v",
    "countOfDockStatuses",
    "createdBy",
    "percentageComplete",
    "requestedTime",
    "status",
    "lastModifiedOn",
    "initiatedOn",
    "statusSummary",
]
ADMIN = Credentials(ADMIN_ID, ADMIN_SECRET)
BUILDER = Credentials(CLIENT_ID, SECRET)


@pytest.fixture
def clock() -> Clock:
    return Clock(T0)


@pytest.fixture
def kore(clock: Clock) -> Iterator[FakeKore]:
    fake = FakeKore(
        CLIENT_ID,
        SECRET,
        bots=[BOT],
        clock=clock.time,
        admin_client_id=ADMIN_ID,
        admin_client_secret=ADMIN_SECRET,
    )
    with fake:
        yield fake


@pytest.fixture
def http(kore: FakeKore) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=kore.url, timeout=5.0, verify=NO_TLS) as client:
        yield client


def publish(
    http: httpx.Client,
    bot: str = BOT,
    *,
    app: Credentials = ADMIN,
    body: Any = None,
    comment: str = "new update",
) -> httpx.Response:
    sent = {"versionComment": comment, "initiateTraining": True} if body is None else body
    return http.post(f"/api/public/bot/{bot}/publish", json=sent, headers={"auth": app.token()})


def status(http: httpx.Client, bot: str = BOT, *, app: Credentials = ADMIN) -> httpx.Response:
    return http.get(f"/api/public/bot/{bot}/publish/status", headers={"auth": app.token()})


def status_json(http: httpx.Client, bot: str = BOT) -> dict[str, Any]:
    response = status(http, bot)
    assert response.status_code == 200
    document = response.json()
    assert isinstance(document, dict)
    return document


def faq_status(http: httpx.Client, state: str, *, ml: bool = False) -> str:
    kind = "ml" if ml else "faqs"
    response = http.get(
        f"/api/public/bot/{BOT}/{kind}/train/status",
        params={"language": "en", "state": state},
        headers={"auth": BUILDER.token()},
    )
    assert response.status_code == 200
    document = response.json()
    return str(document["trainingStatus" if ml else "status"])


def summary(document: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    return [
        (entry["resourceId"], entry["resourceType"], entry["name"], entry["status"])
        for entry in document["statusSummary"]
    ]


def iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


# -- credentials -------------------------------------------------------------------------------


def test_the_admin_app_is_accepted_and_the_app_builder_app_refused_with_the_scope_error(
    kore: FakeKore, http: httpx.Client
) -> None:
    assert kore.admin_client_id == ADMIN_ID
    assert kore.admin_client_secret == ADMIN_SECRET
    assert status(http).status_code == 200
    for response in (status(http, app=BUILDER), publish(http, app=BUILDER)):
        assert response.status_code == 401
        assert response.json() == SCOPE_ERROR
    # Nothing started: the status still shows the past publish.
    assert status_json(http)["_id"] == PAST_JOB_ID
    assert [post.http_status for post in kore.publish_posts] == [401]
    # The App Builder app keeps working for the other APIs; the admin app has none of them.
    assert faq_status(http, "configured") == "success"
    faq = http.get(
        f"/api/public/bot/{BOT}/faqs/train/status",
        params={"language": "en"},
        headers={"auth": ADMIN.token()},
    )
    assert faq.status_code == 401
    assert faq.json() == SCOPE_ERROR


def test_a_wrong_admin_secret_or_a_reused_jti_is_refused_as_invalid_credentials(
    kore: FakeKore, http: httpx.Client
) -> None:
    wrong = Credentials(ADMIN_ID, "wrong-" + ADMIN_SECRET)
    response = status(http, app=wrong)
    assert response.status_code == 401
    assert response.json()["errors"][0]["code"] == 4002
    assert response.json()["errors"][0]["msg"].startswith("Invalid SDK credentials: bad token")
    once = ADMIN.token()
    path = f"/api/public/bot/{BOT}/publish/status"
    assert http.get(path, headers={"auth": once}).status_code == 200
    again = http.get(path, headers={"auth": once})
    assert again.status_code == 401
    assert "jti reused" in again.json()["errors"][0]["msg"]
    assert kore.requests[-2].claims is not None
    assert kore.requests[-2].claims["appId"] == ADMIN_ID


def test_each_publish_api_needs_its_own_admin_scope() -> None:
    only_status = FakeKore(
        CLIENT_ID, SECRET, bots=[BOT], admin_client_id=ADMIN_ID,
        admin_client_secret=ADMIN_SECRET, admin_scopes=["publish-status"],
    )  # fmt: skip
    with only_status as kore, httpx.Client(base_url=kore.url, verify=NO_TLS) as client:
        assert status(client).status_code == 200
        refused = publish(client)
        assert refused.status_code == 401
        assert refused.json() == SCOPE_ERROR
    with pytest.raises(ValueError, match="admin_scopes"):
        FakeKore(admin_scopes=["publish", "train"])
    with pytest.raises(ValueError, match="differ"):
        FakeKore("cs-same", admin_client_id="cs-same")


def test_the_default_admin_app() -> None:
    with FakeKore(bots=[BOT]) as kore, httpx.Client(base_url=kore.url, verify=NO_TLS) as client:
        assert kore.admin_client_id == "cs-fake-admin"
        assert kore.admin_client_secret
        assert kore.admin_scopes == {"publish", "publish-status"}
        app = Credentials(kore.admin_client_id, kore.admin_client_secret)
        assert status(client, app=app).status_code == 200


# -- the POST ----------------------------------------------------------------------------------


def test_the_post_answers_one_entry_per_resource_with_dialogs_awaiting_approval(
    kore: FakeKore, http: httpx.Client, clock: Clock
) -> None:
    kore.on_publish(BOT, PublishScript(awaiting=("mortgage", "loans"), languages=("en", "de")))
    response = publish(http, comment="new update")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    mortgage = dialog_resource_id(BOT, "mortgage")
    awaiting = {
        "state": "awaitingApproval",
        "approvalRequestedLanguages": ["en", "de"],
        "versionComment": "new update",
        "publishedOn": iso(T0),
        "name": "mortgage",
    }
    assert response.json() == [
        {
            "resourceType": "dialog",
            "resourceId": mortgage,
            "sbResourceId": mortgage,
            "status": "SUCCESS",
            "result": awaiting,
        },
        {
            "resourceType": "dialog",
            "resourceId": dialog_resource_id(BOT, "loans"),
            "sbResourceId": dialog_resource_id(BOT, "loans"),
            "status": "SUCCESS",
            "result": awaiting | {"name": "loans"},
        },
        {
            "resourceType": "NL",
            "status": "SUCCESS",
            "result": {
                "resourceId": "NL",
                "resourceType": "NL",
                "modules": ["nl_model", "settings"],
                "name": "Natural Language",
            },
        },
        {
            "resourceType": "SETTINGS",
            "status": "SUCCESS",
            "result": {"resourceId": "SETTINGS", "name": "Settings"},
        },
    ]
    assert mortgage.startswith("dg-")
    [post] = kore.publish_posts
    assert post.job_id is not None
    assert post == PublishPost(BOT, "new update", True, 200, post.job_id)


def test_without_awaiting_dialogs_the_post_answers_nl_and_settings(http: httpx.Client) -> None:
    response = publish(http, body={"versionComment": "v2"})
    assert [entry["resourceType"] for entry in response.json()] == ["NL", "SETTINGS"]


@pytest.mark.parametrize(
    ("body", "msg"),
    [
        ({}, "versionComment is required"),
        ({"initiateTraining": True}, "versionComment is required"),
        ({"versionComment": ""}, "versionComment is required"),
        ({"versionComment": "  "}, "versionComment is required"),
        ({"versionComment": 3}, "versionComment is required"),
        (
            {"versionComment": "x", "initiateTraining": "yes"},
            "initiateTraining must be true or false",
        ),
        (["versionComment"], "body must be a JSON object"),
    ],
)
def test_a_post_without_a_good_body_gets_400_and_starts_nothing(
    kore: FakeKore, http: httpx.Client, body: Any, msg: str
) -> None:
    response = publish(http, body=body)
    assert response.status_code == 400
    assert response.json() == {"errors": [{"msg": msg, "code": 400}]}
    [post] = kore.publish_posts
    assert post.http_status == 400
    assert post.job_id is None
    assert status_json(http)["_id"] == PAST_JOB_ID


def test_a_scripted_post_failure_starts_nothing(kore: FakeKore, http: httpx.Client) -> None:
    kore.on_publish(BOT, PublishScript(post=Fail(500, retry_after=7)))
    response = publish(http)
    assert response.status_code == 500
    assert response.headers["retry-after"] == "7"
    assert response.json() == {"errors": [{"msg": "Internal Server Error", "code": 500}]}
    assert kore.publish_posts == [PublishPost(BOT, "new update", True, 500, None)]
    assert status_json(http)["_id"] == PAST_JOB_ID


def test_unknown_bots_and_other_paths_get_404(kore: FakeKore, http: httpx.Client) -> None:
    for response in (publish(http, UNKNOWN_BOT), status(http, UNKNOWN_BOT)):
        assert response.status_code == 404
        assert response.json() == {"errors": [{"msg": "Bot not found", "code": 404}]}
    path = f"/api/public/bot/{BOT}/publish"
    for method, target in [
        ("GET", path),
        ("POST", path + "/status"),
        ("GET", path + "/status/x"),
        ("PUT", path),
        ("POST", "/api/public/bot/not-a-bot/publish"),
    ]:
        answer = http.request(method, target, headers={"auth": ADMIN.token()})
        assert answer.status_code == 404, (method, target)
    # The 404s for unknown bots reached a known path, so the POST is recorded.
    assert [(p.bot_id, p.http_status) for p in kore.publish_posts] == [(UNKNOWN_BOT, 404)]


def test_the_status_takes_no_query_parameters(http: httpx.Client) -> None:
    response = http.get(
        f"/api/public/bot/{BOT}/publish/status",
        params={"language": "en"},
        headers={"auth": ADMIN.token()},
    )
    assert response.status_code == 400


# -- the status --------------------------------------------------------------------------------


def test_before_any_publish_the_status_shows_a_past_successful_one(http: httpx.Client) -> None:
    document = status_json(http)
    assert list(document) == STATUS_KEYS
    assert document == {
        "_id": PAST_JOB_ID,
        "action": "RUN",
        "jobType": "PUBLISH_BOT",
        "streamId": BOT,
        "__v": 0,
        "countOfDockStatuses": 1,
        "createdBy": ADMIN_USER,
        "percentageComplete": 100,
        "requestedTime": "2023-06-26T11:58:02.114Z",
        "status": "successful",
        "lastModifiedOn": "2023-06-26T11:58:03.563Z",
        "initiatedOn": "2023-06-26T11:58:02.211Z",
        "statusSummary": [
            {"resourceId": "SETTINGS", "resourceType": "SETTINGS", "name": "Settings",
             "status": "SUCCESS"},
            {"resourceId": "NL", "resourceType": "NL", "name": "Natural Language",
             "status": "SUCCESS"},
        ],
    }  # fmt: skip
    assert status_json(http) == document


def test_a_publish_is_in_progress_then_successful_for_good(
    kore: FakeKore, http: httpx.Client, clock: Clock
) -> None:
    kore.on_publish(BOT, PublishScript(running_polls=2, awaiting=("mortgage",)))
    clock.advance(10)
    assert publish(http).status_code == 200
    [post] = kore.publish_posts
    mortgage = (dialog_resource_id(BOT, "mortgage"), "dialog", "mortgage")
    settings, nl = ("SETTINGS", "SETTINGS", "Settings"), ("NL", "NL", "Natural Language")

    clock.advance(1)
    first = status_json(http)
    assert list(first) == STATUS_KEYS
    assert first["_id"] == post.job_id
    assert first["_id"].startswith("ds-")
    assert first["_id"] != PAST_JOB_ID
    assert first["requestedTime"] == "2026-11-28T12:00:10.250Z"
    assert first["initiatedOn"] == "2026-11-28T12:00:10.347Z"
    assert first["lastModifiedOn"] == "2026-11-28T12:00:11.250Z"
    assert first["createdBy"] == ADMIN_USER
    assert (first["status"], first["percentageComplete"]) == ("inprogress", 33)
    assert summary(first) == [(*settings, "SUCCESS")]

    second = status_json(http)
    assert (second["status"], second["percentageComplete"]) == ("inprogress", 66)
    assert summary(second) == [(*settings, "SUCCESS"), (*nl, "SUCCESS")]

    clock.advance(5)
    done = status_json(http)
    assert (done["status"], done["percentageComplete"]) == ("successful", 100)
    assert done["lastModifiedOn"] == "2026-11-28T12:00:16.250Z"
    assert summary(done) == [(*settings, "SUCCESS"), (*nl, "SUCCESS"), (*mortgage, "SUCCESS")]
    clock.advance(60)
    assert status_json(http) == done


def test_a_failed_publish_marks_its_failed_resources(kore: FakeKore, http: httpx.Client) -> None:
    kore.on_publish(
        BOT, PublishScript(outcome="failed", awaiting=("mortgage",), failed=("mortgage",))
    )
    publish(http)
    assert status_json(http)["status"] == "inprogress"
    failed = status_json(http)
    assert (failed["status"], failed["percentageComplete"]) == ("failed", 100)
    assert [entry["status"] for entry in failed["statusSummary"]] == [
        "SUCCESS",
        "SUCCESS",
        "FAILED",
    ]
    # Without names, Natural Language fails.
    kore.on_publish(BOT, PublishScript(running_polls=0, outcome="failed"))
    publish(http)
    assert summary(status_json(http))[1] == ("NL", "NL", "Natural Language", "FAILED")


def test_each_post_starts_a_new_job(kore: FakeKore, http: httpx.Client, clock: Clock) -> None:
    kore.on_publish(BOT, PublishScript(running_polls=0))
    publish(http)
    first = status_json(http)
    clock.advance(30)
    publish(http)
    second = status_json(http)
    assert first["_id"] != second["_id"]
    assert second["requestedTime"] == "2026-11-28T12:00:30.250Z"
    assert [post.job_id for post in kore.publish_posts] == [first["_id"], second["_id"]]


def test_a_publish_started_elsewhere_is_seen_without_a_post(
    kore: FakeKore, http: httpx.Client
) -> None:
    at = datetime(2026, 11, 28, 11, 59, 1, 5000, tzinfo=UTC)
    job = kore.start_publish_elsewhere(BOT, PublishScript(running_polls=1), requested_at=at)
    running = status_json(http)
    assert running["_id"] == job.job_id
    assert running["requestedTime"] == "2026-11-28T11:59:01.005Z"
    assert running["createdBy"] == BUILDER_USER
    assert running["status"] == "inprogress"
    assert status_json(http)["status"] == "successful"
    assert kore.publish_posts == []
    assert kore.count(BOT, kind="publish") == 0
    # Now by default, with the bot's script.
    kore.on_publish(BOT, PublishScript(running_polls=0, outcome="failed"))
    now = kore.start_publish_elsewhere(BOT)
    document = status_json(http)
    assert (document["_id"], document["status"]) == (now.job_id, "failed")
    assert document["requestedTime"] == iso(T0)


def test_a_bot_never_published(kore: FakeKore, http: httpx.Client) -> None:
    kore.add_bot(OTHER_BOT)
    kore.never_published(BOT)
    kore.never_published(OTHER_BOT, Fail(404, '{"errors":[{"msg":"No publish","code":404}]}'))
    empty = status(http)
    assert (empty.status_code, empty.json()) == (200, {})
    assert status(http, OTHER_BOT).status_code == 404
    kore.on_publish(BOT, PublishScript(running_polls=0))
    publish(http)
    assert status_json(http)["status"] == "successful"


def test_script_arguments_are_checked() -> None:
    with pytest.raises(ValueError, match="outcome"):
        PublishScript(outcome="done")
    with pytest.raises(ValueError, match="outcome='failed'"):
        PublishScript(failed=("Settings",))
    with pytest.raises(ValueError, match="no resource"):
        PublishScript(outcome="failed", failed=("mortgage",))
    with pytest.raises(ValueError, match="distinct"):
        PublishScript(awaiting=("a", "a"))
    with pytest.raises(ValueError, match="language"):
        PublishScript(languages=("english!",))
    with pytest.raises(ValueError, match="negative"):
        PublishScript(running_polls=-1)


# -- the published trainings -------------------------------------------------------------------


def test_a_successful_publish_trains_the_published_version(
    kore: FakeKore, http: httpx.Client
) -> None:
    kore.on_publish(BOT, PublishScript(running_polls=1, languages=("en", "de")))
    publish(http)
    assert status_json(http)["status"] == "inprogress"
    # Not yet ended: the published trainings are as they were.
    assert faq_status(http, "published") == "success"
    assert status_json(http)["status"] == "successful"
    assert faq_status(http, "published") == "in-progress"
    assert faq_status(http, "published") == "success"
    assert faq_status(http, "published", ml=True) == "Inprogress"
    assert faq_status(http, "published", ml=True) == "Finished"
    assert faq_status(http, "configured") == "success"
    de = http.get(
        f"/api/public/bot/{BOT}/faqs/train/status",
        params={"language": "de", "state": "published"},
        headers={"auth": BUILDER.token()},
    )
    assert de.json()["status"] == "in-progress"
    # Polling the ended job again starts nothing more.
    status_json(http)
    assert faq_status(http, "published") == "success"


@pytest.mark.parametrize(
    ("script", "initiate"),
    [
        (PublishScript(running_polls=0), False),
        (PublishScript(running_polls=0, outcome="failed"), True),
    ],
)
def test_no_training_without_initiate_training_or_after_a_failure(
    kore: FakeKore, http: httpx.Client, script: PublishScript, initiate: bool
) -> None:
    kore.on_publish(BOT, script)
    publish(http, body={"versionComment": "v", "initiateTraining": initiate})
    status_json(http)
    assert faq_status(http, "published") == "success"
    assert kore.publish_posts[0].initiate_training is initiate


# -- counting and the rate limit ---------------------------------------------------------------


def test_publish_calls_are_counted_by_kind(kore: FakeKore, http: httpx.Client) -> None:
    kore.add_bot(OTHER_BOT)
    publish(http)
    publish(http, app=BUILDER)
    status(http)
    status(http, OTHER_BOT)
    faq_status(http, "configured")
    assert kore.count(BOT, kind="publish") == 2
    assert kore.count(BOT, kind="publish-status") == 1
    assert kore.count(kind="publish-status") == 2
    assert kore.count(training="publish", kind="any") == 4
    assert kore.count(BOT, kind="any") == 4
    assert kore.count(BOT) == 1  # "status": the training status calls only


def test_publish_calls_count_against_the_bots_rate_limit(clock: Clock) -> None:
    limited = FakeKore(
        CLIENT_ID, SECRET, bots=[BOT], clock=clock.time, rate_limit=(3, 100),
        admin_client_id=ADMIN_ID, admin_client_secret=ADMIN_SECRET,
    )  # fmt: skip
    with limited as kore, httpx.Client(base_url=kore.url, verify=NO_TLS) as client:
        assert publish(client).status_code == 200
        assert status(client).status_code == 200
        assert faq_status(client, "configured") == "success"
        over = [publish(client), status(client)]
        assert [r.status_code for r in over] == [429, 429]
        assert over[0].headers["retry-after"] == "60"
        assert kore.publish_posts[-1].http_status == 429
        faq = client.get(
            f"/api/public/bot/{BOT}/faqs/train/status",
            params={"language": "en"},
            headers={"auth": BUILDER.token()},
        )
        assert faq.status_code == 429
        clock.advance(61)
        assert status(client).status_code == 200
