"""Batch tests: run a test suite of a bot, read the run's status, list the bot's suites.

A batch test run is a kind of Kore.ai job (``Kind.BATCH``) but not a training: this
module implements the kinds' ``Spec`` (reading, keeping and telling runs apart), not
``Training``. It holds the requests, the parsing of the answers into frozen, typed
results, the run's identity and the verdict against a bar. ``KoreClient`` sends the
requests (``run_batch_test``, ``batch_test_status``, ``batch_test_suites``, and
``job_status`` for the engine's polls).

A suite's target (``JobKey`` with the suite's name as its subject) is polled by the
run's request ID while korebot follows a run it knows (``following``), and otherwise
through the suite's list of past results (``latest``): that is how a subscription sees
runs started elsewhere. A run's identity is ``run:{requestId}`` or ``list:{_id}``; the
list names past runs by another ID than the status call, so the first listed result
after a run korebot followed to its end is taken as that run (``new_run``).

Kore.ai's API (App Builder scopes "Batch Tests Execution" for run and status, "Batch
Tests Management" for the list; every request carries a ``bot-language`` header):

- ``POST …/testsuite/{suite}/run`` with ``{"version": "inDevelopment"|"published"}``
  answers ``{"status": "accepted", "requestId": "tr-…"}``. Not idempotent.
- ``GET …/testsuite/{suite}/{requestId}/status``: ``status`` ``running`` or
  ``completed`` (failed or cancelled runs exist, their strings are unverified), with
  ``result`` holding the scores as strings ("0.91"), TP/TN/FP/FN and the report link.
- ``GET …/testsuite?skip=0&limit=50``: ``count``, ``moreAvailable`` and one key per suite
  with its past ``results``.

The suite's name is one URL path segment: everything but unreserved characters is
percent-encoded (``/``, ``?``, ``#``, ``%`` and spaces included), and ``.``/``..`` too.
"""

from __future__ import annotations

import enum
import math
import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any
from urllib.parse import quote

from korebot.kore import validation
from korebot.kore.errors import InvalidInput, NotFound, UnreadableResponse
from korebot.kore.kinds.protocol import Request, one_call
from korebot.kore.models import (
    JobStatus,
    Kind,
    State,
    Status,
    describe,
    optional_str,
    parse_time,
)
from korebot.kore.validation import shown

label = "batch test"
#: Scopes of the JWT app: running a suite and reading a run's status; listing suites.
scope = "Batch Tests Execution"
admin_scope = "Batch Tests Execution"
manage_scope = "Batch Tests Management"
#: The key of a run's status answer (``Spec``).
status_field = "status"
admin_app = False

#: The longest suite name accepted (Kore.ai's own limit is not documented).
MAX_SUITE_NAME = 200
#: Suites asked for per page of the list.
PAGE = 50
#: Kore.ai's ``version`` (and ``runType``) for each state of the bot.
VERSIONS = {State.CONFIGURED: "inDevelopment", State.PUBLISHED: "published"}
_FAILED = re.compile(r"fail|error|cancel|abort", re.IGNORECASE)


# -- the suite's name --------------------------------------------------------------------


def suite_name(value: str) -> str:
    """Return the suite name as given, or raise InvalidInput (checked before any request).

    Non-empty, at most ``MAX_SUITE_NAME`` characters, and no control or invisible
    characters (ordinary spaces are fine: names like "smoke tests" are common).
    """
    if not isinstance(value, str) or not value.strip():
        raise InvalidInput(
            "Give the name of a batch test suite (Kore.ai: Testing > Batch Testing)."
        )
    if len(value) > MAX_SUITE_NAME:
        raise InvalidInput(
            f"A batch test suite name has at most {MAX_SUITE_NAME} characters; "
            f"{shown(value)} has {len(value)}."
        )
    bad = [ch for ch in value if not (ch == " " or ch.isprintable())]
    if bad:
        names = sorted({unicodedata.name(ch, f"U+{ord(ch):04X}") for ch in bad})
        raise InvalidInput(
            f"{shown(value)} is not a batch test suite name: it holds control or invisible "
            f"characters ({', '.join(names[:3])})."
        )
    return value


