"""Batch tests without a network: suite names, requests, Kore.ai's answers read into typed
results (korebot.kore.kinds.batch), the previous run and the verdict against the bar."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import httpx
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from korebot import config
from korebot.kore import InvalidInput, State, Status, UnreadableResponse
from korebot.kore.kinds import batch
from korebot.kore.kinds.batch import Bar, BatchRun, Counts, PastResult, Scores, Verdict

BOT = "st-1a2b3c4d-0000-5e6f-8a9b-0c1d2e3f4a5b"
# What Kore.ai documents (kore-api.md, "Batch tests"), trimmed of its ellipses.
RUNNING = {
    "_id": "tr-74d9",
    "streamId": BOT,
    "testSuiteId": "ts-cf30",
    "status": "running",
    "utterance_count": 10,
    "totalUtterances": 10,
    "utterance_ran": 5,
    "percentage": 50,
    "result": {
        "_id": "tr-74d9",
        "isPartialFailure": False,
        "status": "running",
        "testSuiteId": "ts-cf30",
        "triggeredBy": "u-b6cd",
        "botLanguage": "en",
        "runType": "inDevelopment",
        "utterance_count": 10,
        "startTime": "2023-06-26T12:07:38.405Z",
        "__v": 0,
    },
}
COMPLETED = {
    "_id": "tr-74d9",
    "streamId": BOT,
    "testSuiteId": "ts-cf30",
    "status": "completed",
    "utterance_count": 10,
    "result": {
        "_id": "tr-74d9",
        "isPartialFailure": False,
        "status": "completed",
        "isAvailable": True,
        "testSuiteId": "ts-cf30",
        "triggeredBy": "u-b6cd",
        "botLanguage": "en",
        "runType": "inDevelopment",
        "utterance_count": 10,
        "startTime": "2023-06-26T12:07:38.405Z",
        "endTime": "2023-06-26T12:09:39.518Z",
        "f1_score": "0.91",
        "precision": "0.93",
        "recall": "0.89",
        "fileId": "6499",
        "results": {
            "TP": 8,
            "TN": 1,
            "FP": 1,
            "FN": 0,
            "success": 9,
            "failure": 1,
            "failedUtteranceCount": 1,
            "failedEntitiesCount": 0,
        },
        "fileUrl": "https://platform.kore.ai/api/getMediaStream/media/f-1.csv?e=1&n=2&s=3",
    },
}
SUITES = {
    "count": 3,
    "moreAvailable": False,
    "ts-cf30": {
        "testSuiteType": "custom",
        "name": "smoke tests",
        "description": "the basics",
        "results": [
            {"_id": "tx-1", "version": "inDevelopment", "f1_score": "0.91", "precision": "0.93"},
            {"_id": "tx-2", "version": "published", "f1_score": "0.80"},
            {"_id": "tx-3", "version": "inDevelopment"},
        ],
    },
    "Last100sentences": {"testSuiteType": "prebuilt", "name": "Last100sentences", "results": []},
    "AllMlUtterances": {"testSuiteType": "prebuilt", "name": "AllMlUtterances"},
}


def run(status: str = "completed", f1: float | None = 0.87, partial: bool = False) -> BatchRun:
    return BatchRun(
        request_id="tr-1",
        status=batch.status_of(status),
        raw_status=status,
        partial_failure=partial,
        scores=Scores(f1, 0.9, 0.85),
        counts=Counts(),
        report_url=None,
        run_type="inDevelopment",
        language="en",
        started_at=None,
        ended_at=None,
    )


def past(f1: float | None, version: str = "inDevelopment", **extra: Any) -> PastResult:
    fields: dict[str, Any] = {"id": None, "language": None, "at": None} | extra
    return PastResult(run_type=version, scores=Scores(f1), counts=Counts(), **fields)


# -- statuses ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "status"),
    [
        ("running", Status.IN_PROGRESS),
        ("completed", Status.SUCCESS),
        (" Completed ", Status.SUCCESS),
        ("failed", Status.FAILURE),
        ("FAILURE", Status.FAILURE),
        ("error", Status.FAILURE),
        ("Cancelled", Status.FAILURE),
        ("canceled", Status.FAILURE),
        ("aborted", Status.FAILURE),
        ("queued", Status.UNKNOWN),
        ("", Status.UNKNOWN),
        ("paused", Status.UNKNOWN),
    ],
)
def test_each_status_maps_to_korebots_and_is_kept_verbatim(raw: str, status: Status) -> None:
    assert batch.status_of(raw) is status
    if raw.strip():
        parsed = batch.parse_status({"status": raw})
        assert (parsed.status, parsed.raw_status) == (status, raw)


# -- the status answer --------------------------------------------------------------------


def test_a_running_answer_has_its_progress() -> None:
    parsed = batch.parse_status(RUNNING)
    assert parsed.status is Status.IN_PROGRESS
    assert parsed.request_id == "tr-74d9"
    assert (parsed.counts.ran, parsed.counts.utterances, parsed.counts.percentage) == (5, 10, 50.0)
    assert parsed.scores == Scores()
    assert parsed.state is State.CONFIGURED
    assert parsed.language == "en"
    assert parsed.started_at == datetime(2023, 6, 26, 12, 7, 38, 405000, tzinfo=UTC)
    assert parsed.ended_at is None
    assert parsed.duration is None


def test_a_completed_answer_has_float_scores_counts_and_the_report() -> None:
    parsed = batch.parse_status(COMPLETED)
    assert parsed.status is Status.SUCCESS
    assert parsed.description == "completed"
    assert parsed.scores == Scores(0.91, 0.93, 0.89)
    assert all(isinstance(v, float) for v in parsed.scores.as_dict().values())
    counts = parsed.counts
    assert (counts.tp, counts.tn, counts.fp, counts.fn) == (8, 1, 1, 0)
    assert counts.failed_utterances == 1
    assert counts.utterances == 10
    assert parsed.report_url == COMPLETED["result"]["fileUrl"]  # type: ignore[index]
    assert parsed.run_type == "inDevelopment"
    assert parsed.duration == pytest.approx(121.113)
    data = parsed.as_dict()
    assert data["scores"] == {"f1": 0.91, "precision": 0.93, "recall": 0.89}
    assert data["duration_seconds"] == pytest.approx(121.113)


def test_a_partial_failure_is_a_success_with_a_warning() -> None:
    document = {**COMPLETED, "result": {**COMPLETED["result"], "isPartialFailure": True}}  # type: ignore[dict-item]
    parsed = batch.parse_status(document)
    assert parsed.status is Status.SUCCESS
    assert parsed.partial_failure
    assert "warning" in parsed.description
    judged = batch.judge(parsed, None, Bar())
    assert judged.verdict is Verdict.PASSED
    assert judged.warnings


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("0.91", 0.91),
        (0.91, 0.91),
        (1, 1.0),
        ("1.00", 1.0),
        (" 0.5 ", 0.5),
        (None, None),
        ("", None),
        ("n/a", None),
        ("1.5", None),
        (-0.1, None),
        (True, None),
        ("nan", None),
        (float("inf"), None),
        ([0.9], None),
    ],
)
def test_scores_are_read_from_strings_or_numbers_and_nonsense_is_none(
    value: object, expected: float | None
) -> None:
    document = {"status": "completed", "result": {"f1_score": value}}
    assert batch.parse_status(document).scores.f1 == expected


def test_missing_parts_are_none_not_a_crash() -> None:
    parsed = batch.parse_status({"status": "completed", "result": {"results": "nope"}})
    assert parsed.counts == Counts()
    assert parsed.report_url is None
    assert parsed.state is None
    assert parsed.request_id == ""
    assert batch.parse_status({"status": "completed"}, "tr-given").request_id == "tr-given"


@pytest.mark.parametrize("document", [None, [], "completed", {}, {"status": 3}, {"result": {}}])
def test_an_answer_without_a_status_is_unreadable(document: object) -> None:
    with pytest.raises(UnreadableResponse):
        batch.parse_status(document)


def test_the_status_may_be_only_in_the_result() -> None:
    assert batch.parse_status({"result": {"status": "running"}}).status is Status.IN_PROGRESS


def test_the_run_answer_gives_the_request_id() -> None:
    started = batch.parse_start({"status": "accepted", "requestId": "tr-9"})
    assert (started.request_id, started.raw_status) == ("tr-9", "accepted")
    for bad in ({"status": "accepted"}, [], {"requestId": ""}, None):
        with pytest.raises(UnreadableResponse):
            batch.parse_start(bad)


# -- the suites list ------------------------------------------------------------------------


def test_the_suites_list_has_each_suite_and_its_past_results() -> None:
    page = batch.parse_suites(SUITES)
    assert (page.count, page.more) == (3, False)
    names = [suite.name for suite in page.suites]
    assert names == ["smoke tests", "Last100sentences", "AllMlUtterances"]
    smoke = page.suites[0]
    assert (smoke.key, smoke.type, smoke.description) == ("ts-cf30", "custom", "the basics")
    assert [r.scores.f1 for r in smoke.results] == [0.91, 0.80, None]
    assert [r.state for r in smoke.results] == [State.CONFIGURED, State.PUBLISHED, State.CONFIGURED]
    assert page.suites[1].type == "prebuilt"
    assert page.suites[2].results == ()
    with pytest.raises(UnreadableResponse):
        batch.parse_suites([])


def test_a_suite_is_found_by_name_then_key_then_alone_ignoring_case() -> None:
    suites = batch.parse_suites(SUITES).suites
    found = batch.find(suites, "smoke tests")
    assert found is not None
    assert found.key == "ts-cf30"
    assert batch.find(suites, "ts-cf30") == found
    assert batch.find(suites, "SMOKE TESTS") == found
    assert batch.find(suites, "smoke") is None
    twins = [replace(found, name="A"), replace(found, name="a", key="ts-2")]
    assert batch.find(twins, "a") == twins[1]
    assert batch.find(twins, "A") == twins[0]


def test_the_previous_run_is_the_latest_completed_of_the_version_and_language() -> None:
    old = datetime(2026, 1, 1, tzinfo=UTC)
    new = datetime(2026, 2, 1, tzinfo=UTC)
    suite = batch.Suite(
        "ts-1",
        "smoke",
        "custom",
        None,
        (
            past(None),  # unfinished or failed: no scores
            past(0.99, "published"),
            past(0.70, language="de", at=new),
            past(0.80, at=old, id="tx-old"),
            past(0.85, language="EN", at=new, id="tx-new"),
        ),
    )
    latest = suite.previous(State.CONFIGURED, "en")
    assert latest is not None
    assert latest.id == "tx-new"
    earlier = suite.previous(State.CONFIGURED, "en", not_id="tx-new")
    assert earlier is not None
    assert earlier.id == "tx-old"
    published = suite.previous(State.PUBLISHED, "en")
    assert published is not None
    assert published.scores.f1 == 0.99
    assert suite.previous(State.PUBLISHED, "de") is not None  # no language said: any
    undated = batch.Suite("k", "n", None, None, (past(0.5, id="a"), past(0.6, id="b")))
    first = undated.previous(State.CONFIGURED, "en")
    assert first is not None
    assert first.id == "a"
    assert batch.Suite("k", "n", None, None, ()).previous(State.CONFIGURED, "en") is None


# -- the verdict ----------------------------------------------------------------------------


def test_a_run_above_the_bar_and_within_the_drop_passes() -> None:
    judged = batch.judge(run(f1=0.90), past(0.91), Bar(min_f1=0.85, max_drop=0.02))
    assert judged.verdict is Verdict.PASSED
    assert judged.reasons == ()
    assert judged.change == pytest.approx(-0.01)


def test_below_the_bar_fails_saying_by_how_much() -> None:
    judged = batch.judge(run(f1=0.80), None, Bar(min_f1=0.85))
    assert judged.verdict is Verdict.FAILED
    assert judged.reasons == ("F1 0.80 is below the bar of 0.85 by 0.05",)


def test_a_drop_past_the_tolerance_fails_saying_by_how_much() -> None:
    judged = batch.judge(run(f1=0.87), past(0.91), Bar(max_drop=0.02))
    assert judged.verdict is Verdict.FAILED
    assert len(judged.reasons) == 1
    assert "dropped 0.04" in judged.reasons[0]
    assert "0.91" in judged.reasons[0]
    assert "0.02 tolerated" in judged.reasons[0]


def test_both_reasons_are_given_when_both_fail() -> None:
    judged = batch.judge(run(f1=0.70), past(0.91), Bar(min_f1=0.85))
    assert judged.verdict is Verdict.FAILED
    assert len(judged.reasons) == 2


@pytest.mark.parametrize(("before", "now"), [(0.91, 0.89), (0.3, 0.28), (0.57, 0.55)])
def test_a_drop_of_exactly_the_tolerance_passes_despite_float_rounding(
    before: float, now: float
) -> None:
    assert batch.judge(run(f1=now), past(before), Bar(max_drop=0.02)).verdict is Verdict.PASSED


def test_exactly_the_bar_passes() -> None:
    assert batch.judge(run(f1=0.85), None, Bar(min_f1=0.85)).verdict is Verdict.PASSED


def test_without_a_previous_run_only_the_bar_counts() -> None:
    judged = batch.judge(run(f1=0.10), None, Bar())
    assert (judged.verdict, judged.change) == (Verdict.PASSED, None)


def test_no_f1_fails_only_a_bar() -> None:
    assert batch.judge(run(f1=None), past(0.9), Bar()).verdict is Verdict.PASSED
    judged = batch.judge(run(f1=None), past(0.9), Bar(min_f1=0.5))
    assert judged.verdict is Verdict.FAILED
    assert "no F1" in judged.reasons[0]


def test_a_failed_run_fails_and_running_or_unknown_are_no_verdict() -> None:
    failed = batch.judge(run("failed", f1=None), past(0.9), Bar())
    assert failed.verdict is Verdict.FAILED
    assert "'failed'" in failed.reasons[0]
    assert batch.judge(run("running"), None, Bar()).verdict is Verdict.RUNNING
    assert batch.judge(run("queued"), None, Bar()).verdict is Verdict.UNKNOWN


def test_the_change_in_words() -> None:
    assert batch.change_words(-0.04, 0.91) == "down 0.04 from 0.91"
    assert batch.change_words(0.02, 0.89) == "up 0.02 from 0.89"
    assert batch.change_words(0.0, 0.91) == "same as 0.91"
    assert batch.change_words(None, 0.91) == ""


# -- suite names and requests -------------------------------------------------------------


def test_the_run_request_carries_the_version_the_language_and_one_encoded_segment() -> None:
    request = batch.run_request(BOT, "de", "smoke tests/v2?x#y", State.PUBLISHED)
    assert request.method == "POST"
    assert request.path == f"/api/public/bot/{BOT}/testsuite/smoke%20tests%2Fv2%3Fx%23y/run"
    assert request.json == {"version": "published"}
    assert request.headers == {"bot-language": "de"}
    configured = batch.run_request(BOT, "en", "s", State.CONFIGURED)
    assert configured.json == {"version": "inDevelopment"}
    status = batch.status_request(BOT, "en", "a b", "tr-1")
    assert status.path == f"/api/public/bot/{BOT}/testsuite/a%20b/tr-1/status"
    listing = batch.suites_request(BOT, "en", skip=50)
    assert listing.params == {"skip": "50", "limit": "50"}
    assert listing.headers == {"bot-language": "en"}


@pytest.mark.parametrize(
    "name",
    [
        "",
        "   ",
        "x" * 201,
        "a\nb",
        "tab\there",
        "nul\x00",
        "esc\x1b[31m",
        "bidi\u202eevil",
        "zero\u200bwidth",
        "lone\udcff",
    ],
)
def test_bad_suite_names_are_refused_before_any_request(name: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        batch.run_request(BOT, "en", name, State.CONFIGURED)
    message = str(caught.value)
    assert message.isprintable()
    assert len(message) < 300


def test_request_ids_that_could_steer_the_path_are_refused() -> None:
    for bad in ("", "../x", "tr 1", "tr/1", "a?b", "x" * 101):
        with pytest.raises(InvalidInput):
            batch.status_request(BOT, "en", "s", bad)


_UNRESERVED_OR_ESCAPE = re.compile(r"(?:[A-Za-z0-9_.~-]|%[0-9A-F]{2})+")


@given(st.text(min_size=1, max_size=batch.MAX_SUITE_NAME))
@example("..")
@example(".")
@example("a/../b")
@example("100% ?#&=+")
@example("смоук тесты")
def test_any_accepted_name_is_one_segment_that_decodes_back(name: str) -> None:
    try:
        segment = batch.segment(name)
    except InvalidInput:
        assert not name.strip() or any(not (ch == " " or ch.isprintable()) for ch in name)
        return
    assert _UNRESERVED_OR_ESCAPE.fullmatch(segment), segment
    assert segment not in (".", "..")
    assert unquote(segment, errors="strict") == name
    # httpx sends the path as built: nothing normalised away or re-encoded.
    path = f"/api/public/bot/{BOT}/testsuite/{segment}/run"
    url = httpx.URL("http://127.0.0.1:9" + path)
    assert url.raw_path.decode() == path


@given(st.text(min_size=batch.MAX_SUITE_NAME + 1, max_size=batch.MAX_SUITE_NAME + 50))
def test_names_past_the_limit_are_refused(name: str) -> None:
    with pytest.raises(InvalidInput):
        batch.suite_name(name)


# -- the bar's configuration ------------------------------------------------------------------


def test_the_bar_is_the_bots_own_else_the_environments(tmp_path: Path) -> None:
    toml = tmp_path / "bots.toml"
    toml.write_text(
        f'[bots.strict]\nid = "{BOT}"\nmin_f1 = 0.9\n'
        '[bots.loose]\nid = "st-00000000-1111-2222-3333-444444444444"\nmax_f1_drop = 0.2\n'
    )
    env = {"KORE_CLIENT_ID": "cs-1", "KORE_CLIENT_SECRET": "s", "KOREBOT_CONFIG": str(toml)}
    loaded = config.load(env)
    strict, loose = (loaded.registry.resolve(name) for name in ("strict", "loose"))
    assert loaded.bar(strict) == batch.Bar(0.9, 0.02)
    assert loaded.bar(loose) == batch.Bar(None, 0.2)
    loaded = config.load(env | {"KOREBOT_MIN_F1": "0.8", "KOREBOT_MAX_F1_DROP": "0.05"})
    assert loaded.bar(loaded.registry.resolve("strict")) == batch.Bar(0.9, 0.05)
    assert loaded.bar(loaded.registry.resolve("loose")) == batch.Bar(0.8, 0.2)


def test_a_bar_outside_0_to_1_is_a_configuration_error(tmp_path: Path) -> None:
    toml = tmp_path / "bots.toml"
    toml.write_text(f'[bots.strict]\nid = "{BOT}"\nmin_f1 = 1.5\n')
    env = {"KORE_CLIENT_ID": "cs-1", "KORE_CLIENT_SECRET": "s", "KOREBOT_MIN_F1": "high"}
    with pytest.raises(config.ConfigError) as caught:
        config.load(env | {"KOREBOT_MAX_F1_DROP": "-1", "KOREBOT_CONFIG": str(toml)})
    problems = caught.value.problems
    assert any(p.startswith("KOREBOT_MIN_F1") for p in problems)
    assert any(p.startswith("KOREBOT_MAX_F1_DROP") for p in problems)
    assert any("bots.strict.min_f1" in p for p in problems)
