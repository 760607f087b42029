"""The batch test APIs of the fake Kore.ai (korebot/testing/fake_kore.py).

Kore.ai's shapes, written out here rather than taken from korebot's reader, so that the fake
holds the reader to them: scores as strings ("0.91"), ``result.results`` with TP/TN/FP/FN,
``fileUrl``, ``runType``; the suites list with ``count``, ``moreAvailable`` and one key per
suite. Scripting:

- `BatchSuite` (with `PastRun` results): the suites of a bot (``FakeKore.batch_suites``);
- `BatchScript`: what a run of a suite does (``FakeKore.on_batch_run``): running for N polls
  with progress, then its final status (``completed``, ``failed``, …) with its scores, or a
  partial failure; or its POST answered with a `Fail`;
- `BatchPost`: what each run POST carried (``FakeKore.batch_posts``).

Paths: ``POST …/testsuite/{suite}/run``, ``GET …/testsuite/{suite}/{requestId}/status``,
``GET …/testsuite?skip=&limit=``; the suite's name is one percent-encoded path segment.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import unquote

from korebot.testing.kore_checks import Refused
from korebot.testing.kore_http import Answer, error
from korebot.testing.kore_script import Fail, Script, render

__all__ = [
    "BATCH_SCOPES",
    "BatchPost",
    "BatchScript",
    "BatchSuite",
    "LiveRun",
    "PastRun",
    "check_language_header",
    "route",
]

#: The batch APIs' scopes, by the name FakeKore's ``scopes`` takes.
BATCH_SCOPES = {"batch-run": "Batch Tests Execution", "batch-manage": "Batch Tests Management"}
#: Request kinds, as ``FakeKore.count`` takes them.
KINDS = ("batch-run", "batch-status", "batch-suites")

_UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
# One path segment as RFC 3986 allows it: unreserved and sub-delims, or %XX escapes.
_SEGMENT = r"(?:[A-Za-z0-9._~!$&'()*+,;=:@-]|%[0-9A-Fa-f]{2})+"
_RUN = re.compile(rf"/api/public/bot/(st-{_UUID})/testsuite/({_SEGMENT})/run")
_STATUS = re.compile(rf"/api/public/bot/(st-{_UUID})/testsuite/({_SEGMENT})/({_SEGMENT})/status")
_LIST = re.compile(rf"/api/public/bot/(st-{_UUID})/testsuite")
_ANY = re.compile(r"/api/public/bot/[^/?]+/testsuite(?:/|$)")
_VERSIONS = ("inDevelopment", "published")
_LANGUAGE = re.compile(r"[a-z]{2,3}(?:[_-][a-z]{2,4})?", re.IGNORECASE)
_START = datetime(2023, 6, 26, 12, 7, 38, 405000, tzinfo=UTC)


@dataclass(frozen=True)
class PastRun:
    """One past run of a suite, as the suites list shows it (``f1`` None: no scores)."""

    f1: str | float | None = "0.91"
    precision: str | float | None = "0.93"
    recall: str | float | None = "0.89"
    version: str = "inDevelopment"
    id: str | None = None
    end_time: datetime | None = None
    language: str | None = None


@dataclass(frozen=True)
class BatchSuite:
    """A test suite of a bot: custom suites are keyed by a ``ts-…`` id, prebuilt by name."""

    name: str
    type: str = "custom"
    description: str = ""
    results: tuple[PastRun, ...] = ()

    @property
    def key(self) -> str:
        if self.type != "custom":
            return self.name
        return "ts-" + hashlib.sha256(self.name.encode()).hexdigest()[:24]


@dataclass(frozen=True)
class BatchScript:
    """What a run of a suite does: ``running_polls`` status answers ``running`` (with
    progress), then ``status`` with these scores and counts for good. ``post``: answer the
    run POST with this error instead (a ``Fail`` of the fake) and start nothing."""

    running_polls: int = 1
    status: str = "completed"
    f1: str | float | None = "0.91"
    precision: str | float | None = "0.93"
    recall: str | float | None = "0.89"
    tp: int = 8
    tn: int = 1
    fp: int = 1
    fn: int = 0
    failed_utterances: int = 1
    utterances: int = 10
    partial_failure: bool = False
    seconds: float = 121.113
    post: Fail | None = None


@dataclass(frozen=True)
class BatchPost:
    """What one run POST carried (refused ones too): the decoded suite name, the body's
    ``version``, the ``bot-language`` header, and what the fake answered."""

    bot_id: str
    suite: str
    version: Any
    language: str | None
    engine: Any
    http_status: int
    request_id: str | None


@dataclass
class LiveRun:
    """A run started by a POST, as its status polls see it. A run nobody asked about by
    its request ID (its POST's answer was lost) moves on with each list of the bot's
    suites instead, as time would move it."""

    request_id: str
    bot_id: str
    suite: BatchSuite
    script: BatchScript
    language: str
    version: str
    polls: int = 0
    recorded: bool = field(default=False)
    #: A status call asked about it: only those move it on.
    followed: bool = field(default=False)

    def answer(self) -> dict[str, Any]:
        self.polls += 1
        script = self.script
        result: dict[str, Any] = {
            "_id": self.request_id,
            "isPartialFailure": False,
            "status": "running",
            "testSuiteId": self.suite.key,
            "triggeredBy": "u-b6cd0000-0000-0000-0000-000000000001",
            "botLanguage": self.language,
            "runType": self.version,
            "utterance_count": script.utterances,
            "startTime": _iso(_START),
            "__v": 0,
        }
        document: dict[str, Any] = {
            "_id": self.request_id,
            "streamId": self.bot_id,
            "testSuiteId": self.suite.key,
            "status": "running",
            "utterance_count": script.utterances,
            "result": result,
        }
        if self.polls <= script.running_polls:
            ran = script.utterances * self.polls // (script.running_polls + 1)
            percentage = round(100 * ran / script.utterances) if script.utterances else 0
            document |= {
                "totalUtterances": script.utterances,
                "utterance_ran": ran,
                "percentage": percentage,
            }
            return document
        document["status"] = result["status"] = script.status
        result["isPartialFailure"] = script.partial_failure
        result["endTime"] = _iso(_START + timedelta(seconds=script.seconds))
        if script.status == "completed":
            result |= _scores(script.f1, script.precision, script.recall)
            result |= {
                "isAvailable": True,
                "fileId": "6499" + self.request_id[-8:],
                "results": {
                    "TP": script.tp,
                    "TN": script.tn,
                    "FP": script.fp,
                    "FN": script.fn,
                    "success": script.tp + script.tn,
                    "failure": script.fp + script.fn,
                    "failedUtteranceCount": script.failed_utterances,
                    "failedEntitiesCount": 0,
                },
                "fileUrl": (
                    "https://platform.kore.ai/api/getMediaStream/media/f-"
                    f"{self.request_id[-8:]}.csv?e=1689769306&n=1&s=c2lnbmF0dXJl"
                    "&clientfilename=report.csv&batchtesting=true"
                ),
            }
        return document


def route(method: str, path: str) -> tuple[str, str | None] | None:
    """(request kind, bot ID) of a batch path, None for other paths."""
    if not _ANY.match(path):
        return None
    if method == "POST" and (match := _RUN.fullmatch(path)):
        return "batch-run", match.group(1)
    if method == "GET" and (match := _STATUS.fullmatch(path)):
        return "batch-status", match.group(1)
    if method == "GET" and (match := _LIST.fullmatch(path)):
        return "batch-suites", match.group(1)
    return "other", None


@dataclass(frozen=True)
class Target:
    """What a batch request is about, from its path."""

    kind: str
    bot_id: str
    suite: str = ""
    request_id: str = ""


def parse_path(method: str, path: str) -> Target:
    """The request's kind, bot, suite name and request ID; Kore.ai's 404 for anything else."""
    if method == "POST" and (match := _RUN.fullmatch(path)):
        return Target("batch-run", match.group(1), _decode(match.group(2)))
    if method == "GET" and (match := _STATUS.fullmatch(path)):
        suite, request_id = _decode(match.group(2)), _decode(match.group(3))
        return Target("batch-status", match.group(1), suite, request_id)
    if method == "GET" and (match := _LIST.fullmatch(path)):
        return Target("batch-suites", match.group(1))
    raise Refused(error(404, "Not Found"))


def refusal(step: Fail, now: float) -> Answer:
    """The answer a scripted Fail gives a run POST."""
    return render(step, Script([(0.0, step)], "refused"), now, 0.0)


def _decode(part: str) -> str:
    if part in (".", ".."):
        raise Refused(error(404, "Not Found"))
    try:
        return unquote(part, errors="strict")
    except UnicodeDecodeError:
        raise Refused(error(400, "the path is not valid UTF-8")) from None


def check_language_header(value: str | None) -> str:
    if not value:
        raise Refused(error(400, "bot-language header is required"))
    if not _LANGUAGE.fullmatch(value):
        raise Refused(error(400, f"bot-language is invalid: {value!r}"))
    return value.lower()


def check_run_body(body: bytes) -> tuple[str, Any]:
    """(version, engine) of a run POST's JSON body."""
    try:
        document = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise Refused(error(400, "body must be a JSON object")) from None
    if not isinstance(document, dict):
        raise Refused(error(400, "body must be a JSON object"))
    version = document.get("version")
    if version not in _VERSIONS:
        raise Refused(error(412, f"Validation errors/ Invalid arguments: version {version!r}"))
    engine = document.get("engine", "regression")
    if engine not in ("regression", "dgpt"):
        raise Refused(error(412, f"Validation errors/ Invalid arguments: engine {engine!r}"))
    return version, engine


def page(suites: list[BatchSuite], pairs: list[tuple[str, str]]) -> dict[str, Any]:
    """One page of the suites list, as ``skip`` and ``limit`` ask."""
    query = dict(pairs)
    if set(query) - {"skip", "limit"} or len(query) != len(pairs):
        raise Refused(error(400, "unexpected query parameters"))
    try:
        skip, limit = int(query.get("skip", "0")), int(query.get("limit", "50"))
    except ValueError:
        raise Refused(error(400, "skip and limit must be numbers")) from None
    if skip < 0 or not 1 <= limit <= 100:
        raise Refused(error(400, "skip must be 0 or more, limit 1 to 100"))
    shown = suites[skip : skip + limit]
    document: dict[str, Any] = {"count": len(suites), "moreAvailable": skip + limit < len(suites)}
    for suite in shown:
        document[suite.key] = {
            "testSuiteType": suite.type,
            "name": suite.name,
            "description": suite.description,
            "results": [_past(run, index) for index, run in enumerate(suite.results)],
        }
    return document


def _past(run: PastRun, index: int) -> dict[str, Any]:
    data: dict[str, Any] = {"_id": run.id or f"tx-{index:04d}", "version": run.version}
    if run.f1 is not None:
        data |= _scores(run.f1, run.precision, run.recall)
        data["results"] = {"TP": 8, "TN": 1, "FP": 1, "FN": 0, "failedUtteranceCount": 1}
    if run.end_time is not None:
        data["endTime"] = _iso(run.end_time)
    if run.language is not None:
        data["botLanguage"] = run.language
    return data


def recorded(run: LiveRun) -> PastRun:
    """A completed run as the suites list shows it afterwards."""
    return PastRun(
        f1=run.script.f1,
        precision=run.script.precision,
        recall=run.script.recall,
        version=run.version,
        id=run.request_id,
        end_time=_START + timedelta(seconds=run.script.seconds),
        language=run.language,
    )


def _scores(*values: str | float | None) -> dict[str, Any]:
    names = ("f1_score", "precision", "recall")
    return {name: value for name, value in zip(names, values, strict=True) if value is not None}


def _iso(moment: datetime) -> str:
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
