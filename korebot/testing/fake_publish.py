"""The bot publish APIs of the fake Kore.ai (korebot/testing/fake_kore.py).

Kore.ai's shapes, written out here from its documentation rather than from a reader of
korebot's, so that the fake holds korebot to them:

- ``POST …/publish`` with ``{"versionComment": "…", "initiateTraining": true}`` answers a
  JSON *array*, one entry per resource (the dialogs, ``NL``, ``SETTINGS``), and no job ID;
  a dialog whose ``result.state`` is ``awaitingApproval`` waits for an admin's approval;
- ``GET …/publish/status`` (no parameters) answers the bot's current or most recent publish
  job only: ``_id`` (``ds-…``), ``requestedTime`` (ISO 8601 UTC, milliseconds, ``Z``),
  ``status`` ``inprogress``, ``successful`` or ``failed``, ``percentageComplete`` and a
  ``statusSummary`` with one entry per resource (``SUCCESS`` or ``FAILED``).

Both need a JWT of the *Admin Console* app (scopes Bot Publish > Publish and Bot Publish >
Publish Status); the bot's App Builder app gets Kore.ai's 401 "Permission denied. Scope is
incorrect!". Scripting:

- `PublishScript`: what a publish does (``FakeKore.on_publish``): ``inprogress`` for N
  status calls, then ``successful`` or ``failed`` for good; dialogs answered
  ``awaitingApproval``; or its POST answered with a `Fail`;
- `PublishJob`: one publish, started by a POST or elsewhere (``FakeKore.start_publish_elsewhere``);
- `PublishPost`: what each POST carried (``FakeKore.publish_posts``).

Before any publish the status answers a past successful job (`PAST_JOB_ID`, requested at
`PAST_REQUESTED`); a bot scripted to have never been published (``FakeKore.never_published``)
answers 200 with an empty object ``{}`` (or a scripted error). Kore.ai documents neither
answer; ``{}`` is what a "find the latest job" endpoint most plausibly gives.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from korebot.testing.kore_checks import Refused, check_language
from korebot.testing.kore_http import Answer, error
from korebot.testing.kore_script import Fail, Script, render

__all__ = [
    "ADMIN_USER",
    "BUILDER_USER",
    "PAST_JOB_ID",
    "PAST_REQUESTED",
    "PUBLISH_SCOPES",
    "PublishJob",
    "PublishPost",
    "PublishScript",
    "Publishes",
    "route",
]

#: The publish APIs' Admin Console scopes, by the name FakeKore's ``admin_scopes`` takes.
PUBLISH_SCOPES = {
    "publish": "Bot Publish > Publish",
    "publish-status": "Bot Publish > Publish Status",
}
#: Request kinds, as ``FakeKore.count`` takes them.
KINDS = ("publish", "publish-status")
#: ``createdBy`` of publishes started by a POST (the Admin Console app's owner) ...
ADMIN_USER = "u-adb70000-0000-4000-8000-000000000001"
#: ... and of those started elsewhere (a developer, in the builder).
BUILDER_USER = "u-b1d00000-0000-4000-8000-000000000002"
#: The publish a bot has before any publish of the test's: successful, long ago.
PAST_JOB_ID = "ds-00000000-0000-0000-0000-000000000000"
PAST_REQUESTED = datetime(2023, 6, 26, 11, 58, 2, 114000, tzinfo=UTC)
OUTCOMES = ("successful", "failed")
SETTINGS, NL = "Settings", "Natural Language"

_UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
_PUBLISH = re.compile(rf"/api/public/bot/(st-{_UUID})/publish")
_STATUS = re.compile(rf"/api/public/bot/(st-{_UUID})/publish/status")
_ANY = re.compile(r"/api/public/bot/[^/?]+/publish(?:/|$)")
# How long after ``requestedTime`` a job is initiated, and the least it takes to end.
_INITIATED = timedelta(milliseconds=97)
_TAKES = timedelta(milliseconds=1352)


@dataclass(frozen=True)
class PublishScript:
    """What a publish does: ``running_polls`` status calls answer ``inprogress`` (with a
    rising ``percentageComplete``), then ``outcome`` (``successful`` or ``failed``) for good.

    ``awaiting``: the names of the dialogs the POST answers ``awaitingApproval`` (for
    ``languages``); they join Settings and Natural Language in the status summary.
    ``failed``: the resources (``"Settings"``, ``"Natural Language"`` or a dialog's name)
    whose summary is ``FAILED`` when ``outcome`` is ``failed`` (none given: Natural
    Language). ``languages``: also those whose published trainings a successful publish
    with ``initiateTraining`` starts. ``post``: answer the POST with this error instead
    and start nothing.
    """

    running_polls: int = 1
    outcome: str = "successful"
    awaiting: tuple[str, ...] = ()
    languages: tuple[str, ...] = ("en",)
    failed: tuple[str, ...] = ()
    post: Fail | None = None

    def __post_init__(self) -> None:
        if self.running_polls < 0:
            raise ValueError("running_polls must not be negative")
        if self.outcome not in OUTCOMES:
            raise ValueError(f"outcome must be one of {OUTCOMES}, not {self.outcome!r}")
        names = [SETTINGS, NL, *self.awaiting]
        if len(set(names)) != len(names) or not all(names):
            raise ValueError(
                f"dialog names must be non-empty, distinct and not {SETTINGS!r} "
                f"or {NL!r}: {self.awaiting}"
            )
        if self.failed and self.outcome != "failed":
            raise ValueError("failed resources need outcome='failed'")
        unknown = set(self.failed) - set(names)
        if unknown:
            raise ValueError(f"failed names no resource of this publish: {sorted(unknown)}")
        if not self.languages:
            raise ValueError("give at least one language")
        for language in self.languages:
            try:
                check_language(language)
            except Refused:
                raise ValueError(f"not a language code: {language!r}") from None

    @property
    def resources(self) -> tuple[str, ...]:
        """The names of what is published, in the status summary's order."""
        return (SETTINGS, NL, *self.awaiting)

    @property
    def failures(self) -> frozenset[str]:
        """The resources that end ``FAILED``."""
        if self.outcome != "failed":
            return frozenset()
        return frozenset(self.failed or (NL,))


@dataclass(frozen=True)
class PublishPost:
    """What one publish POST carried (refused ones too): the body's ``versionComment`` and
    ``initiateTraining`` as sent (None if absent), what the fake answered, and the ID of
    the job it started (None if it started none)."""

    bot_id: str
    version_comment: Any
    initiate_training: Any
    http_status: int
    job_id: str | None


@dataclass
class PublishJob:
    """One publish of a bot, as its status calls see it; ``ended_at`` is set by the first
    status call that answers its outcome."""

    job_id: str
    bot_id: str
    script: PublishScript
    requested_at: datetime
    created_by: str
    initiate_training: bool = True
    version_comment: str = ""
    polls: int = 0
    ended_at: datetime | None = None

    def answer(self, now: datetime) -> tuple[dict[str, Any], bool]:
        """The status document for a call now, and whether this call ended the job."""
        self.polls += 1
        script = self.script
        initiated = self.requested_at + _INITIATED
        resources = script.resources
        running = self.ended_at is None and self.polls <= script.running_polls
        just_ended = False
        if running:
            status = "inprogress"
            percentage = 100 * self.polls // (script.running_polls + 1)
            done = len(resources) * self.polls // (script.running_polls + 1)
            summary = [self._summary(name, "SUCCESS") for name in resources[:done]]
            modified = max(now, initiated)
        else:
            if self.ended_at is None:
                self.ended_at = max(now, initiated + _TAKES)
                just_ended = True
            status, percentage = script.outcome, 100
            failures = script.failures
            summary = [
                self._summary(name, "FAILED" if name in failures else "SUCCESS")
                for name in resources
            ]
            modified = self.ended_at
        document = {
            "_id": self.job_id,
            "action": "RUN",
            "jobType": "PUBLISH_BOT",
            "streamId": self.bot_id,
            "__v": 0,
            "countOfDockStatuses": 1,
            "createdBy": self.created_by,
            "percentageComplete": percentage,
            "requestedTime": iso(self.requested_at),
            "status": status,
            "lastModifiedOn": iso(modified),
            "initiatedOn": iso(initiated),
            "statusSummary": summary,
        }
        return document, just_ended

    @property
    def trains(self) -> bool:
        """Whether this job, once ended, starts the published version's trainings."""
        return self.initiate_training and self.script.outcome == "successful"

    def _summary(self, name: str, status: str) -> dict[str, Any]:
        if name == SETTINGS:
            return {
                "resourceId": "SETTINGS",
                "resourceType": "SETTINGS",
                "name": name,
                "status": status,
            }
        if name == NL:
            return {"resourceId": "NL", "resourceType": "NL", "name": name, "status": status}
        dialog_id = dialog_resource_id(self.bot_id, name)
        return {"resourceId": dialog_id, "resourceType": "dialog", "name": name, "status": status}

    def post_answer(self) -> list[dict[str, Any]]:
        """The POST's answer: one entry per resource (dialogs first), all ``SUCCESS``."""
        entries: list[dict[str, Any]] = []
        for name in self.script.awaiting:
            dialog_id = dialog_resource_id(self.bot_id, name)
            result = {
                "state": "awaitingApproval",
                "approvalRequestedLanguages": [lang.lower() for lang in self.script.languages],
                "versionComment": self.version_comment,
                "publishedOn": iso(self.requested_at),
                "name": name,
            }
            entries.append(
                {
                    "resourceType": "dialog",
                    "resourceId": dialog_id,
                    "sbResourceId": dialog_id,
                    "status": "SUCCESS",
                    "result": result,
                }
            )
        nl = {
            "resourceId": "NL",
            "resourceType": "NL",
            "modules": ["nl_model", "settings"],
            "name": NL,
        }
        entries.append({"resourceType": "NL", "status": "SUCCESS", "result": nl})
        settings = {"resourceId": "SETTINGS", "name": SETTINGS}
        entries.append({"resourceType": "SETTINGS", "status": "SUCCESS", "result": settings})
        return entries


class Publishes:
    """The publish state of every bot: scripts, each bot's latest job, POSTs. Not
    thread-safe: FakeKore calls it under its lock."""

    def __init__(self) -> None:
        self._scripts: dict[str, PublishScript] = {}
        self._jobs: dict[str, PublishJob] = {}
        self._never: dict[str, Fail | None] = {}
        self.posts: list[PublishPost] = []

    def script_for(self, bot_id: str) -> PublishScript:
        return self._scripts.get(bot_id, PublishScript())

    def set_script(self, bot_id: str, script: PublishScript) -> None:
        self._scripts[bot_id] = script

    def never_published(self, bot_id: str, answer: Fail | None) -> None:
        self._jobs.pop(bot_id, None)
        self._never[bot_id] = answer

    def start(self, job: PublishJob) -> None:
        """``job`` is now the bot's current publish (whatever came before)."""
        self._never.pop(job.bot_id, None)
        self._jobs[job.bot_id] = job

    def status(self, bot_id: str, now: float) -> tuple[Answer, PublishJob | None]:
        """The status call's answer, and the job if this call ended it."""
        if bot_id in self._never:
            fail = self._never[bot_id]
            return (Answer(200, b"{}") if fail is None else refusal(fail, now)), None
        job = self._jobs.get(bot_id)
        if job is None:
            job = PublishJob(
                PAST_JOB_ID,
                bot_id,
                PublishScript(running_polls=0),
                PAST_REQUESTED,
                ADMIN_USER,
                version_comment="first release",
                ended_at=PAST_REQUESTED + _INITIATED + _TAKES,
            )
            self._jobs[bot_id] = job
        document, just_ended = job.answer(datetime.fromtimestamp(now, UTC))
        return Answer(200, json.dumps(document).encode()), job if just_ended else None


def route(method: str, path: str) -> tuple[str, str | None] | None:
    """(request kind, bot ID) of a publish path, None for other paths."""
    if not _ANY.match(path):
        return None
    if method == "POST" and (match := _PUBLISH.fullmatch(path)):
        return "publish", match.group(1)
    if method == "GET" and (match := _STATUS.fullmatch(path)):
        return "publish-status", match.group(1)
    return "other", None


def parse_path(method: str, path: str) -> tuple[str, str]:
    """(request kind, bot ID) of a publish request; Kore.ai's 404 for anything else."""
    routed = route(method, path)
    if routed is None or routed[1] is None:
        raise Refused(error(404, "Not Found"))
    return routed[0], routed[1]


def check_app(kind: str, *, admin: bool, admin_scopes: frozenset[str]) -> None:
    """Only the Admin Console app, with the API's scope, may call a publish API."""
    if not admin or kind not in admin_scopes:
        raise Refused(error(401, "Permission denied. Scope is incorrect!", 4002))


def check_status_query(pairs: list[tuple[str, str]]) -> None:
    if pairs:
        raise Refused(error(400, f"unexpected query parameter: {pairs[0][0]!r}"))


def post_fields(body: bytes) -> dict[str, Any]:
    """What a POST's body says, as far as it is a JSON object (recorded even when refused)."""
    try:
        document = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        document = None
    if not isinstance(document, dict):
        return {"version_comment": None, "initiate_training": None}
    return {
        "version_comment": document.get("versionComment"),
        "initiate_training": document.get("initiateTraining"),
    }


def check_body(body: bytes) -> tuple[str, bool]:
    """(versionComment, initiateTraining) of a POST's JSON body; 400 if not as documented."""
    try:
        document = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise Refused(error(400, "body must be a JSON object")) from None
    if not isinstance(document, dict):
        raise Refused(error(400, "body must be a JSON object"))
    comment = document.get("versionComment")
    if not isinstance(comment, str) or not comment.strip():
        raise Refused(error(400, "versionComment is required"))
    training = document.get("initiateTraining", True)
    if not isinstance(training, bool):
        raise Refused(error(400, "initiateTraining must be true or false"))
    return comment, training


def refusal(step: Fail, now: float) -> Answer:
    """The answer a scripted Fail gives."""
    return render(step, Script([(0.0, step)], "refused"), now, 0.0)


def new_job_id(seed: str) -> str:
    """A ``ds-`` job ID, UUID-shaped as Kore.ai's are, from a unique seed."""
    return "ds-" + _uuid_shaped(seed)


def dialog_resource_id(bot_id: str, name: str) -> str:
    """The ``dg-`` ID of a bot's dialog (the same for every publish)."""
    return "dg-" + _uuid_shaped(f"{bot_id}|{name}")


def _uuid_shaped(seed: str) -> str:
    digest = hashlib.sha256(seed.encode()).hexdigest()
    return f"{digest[:8]}-{digest[8:12]}-{digest[12:16]}-{digest[16:20]}-{digest[20:32]}"


def iso(moment: datetime) -> str:
    """ISO 8601 in UTC with milliseconds and ``Z``, as Kore.ai writes times."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