def segment(name: str) -> str:
    """The suite's name as one URL path segment (validated first)."""
    encoded = quote(suite_name(name), safe="")
    # "." and ".." would be dot segments, which URL normalisation removes.
    return encoded.replace(".", "%2E") if set(encoded) == {"."} else encoded


def version(state: State | str) -> str:
    """Kore.ai's ``version`` for a state ("configured" → "inDevelopment")."""
    return VERSIONS[validation.state(state)]


# -- requests ----------------------------------------------------------------------------


def _base(bot_id: str) -> str:
    return f"/api/public/bot/{quote(bot_id, safe='')}/testsuite"


def run_request(bot_id: str, language: str, suite: str, state: State) -> Request:
    return Request(
        "POST",
        f"{_base(bot_id)}/{segment(suite)}/run",
        json={"version": VERSIONS[state]},
        headers={"bot-language": language},
    )


def status_request(bot_id: str, language: str, suite: str, request_id: str) -> Request:
    return Request(
        "GET",
        f"{_base(bot_id)}/{segment(suite)}/{quote(run_id(request_id), safe='')}/status",
        headers={"bot-language": language},
    )


def suites_request(bot_id: str, language: str, skip: int = 0) -> Request:
    return Request(
        "GET",
        _base(bot_id),
        params={"skip": str(skip), "limit": str(PAGE)},
        headers={"bot-language": language},
    )


def run_id(value: str) -> str:
    """A run's request ID as Kore.ai gave it (``tr-…``), or InvalidInput."""
    if not isinstance(value, str) or not re.fullmatch(r"[A-Za-z0-9_.:-]{1,100}", value):
        raise InvalidInput(f"{shown(str(value))} is not a batch test request ID (like tr-…).")
    return value


# -- results -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Scores:
    """F1, precision and recall, as floats (Kore.ai sends strings such as "0.91")."""

    f1: float | None = None
    precision: float | None = None
    recall: float | None = None

    @classmethod
    def of(cls, data: Mapping[str, Any]) -> Scores:
        return cls(
            _score(data.get("f1_score")), _score(data.get("precision")), _score(data.get("recall"))
        )

    @property
    def known(self) -> bool:
        return self.f1 is not None

    def as_dict(self) -> dict[str, float | None]:
        return {"f1": self.f1, "precision": self.precision, "recall": self.recall}


@dataclass(frozen=True)
class Counts:
    """What the run's utterances came to: TP/TN/FP/FN, failures, how many ran."""

    tp: int | None = None
    tn: int | None = None
    fp: int | None = None
    fn: int | None = None
    failed_utterances: int | None = None
    utterances: int | None = None
    ran: int | None = None
    percentage: float | None = None

    def as_dict(self) -> dict[str, int | float | None]:
        return {
            "tp": self.tp,
            "tn": self.tn,
            "fp": self.fp,
            "fn": self.fn,
            "failed_utterances": self.failed_utterances,
            "utterances": self.utterances,
            "ran": self.ran,
            "percentage": self.percentage,
        }


@dataclass(frozen=True)
class BatchStart:
    """The answer to the run POST: the run's identity is its request ID."""

    request_id: str
    raw_status: str


