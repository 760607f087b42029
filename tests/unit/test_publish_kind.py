"""The publish kind (korebot.kore.kinds.publish) and `/publish-status`'s grammar and
words: one function at a time, no app."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from korebot.kore import InvalidInput, JobStatus, Kind, Status, UnreadableResponse
from korebot.kore.kinds import publish
from korebot.slack import parsing, publish_messages

POSTED = [
    {
        "resourceType": "dialog",
        "resourceId": "dg-1",
        "status": "SUCCESS",
        "result": {"state": "awaitingApproval", "approvalRequestedLanguages": ["en", "de"],
                   "name": "mortgage"},
    },
    {"resourceType": "NL", "status": "SUCCESS", "result": {"name": "Natural Language"}},
    {"resourceType": "SETTINGS", "status": "SUCCESS", "result": {"name": "Settings"}},
]  # fmt: skip
LATEST = {
    "_id": "ds-4a1b",
    "createdBy": "u-adb7",
    "percentageComplete": 40,
    "requestedTime": "2022-07-29T08:04:48.731Z",
    "status": "failed",
    "lastModifiedOn": "2022-07-29T08:04:50.083Z",
    "statusSummary": [
        {"resourceType": "SETTINGS", "name": "Settings", "status": "SUCCESS"},
        {"resourceType": "NL", "name": "Natural Language", "status": "FAILED"},
    ],
}  # fmt: skip


def test_the_post_answer_names_the_dialogs_awaiting_approval() -> None:
    started = publish.parse_start(POSTED)
    assert [r.name for r in started.resources] == ["mortgage", "Natural Language", "Settings"]
    assert started.awaiting == (publish.Approval("mortgage", ("en", "de")),)
    with pytest.raises(UnreadableResponse):
        publish.parse_start({"status": "accepted"})


def test_the_status_answer_reads_back_the_same_with_what_korebot_posted() -> None:
    job = publish.parse_publish(LATEST)
    assert (job.job_id, job.percent, job.created_by) == ("ds-4a1b", 40, "u-adb7")
    assert [r.name for r in job.failed_resources] == ["Natural Language"]
    status = publish.as_status(job)
    assert (status.kind, status.status) == (Kind.PUBLISH, Status.FAILURE)
    mine = publish.as_status(
        publish.following(job, publish.as_status(_with(job, comment="Release 4.2")))
    )
    assert JobStatus.from_json(mine.as_json(), Kind.PUBLISH) == mine
    assert mine.publish is not None
    assert mine.publish.comment == "Release 4.2"
    other = publish.parse_publish({**LATEST, "_id": "ds-other"})
    assert publish.following(other, mine).comment is None  # another job: nothing carried


def _with(job: publish.Publish, **changes: object) -> publish.Publish:
    from dataclasses import replace

    return replace(job, **changes)  # type: ignore[arg-type]


def test_a_job_is_told_apart_by_its_id_and_request_time_and_korebots_by_its_post() -> None:
    job = publish.parse_publish(LATEST)
    assert publish.run_of(publish.as_status(job)) == "ds-4a1b|2022-07-29T08:04:48.731000+00:00"
    posted = datetime(2022, 7, 29, 8, 4, 48, tzinfo=UTC)
    assert publish.ours(job, posted)
    assert not publish.ours(job, posted + timedelta(seconds=1))
    never = publish.parse_publish({})
    assert (never.raw_status, publish.status_of(never.raw_status)) == (
        publish.NEVER,
        Status.UNKNOWN,
    )


@pytest.mark.parametrize(
    ("raw", "status"),
    [("successful", Status.SUCCESS), ("inprogress", Status.IN_PROGRESS),
     ("failed", Status.FAILURE), ("queued", Status.UNKNOWN)],
)  # fmt: skip
def test_statuses(raw: str, status: Status) -> None:
    assert publish.status_of(raw) is status


def test_a_version_comment_is_checked_before_any_request() -> None:
    assert publish.version_comment("  Release   4.2 ") == "Release 4.2"
    for bad in ("", "x" * 501, "a\u0000b"):
        with pytest.raises(InvalidInput):
            publish.version_comment(bad)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("support", parsing.PublishStatus("support")),
        ('publish Support "Release 4.2"', parsing.Publish("support", "Release 4.2")),
        ("publish support", parsing.Publish("support", None)),
        ("history support", parsing.PublishHistory("support")),
        ("subscribe support", parsing.SubscribePublishes("support")),
        ("release Support EN", parsing.Release("support", "en", "")),
        ('release support en "Smoke tests"', parsing.Release("support", "en", "Smoke tests")),
        ("release support en smoke  tests", parsing.Release("support", "en", "smoke tests")),
        ("", parsing.Help()),
    ],
)
def test_the_publish_status_grammar(text: str, expected: parsing.PublishCommand) -> None:
    assert parsing.parse_publish(text) == expected


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("release", "Say which bot and language"),
        ("release support", "Say which bot and language"),
        ('release support en "smoke" tests', "Put the suite's whole name in quotes"),
        ("release support english", "language"),
    ],
)
def test_a_release_asked_wrongly_says_how(text: str, says: str) -> None:
    invalid = parsing.parse_publish(text)
    assert isinstance(invalid, parsing.Invalid)
    assert says in invalid.reason


def test_a_failed_publish_says_which_resources_failed_and_approvals_what_unblocks_them() -> None:
    job = _with(publish.parse_publish(LATEST), awaiting=(publish.Approval("mortgage", ("en",)),))
    line = publish_messages.headline("publish of support", publish.as_status(job))
    assert line == ":x: publish of support failed: Natural Language failed"
    about = publish_messages.details(job)
    assert "awaiting approval: mortgage (en)" in about
    assert "Auto Approve" in about
    assert "Natural Language :x: FAILED" in about


def test_korebots_publish_is_done_once_its_published_trainings_are() -> None:
    posted = datetime(2022, 7, 29, 8, 4, 40, tzinfo=UTC)
    mine = _with(
        publish.parse_publish({**LATEST, "status": "successful"}),
        posted_at=posted,
        languages=("en",),
    )
    assert publish.as_status(mine).status is Status.IN_PROGRESS  # trainings not read yet
    assert publish.calls(publish.as_status(mine)) == 3  # the status, FAQ en, ML en
    answers = {"faq": "in-progress", "ml": "Inprogress"}

    def read(kind: Kind, language: str) -> JobStatus:
        return JobStatus.placeholder(answers[kind.value], kind)

    mine = publish.trained(mine, read)
    assert publish.as_status(mine).status is Status.IN_PROGRESS
    answers.update(faq="success", ml="Failed")
    mine = publish.trained(mine, read)
    status = publish.as_status(mine)
    assert status.status is Status.FAILURE
    assert publish.calls(status) == 1  # both done: only the status
    line = publish_messages.headline("publish of support", status, "support")
    assert line == (
        ":x: publish of support successful, but the published version's ML training (en) "
        "failed: support is not live"
    )
    # Kept across polls, found again by its POST's time before korebot knew its job ID.
    unseen = _with(mine, job_id=None)
    again = publish.following(
        publish.parse_publish({**LATEST, "status": "successful"}), (publish.as_status(unseen))
    )
    assert again.trainings == mine.trainings
    assert JobStatus.from_json(status.as_json(), Kind.PUBLISH) == status


def test_a_training_never_seen_running_counts_as_done_after_two_final_answers() -> None:
    training = publish.Published("faq", "en", "", Status.UNKNOWN)
    once = training.seen(Status.SUCCESS, "success")
    assert not once.done
    assert once.seen(Status.SUCCESS, "success").done
    assert training.seen(Status.IN_PROGRESS, "in-progress").seen(Status.SUCCESS, "success").done


def test_the_job_seen_before_korebots_post_is_never_taken_for_its_own() -> None:
    posted = datetime(2022, 7, 29, 8, 4, 40, tzinfo=UTC)
    old = publish.parse_publish(LATEST)  # requested 8 s after "posted": within any skew
    waiting = publish.Publish(None, "inprogress", None, None, None, None, None, ())
    mine = _with(waiting, posted_at=posted, comment="Release", replaces=old.job_id)
    assert publish.following(old, publish.as_status(mine)).comment is None
    new = publish.parse_publish({**LATEST, "_id": "ds-new"})
    assert publish.following(new, publish.as_status(mine)).comment == "Release"
    assert JobStatus.from_json(publish.as_status(mine).as_json(), Kind.PUBLISH) == (
        publish.as_status(mine)
    )
