"""The kinds' modules (korebot.kore.kinds): reading ML answers, and telling runs apart."""

from __future__ import annotations

from typing import Any

import pytest

from korebot.kore import TRAININGS, JobStatus, Kind, State, Status, UnreadableResponse, kinds
from korebot.kore.kinds import faq, ml
from korebot.testing.fake_ml import PARTS

IN_SYNC = {f"isMlInSyncWith{part}": True for part in PARTS}
FINISHED = {
    "trainingStatus": "Finished",
    **IN_SYNC,
    "trainDetails": {"nlpVersion": 3, "trainVersion": 7},
}


@pytest.mark.parametrize(
    ("raw", "status"),
    [
        ("Finished", Status.SUCCESS),
        ("Inprogress", Status.IN_PROGRESS),
        ("Failed", Status.FAILURE),
        ("inprogress", Status.IN_PROGRESS),
        ("Queued", Status.UNKNOWN),
        ("success", Status.UNKNOWN),  # the FAQ API's word is not the ML API's
        ("", Status.UNKNOWN),
    ],
)
def test_every_ml_status_is_read_and_unknown_ones_are_kept_verbatim(
    raw: str, status: Status
) -> None:
    result = ml.parse({"trainingStatus": raw, **IN_SYNC})
    assert (result.status, result.raw_status, result.kind) == (status, raw, Kind.ML)
    assert result.out_of_sync == ()
    assert (result.train_version, result.modified_on) == (None, None)


def test_a_finished_answer_has_its_versions() -> None:
    result = ml.parse(FINISHED)
    assert (result.status, result.nlp_version, result.train_version) == (Status.SUCCESS, 3, 7)
    assert result.out_of_sync == ()


def test_false_flags_are_the_parts_out_of_sync_and_only_false_counts() -> None:
    data: dict[str, Any] = {**FINISHED, "isMlInSyncWithSynonyms": False}
    data |= {
        "isMlInSyncWithPatterns": False,
        "isMlInSyncWithTraits": "false",
        "isMlInSyncWith": False,
    }
    data["isMlInSyncWithNewThing"] = False  # a part Kore.ai adds later is still reported
    result = ml.parse(data)
    assert result.out_of_sync == ("Synonyms", "Patterns", "NewThing")
    assert ml.part_names(result.out_of_sync) == ["synonyms", "patterns", "NewThing"]


@pytest.mark.parametrize(
    "details",
    [None, [], "3", {"trainVersion": "7"}, {"trainVersion": True}, {"trainVersion": -1}, {}],
)
def test_odd_train_details_are_no_version_not_a_crash(details: Any) -> None:
    result = ml.parse({"trainingStatus": "Finished", "trainDetails": details})
    assert (result.status, result.train_version) == (Status.SUCCESS, None)


@pytest.mark.parametrize(
    "data",
    [None, [], "Finished", {"status": "success"}, {"trainingStatus": 3}, {"trainingStatus": None}],
)
def test_an_answer_without_an_ml_status_is_unreadable(data: Any) -> None:
    with pytest.raises(UnreadableResponse, match="ML training status"):
        ml.parse(data)


def test_the_train_answer_is_queued_in_progress() -> None:
    result = ml.parse_train([{"message": "Training Queued.", "Training_ID": "5d1"}])
    assert (result.status, result.message, result.training_id) == (
        Status.IN_PROGRESS,
        "Training Queued.",
        "5d1",
    )
    with pytest.raises(UnreadableResponse):
        ml.parse_train([])


@pytest.mark.parametrize("kind", TRAININGS)
def test_what_is_stored_reads_back_the_same(kind: Kind) -> None:
    answer = (
        {**FINISHED, "isMlInSyncWithSynonyms": False}
        if kind is Kind.ML
        else {
            "status": "success",
            "message": "Success",
            "_id": "5d",
            "modifiedOn": "2024-05-01T17:30:00.000Z",
        }
    )
    result = JobStatus.from_json(answer, kind)
    assert JobStatus.from_json(result.as_json(), kind) == result
    assert JobStatus.placeholder(None, kind).status is Status.IN_PROGRESS
    assert JobStatus.placeholder(result.raw_status, kind).status is result.status


def test_each_kind_asks_its_own_api() -> None:
    bot = "st-1a2b3c4d-0000-5e6f-8a9b-0c1d2e3f4a5b"
    assert faq.status_request(bot, "en", State.PUBLISHED).path.endswith("/faqs/train/status")
    status = ml.status_request(bot, "de", State.PUBLISHED)
    assert (status.path, status.params) == (
        f"/api/public/bot/{bot}/ml/train/status",
        {"language": "de", "state": "published"},
    )
    train = ml.train_request(bot, "de")
    assert (train.method, train.json, train.headers) == ("POST", None, {"bot-language": "de"})
    assert {kinds.spec(kind).scope for kind in TRAININGS} == {"Train FAQ", "Train ML"}


def ml_run(status: str, version: int | None = None) -> str | None:
    data: dict[str, Any] = {"trainingStatus": status}
    if version is not None:
        data["trainDetails"] = {"trainVersion": version, "nlpVersion": 3}
    return ml.run_of(ml.parse(data))


@pytest.mark.parametrize(
    ("before", "now", "new"),
    [
        (ml_run("Finished", 3), ml_run("Finished", 3), False),
        (ml_run("Finished", 3), ml_run("Finished", 4), True),  # started and ended between polls
        (ml_run("Finished", 4), ml_run("Finished", 3), False),  # an older version: not a new run
        (ml_run("Finished", 3), ml_run("Failed"), True),
        (ml_run("Failed"), ml_run("Finished", 3), True),
        (ml_run("Failed"), ml_run("Failed"), False),  # nothing tells two failures apart
        (ml_run("Finished"), ml_run("Finished"), False),
        (ml_run("Finished"), ml_run("Finished", 2), False),
        (None, ml_run("Finished", 1), True),
    ],
)
def test_an_ml_run_is_told_by_its_final_status_and_train_version(
    before: str | None, now: str | None, new: bool
) -> None:
    assert ml.new_run(before, now) is new


def test_an_faq_run_is_told_by_its_modified_on_else_its_id() -> None:
    first = faq.parse({"status": "success", "_id": "a", "modifiedOn": "2024-05-01T17:30:00.000Z"})
    later = faq.parse({"status": "success", "_id": "a", "modifiedOn": "2024-05-01T18:30:00.000Z"})
    assert not faq.new_run(faq.run_of(first), faq.run_of(first))
    assert faq.new_run(faq.run_of(first), faq.run_of(later))
    assert faq.run_of(faq.parse({"status": "success", "_id": "a"})) == "a"