@dataclass(frozen=True)
class BatchRun:
    """One answer of the run status API."""

    request_id: str
    status: Status
    raw_status: str
    partial_failure: bool
    scores: Scores
    counts: Counts
    report_url: str | None
    run_type: str | None
    language: str | None
    started_at: datetime | None
    ended_at: datetime | None
    #: Read from the suite's list of past results (``latest``), not the run's status call.
    listed: bool = False

    @property
    def state(self) -> State | None:
        """The bot's version tested (``runType``), when Kore.ai said it."""
        return _state_of(self.run_type)

    @property
    def duration(self) -> float | None:
        if self.started_at is None or self.ended_at is None:
            return None
        return max(0.0, (self.ended_at - self.started_at).total_seconds())

    @property
    def description(self) -> str:
        """What korebot makes of the status, in words (the raw one is kept beside it)."""
        if self.status is Status.SUCCESS:
            if self.partial_failure:
                return "completed with warning: Kore.ai discarded some records (partial failure)"
            return "completed"
        return {
            Status.IN_PROGRESS: "running",
            Status.FAILURE: "failed",
            Status.UNKNOWN: f"unknown status {self.raw_status!r}",
        }[self.status]

    def as_dict(self) -> dict[str, Any]:
        return {
            "request_id": self.request_id,
            "status": self.status.value,
            "raw_status": self.raw_status,
            "partial_failure": self.partial_failure,
            "scores": self.scores.as_dict(),
            "counts": self.counts.as_dict(),
            "report_url": self.report_url,
            "run_type": self.run_type,
            "language": self.language,
            "started_at": self.started_at.isoformat() if self.started_at else None,
            "ended_at": self.ended_at.isoformat() if self.ended_at else None,
            "duration_seconds": self.duration,
        }

    def as_json(self) -> dict[str, Any]:
        """Kore.ai's shape of the status answer: ``parse_status`` reads it back."""
        scores = {
            name: str(value)
            for name, value in (
                ("f1_score", self.scores.f1),
                ("precision", self.scores.precision),
                ("recall", self.scores.recall),
            )
            if value is not None
        }
        result: dict[str, Any] = {
            "_id": self.request_id,
            "status": self.raw_status,
            "isPartialFailure": self.partial_failure,
            **scores,
            "results": _counts_json(self.counts),
        }
        for name, value in (
            ("fileUrl", self.report_url),
            ("runType", self.run_type),
            ("botLanguage", self.language),
            ("startTime", self.started_at.isoformat() if self.started_at else None),
            ("endTime", self.ended_at.isoformat() if self.ended_at else None),
        ):
            if value is not None:
                result[name] = value
        data: dict[str, Any] = {"_id": self.request_id, "status": self.raw_status}
        for name, number in (
            ("totalUtterances", self.counts.utterances),
            ("utterance_ran", self.counts.ran),
            ("percentage", self.counts.percentage),
        ):
            if number is not None:
                data[name] = number
        return {**data, "result": result}


@dataclass(frozen=True)
class PastResult:
    """One past run of a suite, from the suites list (no scores: unfinished or failed)."""

    id: str | None
    run_type: str | None
    language: str | None
    scores: Scores
    counts: Counts
    at: datetime | None
    position: int = 0

    @property
    def state(self) -> State | None:
        return _state_of(self.run_type)

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "run_type": self.run_type,
            "language": self.language,
            "scores": self.scores.as_dict(),
            "at": self.at.isoformat() if self.at else None,
        }

    def as_json(self) -> dict[str, Any]:
        """Kore.ai's shape of a listed result: ``_past`` reads it back."""
        data: dict[str, Any] = {
            name: value
            for name, value in (
                ("_id", self.id),
                ("version", self.run_type),
                ("botLanguage", self.language),
                ("f1_score", _text(self.scores.f1)),
                ("precision", _text(self.scores.precision)),
                ("recall", _text(self.scores.recall)),
                ("endTime", self.at.isoformat() if self.at else None),
            )
            if value is not None
        }
        return {**data, "results": _counts_json(self.counts)}


@dataclass(frozen=True)
class Suite:
    """One suite of the bot: custom (by its ``ts-…`` key) or prebuilt."""

    key: str
    name: str
    type: str | None
    description: str | None
    results: tuple[PastResult, ...] = ()

    def previous(
        self, state: State, language: str, *, not_id: str | None = None
    ) -> PastResult | None:
        """The latest completed run (with an F1) of this version and language.

        Results without a language are taken as the language's (Kore.ai's samples have
        none); the latest is the one with the newest time, else the first listed.
        """
        lang = language.lower()
        fitting = [
            result
            for result in self.results
            if result.scores.known
            and result.state is state
            and (result.language is None or result.language.lower() == lang)
            and (not_id is None or result.id != not_id)
        ]
        if not fitting:
            return None
        dated = [result for result in fitting if result.at is not None]
        if dated:
            return max(dated, key=lambda result: (result.at, -result.position))
        return fitting[0]


@dataclass(frozen=True)
class SuitePage:
    suites: tuple[Suite, ...]
    more: bool
    count: int | None


