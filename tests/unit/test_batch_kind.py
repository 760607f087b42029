"""The batch test kind as the engine follows it (korebot.kore.kinds.batch's ``Spec``), the
`/batch-test` grammar (korebot.slack.parsing.parse_batch) and its words
(korebot.slack.batch_messages): one function at a time, no app."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from korebot.kore import JobStatus, Kind, NotFound, State, Status, kinds
from korebot.kore.kinds import batch
from korebot.kore.kinds.batch import Bar, PastResult, Scores, Suite
from korebot.slack import batch_messages, parsing
from korebot.watch.types import Via, WatchView

COMPLETED = {
    "_id": "tr-74d9",
    "status": "completed",
    "utterance_count": 10,
    "result": {
        "_id": "tr-74d9",
        "isPartialFailure": False,
        "status": "completed",
        "botLanguage": "en",
        "runType": "inDevelopment",
        "startTime": "2023-06-26T12:07:38.405Z",
        "endTime": "2023-06-26T12:09:39.518Z",
        "f1_score": "0.87",
        "precision": "0.9",
        "recall": "0.85",
        "results": {"TP": 8, "TN": 1, "FP": 1, "FN": 0, "failedUtteranceCount": 1},
        "fileUrl": "https://host/report.csv?s=sig",
    },
}
BEFORE = PastResult("tx-1", "inDevelopment", "en", Scores(0.91, 0.93, 0.89), batch.Counts(), None)


def completed(previous: PastResult | None = BEFORE) -> JobStatus:
    return batch.as_status(batch.parse_status(COMPLETED), previous)


def watch(via: Via = Via.TRAIN) -> WatchView:
    moment = datetime(2026, 12, 7, tzinfo=UTC)
    return WatchView(
        1, via, "support", "st-1", "en", State.CONFIGURED, "T1", "C1", "C1", "1.0",
        ("U1", "U2"), moment, "running", None, Kind.BATCH, subject="Smoke tests",
    )  # fmt: skip


# -- the kind ----------------------------------------------------------------------------------


@pytest.mark.parametrize("previous", [BEFORE, None])
def test_what_is_stored_reads_back_the_same_with_the_run_to_compare_with(
    previous: PastResult | None,
) -> None:
    status = completed(previous)
    again = JobStatus.from_json(status.as_json(), Kind.BATCH)
    assert again.batch == status.batch
    assert again.status is Status.SUCCESS
    assert (again.previous.scores if again.previous else None) == (
        previous.scores if previous else None
    )
    assert kinds.spec(Kind.BATCH).label == "batch test"
    assert not Kind.BATCH.is_training
    with pytest.raises(ValueError, match="not a kind of training"):
        kinds.training(Kind.BATCH)


def test_a_run_is_followed_by_its_request_id_until_it_ends() -> None:
    started = batch.started(batch.BatchStart("tr-9", "accepted"), BEFORE)
    assert (started.status, batch.following(started)) == (Status.IN_PROGRESS, "tr-9")
    assert batch.following(completed()) is None  # over: the suite's list from now on
    assert batch.following(None) is None
    assert batch.run_of(started) == "run:tr-9"


def test_the_list_gives_the_last_completed_run_compared_with_the_one_before() -> None:
    older = PastResult("tx-1", "inDevelopment", None, Scores(0.8), batch.Counts(), None, 1)
    newer = PastResult("tx-2", "inDevelopment", None, Scores(0.9), batch.Counts(), None, 0)
    published = PastResult("tx-3", "published", None, Scores(0.5), batch.Counts(), None, 2)
    suites = [Suite("ts-1", "Smoke", "custom", None, (newer, older, published))]
    status = batch.latest(suites, "smoke", State.CONFIGURED, "en")
    assert status.batch is not None
    assert (status.batch.request_id, status.batch.listed) == ("tx-2", True)
    assert status.previous == older
    assert batch.run_of(status) == "list:tx-2"
    empty = batch.latest([Suite("ts-1", "Smoke", "custom", None)], "Smoke", State.CONFIGURED, "en")
    assert (empty.status, empty.raw_status) == (Status.UNKNOWN, batch.NO_RUNS)
    with pytest.raises(NotFound, match="no batch test suite called 'Gone'"):
        batch.latest(suites, "Gone", State.CONFIGURED, "en")


def test_the_first_listed_result_after_a_followed_run_is_that_run_not_a_new_one() -> None:
    assert not batch.new_run("run:tr-9", "list:tx-2")
    assert batch.new_run("list:tx-2", "list:tx-3")
    assert not batch.new_run("list:tx-3", "list:tx-3")
    assert batch.new_run(None, "list:tx-3")


# -- the grammar -------------------------------------------------------------------------------


CONF, PUB = State.CONFIGURED, State.PUBLISHED
RUN, HISTORY, SUBSCRIBE = parsing.RunSuite, parsing.SuiteHistory, parsing.SubscribeSuite


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", parsing.Help()),
        ("support en", parsing.Suites("support", "en")),
        ('Support en "Smoke tests"', RUN("support", "en", "Smoke tests", CONF)),
        ("support en smoke tests published", RUN("support", "en", "smoke tests", PUB)),
        ("support en \u201cSmoke\u201d published", RUN("support", "en", "Smoke", PUB)),
        ('support en "published"', RUN("support", "en", "published", CONF)),
        ("support en Bob's tests", RUN("support", "en", "Bob's tests", CONF)),
        ('history support en "A b"', HISTORY("support", "en", "A b", CONF)),
        ('subscribe support en "A b" published', SUBSCRIBE("support", "en", "A b", PUB)),
        ("list", parsing.ListWatches()),
        ("bots", parsing.ListBots()),
    ],
)
def test_the_batch_test_grammar(text: str, expected: parsing.BatchCommand) -> None:
    assert parsing.parse_batch(text) == expected


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("support", "Say which language"),
        ("subscribe support en", "Say which suite"),
        ('support en ""', "Give the name of a batch test suite"),
        ('support en "a\u0007b"', "control or invisible characters"),
        ('support en "a" "b"', "Put the suite's whole name in quotes"),
        ("support e$ smoke", "language"),
        ("support en " + "x" * 500, "at most 200 characters"),
        ("list all", "takes no arguments"),
    ],
)
def test_bad_batch_test_input_is_explained(text: str, reason: str) -> None:
    parsed = parsing.parse_batch(text)
    assert isinstance(parsed, parsing.Invalid)
    assert reason in parsed.reason


# -- the words ---------------------------------------------------------------------------------


def test_the_first_line_says_passed_or_which_bar_failed_and_by_how_much() -> None:
    verdict, line = batch_messages.headline(watch(), completed(), Bar(min_f1=0.8, max_drop=0.05))
    assert verdict is batch.Verdict.PASSED
    assert line.endswith("passed: F1 0.87, down 0.04 from 0.91")
    _, line = batch_messages.headline(watch(), completed(), Bar(min_f1=0.9))
    assert "failed: F1 0.87 is below the bar of 0.90 by 0.03" in line
    assert "dropped 0.04 from the previous run's 0.91, more than the 0.02 tolerated" in line
    failed = batch.as_status(batch.parse_status({"status": "cancelled"}), None)
    _, line = batch_messages.headline(watch(), failed, Bar())
    assert "did not complete: Kore.ai says `cancelled`" in line


def test_the_result_has_the_scores_counts_report_and_length() -> None:
    reply = batch_messages.final_reply(watch(), completed(), Bar(max_drop=0.05))
    assert reply.text.startswith(
        "<@U1> <@U2> :white_check_mark: batch test \u201cSmoke tests\u201d"
    )
    text = batch_messages.details(completed(), Bar())
    for part in ("F1 *0.87*", "precision 0.90", "recall 0.85", "TP 8", "FN 0", "1 failed utterance",
                 "previous run: F1 0.91", "took 2 min", "CSV report> (the link expires)",
                 "bar: no minimum F1"):  # fmt: skip
        assert part in text


def test_hostile_suite_names_are_inert_in_messages() -> None:
    hostile = replace_subject(watch(), "<!channel> *bold* " + "y" * 300)
    line = batch_messages.final_parent(hostile, completed(), Bar()).text
    assert "<!channel>" not in line
    assert "&lt;!channel&gt;" in line
    assert len(line) < 400


def replace_subject(view: WatchView, subject: str) -> WatchView:
    from dataclasses import replace

    return replace(view, subject=subject)


def test_the_f1_trend_is_a_sparkline_oldest_first() -> None:
    assert batch_messages.sparkline([0.8, 0.9, 1.0]) == "▁▅█"
    assert batch_messages.sparkline([0.9, 0.9]) == "▅▅"
    assert batch_messages.sparkline([]) == ""