# -- parsing -----------------------------------------------------------------------------


def status_of(raw: str) -> Status:
    """korebot's status: running → in progress, completed → success, fail/error/cancel/abort
    → failure, anything else unknown."""
    word = raw.strip().lower()
    if word == "running":
        return Status.IN_PROGRESS
    if word == "completed":
        return Status.SUCCESS
    if _FAILED.search(word):
        return Status.FAILURE
    return Status.UNKNOWN


def parse_start(data: Any) -> BatchStart:
    if not isinstance(data, dict) or not optional_str(data.get("requestId")):
        raise UnreadableResponse(
            "Kore.ai answered the batch test run without a request ID (expected "
            f"{{'status': 'accepted', 'requestId': 'tr-…'}}, got {describe(data)})."
        )
    return BatchStart(data["requestId"], optional_str(data.get("status")) or "accepted")


def parse_status(data: Any, request_id: str | None = None) -> BatchRun:
    if not isinstance(data, dict):
        raise UnreadableResponse(
            f"Kore.ai answered without a batch test status (got {describe(data)})."
        )
    result = data.get("result")
    result = result if isinstance(result, dict) else {}
    raw = optional_str(data.get("status")) or optional_str(result.get("status"))
    if raw is None:
        raise UnreadableResponse(
            "Kore.ai answered without a batch test status (expected a JSON object with "
            f"a 'status' string, got {describe(data)})."
        )
    both = {**result, **{k: v for k, v in data.items() if k != "result"}}
    counts = _counts(result.get("results"), both)
    return BatchRun(
        request_id=optional_str(data.get("_id"))
        or optional_str(result.get("_id"))
        or request_id
        or "",
        status=status_of(raw),
        raw_status=raw,
        partial_failure=result.get("isPartialFailure") is True
        or data.get("isPartialFailure") is True,
        scores=Scores.of(result),
        counts=counts,
        report_url=optional_str(result.get("fileUrl")) or optional_str(data.get("fileUrl")),
        run_type=optional_str(result.get("runType")),
        language=optional_str(result.get("botLanguage")),
        started_at=parse_time(result.get("startTime")),
        ended_at=parse_time(result.get("endTime")),
    )


def parse_suites(data: Any) -> SuitePage:
    if not isinstance(data, dict):
        raise UnreadableResponse(f"Kore.ai answered the list of test suites with {describe(data)}.")
    suites = []
    for key, value in data.items():
        if not isinstance(value, dict) or key in ("count", "moreAvailable"):
            continue
        name = optional_str(value.get("name")) or str(key)
        raw_results = value.get("results")
        results = tuple(
            _past(position, item)
            for position, item in enumerate(raw_results if isinstance(raw_results, list) else [])
            if isinstance(item, dict)
        )
        suites.append(
            Suite(
                key=str(key),
                name=name,
                type=optional_str(value.get("testSuiteType")),
                description=optional_str(value.get("description")),
                results=results,
            )
        )
    count = _count(data.get("count"))
    return SuitePage(tuple(suites), data.get("moreAvailable") is True, count)


def find(suites: Iterable[Suite], name: str) -> Suite | None:
    """The suite of that name (exactly; else the only one equal ignoring case), or its key."""
    listed = list(suites)
    for suite in listed:
        if suite.name == name or suite.key == name:
            return suite
    folded = [suite for suite in listed if suite.name.casefold() == name.casefold()]
    return folded[0] if len(folded) == 1 else None


def _past(position: int, data: dict[str, Any]) -> PastResult:
    at = None
    for key in ("endTime", "startTime", "createdOn", "lastModifiedOn"):
        at = parse_time(data.get(key))
        if at is not None:
            break
    return PastResult(
        id=optional_str(data.get("_id")),
        run_type=optional_str(data.get("version")) or optional_str(data.get("runType")),
        language=optional_str(data.get("botLanguage")) or optional_str(data.get("language")),
        scores=Scores.of(data),
        counts=_counts(data.get("results"), data),
        at=at,
        position=position,
    )


def _counts(results: Any, outer: Mapping[str, Any]) -> Counts:
    results = results if isinstance(results, dict) else {}
    return Counts(
        tp=_count(results.get("TP")),
        tn=_count(results.get("TN")),
        fp=_count(results.get("FP")),
        fn=_count(results.get("FN")),
        failed_utterances=_count(results.get("failedUtteranceCount")),
        utterances=_count(outer.get("totalUtterances")) or _count(outer.get("utterance_count")),
        ran=_count(outer.get("utterance_ran")),
        percentage=_score(outer.get("percentage"), upper=100.0),
    )


def _score(value: Any, upper: float = 1.0) -> float | None:
    """A score from a string ("0.91") or a number; None when missing or not a score."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        try:
            value = float(value.strip())
        except ValueError:
            return None
    if isinstance(value, int | float) and math.isfinite(value) and 0 <= value <= upper:
        return float(value)
    return None


def _count(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    if isinstance(value, int) and value >= 0:
        return value
    if isinstance(value, float) and value.is_integer() and value >= 0:
        return int(value)
    return None


def _state_of(run_type: str | None) -> State | None:
    if run_type is None:
        return None
    for state, name in VERSIONS.items():
        if run_type.strip().lower() == name.lower():
            return state
    return None


def _text(score: float | None) -> str | None:
    return None if score is None else str(score)


def _counts_json(counts: Counts) -> dict[str, int]:
    names = {
        "TP": counts.tp,
        "TN": counts.tn,
        "FP": counts.fp,
        "FN": counts.fn,
        "failedUtteranceCount": counts.failed_utterances,
    }
    return {name: value for name, value in names.items() if value is not None}


# -- a suite's runs as the engine follows them (the kinds' ``Spec``) ---------------------------


def as_status(run: BatchRun, previous: PastResult | None) -> JobStatus:
    """korebot's status of a run, with the suite's previous completed run to compare with."""
    return JobStatus(
        status=run.status,
        raw_status=run.raw_status,
        message=run.description,
        training_id=run.request_id or None,
        modified_on=run.ended_at,
        modified_by=None,
        kind=Kind.BATCH,
        batch=run,
        previous=previous,
    )


def started(start: BatchStart, previous: PastResult | None) -> JobStatus:
    """The status of a run Kore.ai just accepted: running, known by its request ID."""
    run = BatchRun(
        request_id=start.request_id,
        status=Status.IN_PROGRESS,
        raw_status="running",
        partial_failure=False,
        scores=Scores(),
        counts=Counts(),
        report_url=None,
        run_type=None,
        language=None,
        started_at=None,
        ended_at=None,
    )
    return as_status(run, previous)


def following(last: JobStatus | None) -> str | None:
    """The request ID of the run the last answer was about, while it is not over (its
    status is asked by that ID); None: ask the suite's list."""
    if last is None or last.batch is None or last.batch.listed or last.status.is_final:
        return None
    return last.batch.request_id or None


def latest(suites: Iterable[Suite], name: str, state: State, language: str) -> JobStatus:
    """The suite's last completed run of that version and language, from the list, as a
    status (compared with the one before it); NotFound if the suite is gone."""
    suite = find(suites, name)
    if suite is None:
        raise NotFound(f"Kore.ai has no batch test suite called {shown(name)} any more.")
    last = suite.previous(state, language)
    if last is None:
        return placeholder(NO_RUNS)
    run = BatchRun(
        request_id=last.id or "",
        status=Status.SUCCESS,
        raw_status="completed",
        partial_failure=False,
        scores=last.scores,
        counts=last.counts,
        report_url=None,
        run_type=last.run_type,
        language=last.language,
        started_at=None,
        ended_at=last.at,
        listed=True,
    )
    return as_status(run, suite.previous(state, language, not_id=last.id))


#: The raw status of a suite that has no completed run of the version and language yet.
NO_RUNS = "no runs"
#: Where korebot keeps what it knows beside Kore.ai's own shape (``as_json``).
_OWN = "korebot"


def parse(data: Any) -> JobStatus:
    """A status answer, or what ``as_json`` wrote (with the run's source and the previous)."""
    run = parse_status(data)  # UnreadableResponse unless a JSON object with a status
    if run.raw_status == NO_RUNS:
        return placeholder(NO_RUNS)
    own = data.get(_OWN)
    own = own if isinstance(own, dict) else {}
    if own.get("listed") is True:
        run = replace(run, listed=True)
    previous = own.get("previous")
    return as_status(run, _past(0, previous) if isinstance(previous, dict) else None)


def as_json(status: JobStatus) -> dict[str, Any]:
    if status.batch is None:
        return {"status": status.raw_status}
    own: dict[str, Any] = {"listed": status.batch.listed}
    if status.previous is not None:
        own["previous"] = status.previous.as_json()
    return {**status.batch.as_json(), _OWN: own}


def placeholder(raw_status: str | None) -> JobStatus:
    raw = raw_status or "running"
    return JobStatus(status_of(raw), raw, raw, None, None, None, kind=Kind.BATCH)


def run_of(status: JobStatus) -> str | None:
    if status.batch is None or not status.batch.request_id:
        return None
    return f"{'list' if status.batch.listed else 'run'}:{status.batch.request_id}"


def new_run(before: str | None, now: str | None) -> bool:
    if before is not None and now is not None and before[:4] == "run:" and now[:5] == "list:":
        return False  # the list's first result after a run followed to its end: that run
    return before != now


# -- the verdict -------------------------------------------------------------------------


class Verdict(enum.StrEnum):
    PASSED = "passed"
    FAILED = "failed"
    RUNNING = "running"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class Bar:
    """What a run must reach: an F1 of at least ``min_f1`` (None: no bar), and an F1 no more
    than ``max_drop`` below the previous completed run's."""

    min_f1: float | None = None
    max_drop: float = 0.02


@dataclass(frozen=True)
class Judgement:
    verdict: Verdict
    #: Why it failed, first the most telling, each one line (empty when it passed).
    reasons: tuple[str, ...]
    #: This run's F1 minus the previous run's (None without both).
    change: float | None
    warnings: tuple[str, ...] = field(default=())


#: Scores are given with two decimals; comparisons allow for float rounding below that.
_EPSILON = 1e-9


def judge(run: BatchRun, previous: PastResult | None, bar: Bar) -> Judgement:
    """Pass or fail a run against the bar and the previous run's F1."""
    f1 = run.scores.f1
    before = previous.scores.f1 if previous is not None else None
    change = None if f1 is None or before is None else round(f1 - before, 6)
    warnings = (run.description,) if run.partial_failure else ()
    if run.status is Status.IN_PROGRESS:
        return Judgement(Verdict.RUNNING, (), change, warnings)
    if run.status is Status.FAILURE:
        return Judgement(
            Verdict.FAILED, (f"the run failed: Kore.ai says {run.raw_status!r}",), change, warnings
        )
    if run.status is Status.UNKNOWN:
        return Judgement(
            Verdict.UNKNOWN, (f"Kore.ai reported an unknown status {run.raw_status!r}",), change
        )
    reasons = []
    if bar.min_f1 is not None:
        if f1 is None:
            reasons.append(f"no F1 score reported, and the bar is F1 {bar.min_f1:.2f}")
        elif f1 < bar.min_f1 - _EPSILON:
            reasons.append(
                f"F1 {f1:.2f} is below the bar of {bar.min_f1:.2f} by {bar.min_f1 - f1:.2f}"
            )
    if change is not None and before is not None and -change > bar.max_drop + _EPSILON:
        reasons.append(
            f"F1 {f1:.2f} dropped {-change:.2f} from the previous run's {before:.2f}, "
            f"more than the {bar.max_drop:.2f} tolerated"
        )
    verdict = Verdict.FAILED if reasons else Verdict.PASSED
    return Judgement(verdict, tuple(reasons), change, warnings)


def change_words(change: float | None, before: float | None) -> str:
    """ "down 0.04 from 0.91", "up 0.02 from 0.89", "same as 0.91", or "" without both."""
    if change is None or before is None:
        return ""
    if abs(change) < 0.005:
        return f"same as {before:.2f}"
    return f"{'up' if change > 0 else 'down'} {abs(change):.2f} from {before:.2f}"


#: One Kore.ai call a poll.
calls = one_call
