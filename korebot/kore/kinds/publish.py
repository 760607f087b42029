"""Publishing a bot: ``POST …/publish`` and ``GET …/publish/status``, per bot (no language).

Both need a JWT of an **Admin Console** app ("Bot Publish > Publish" and "Publish
Status"), not the bot's App Builder app (``admin_app``). The POST answers an array with
one entry per resource and no job id: a dialog may come back ``awaitingApproval`` (an
admin approves it in the Admin Console, unless the bot auto-approves). The status call
reports only the bot's current or latest publish job, ``successful``, ``failed`` or
``inprogress``, with a per-resource summary; a job is told apart by its ``_id`` and
``requestedTime`` (its run identity here), and after korebot's own POST the first job
not older than the POST is korebot's (``ours``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote

from korebot.kore.errors import InvalidInput, UnreadableResponse
from korebot.kore.kinds.protocol import Request
from korebot.kore.models import (
    TRAININGS,
    JobStatus,
    Kind,
    State,
    Status,
    describe,
    optional_str,
    parse_time,
)
from korebot.kore.validation import shown

label = "publish"
#: The Admin Console app's scopes: the POST, and the status call.
scope = "Bot Publish > Publish"
admin_scope = "Bot Publish > Publish"
status_scope = "Bot Publish > Publish Status"
status_field = "status"
#: Its calls carry the Admin Console app's JWT, not the bot's own app's.
admin_app = True
#: A publish is per bot: its JobKey has no language, and is about the published version.
LANGUAGE = ""
STATE = State.PUBLISHED
#: How far korebot's clock may be ahead of Kore.ai's when it tells its own publish apart.
CLOCK_SKEW = timedelta(seconds=5)
#: What unblocks dialogs awaiting approval.
UNBLOCK = (
    "an admin approves them in the Admin Console (Bots Management > the bot > Publish "
    "requests), or turns on Auto Approve for the bot"
)
#: The longest version comment accepted (Kore.ai's own limit is not documented).
MAX_COMMENT = 500

_STATUSES = {
    "successful": Status.SUCCESS,
    "inprogress": Status.IN_PROGRESS,
    "failed": Status.FAILURE,
}


@dataclass(frozen=True)
class Resource:
    """One resource of a publish (dialog, NL, settings…) and how it went."""

    name: str
    type: str | None
    status: str | None

    @property
    def failed(self) -> bool:
        return (self.status or "").upper() not in ("", "SUCCESS")


@dataclass(frozen=True)
class Approval:
    """A dialog the POST answered ``awaitingApproval``, in these languages."""

    name: str
    languages: tuple[str, ...]


@dataclass(frozen=True)
class Published:
    """One training of the published version, followed after korebot's publish (and, in
    ``korebot release``, of the configured version after its train POST)."""

    kind: str
    language: str
    raw_status: str
    status: Status
    #: Seen in progress since the publish, and final answers seen so far: a training
    #: final before anyone saw it run is taken as done after ``SETTLE_CHECKS`` answers
    #: (Kore.ai may not retrain what did not change, or start a moment late).
    seen_running: bool = False
    finals: int = 0

    @property
    def done(self) -> bool:
        return self.status.is_final and (self.seen_running or self.finals >= SETTLE_CHECKS)

    def seen(self, status: Status, raw: str) -> Published:
        """This training after one more answer."""
        return replace(
            self,
            raw_status=raw,
            status=status,
            seen_running=self.seen_running or status is Status.IN_PROGRESS,
            finals=self.finals + 1 if status.is_final else self.finals,
        )


#: Final answers after which a published training never seen running counts as done.
SETTLE_CHECKS = 2


@dataclass(frozen=True)
class Publish:
    """One answer of the status call: the bot's current or latest publish job."""

    job_id: str | None
    raw_status: str
    percent: int | None
    requested_at: datetime | None
    initiated_at: datetime | None
    modified_at: datetime | None
    created_by: str | None
    resources: tuple[Resource, ...]
    #: What korebot's own POST said and sent (neither is in the status answer): the
    #: dialogs awaiting approval, and the version comment.
    awaiting: tuple[Approval, ...] = ()
    comment: str | None = None
    #: korebot's POST, less the clock skew (a job not older than it is korebot's), and the
    #: languages whose published trainings it follows after success (empty: none).
    posted_at: datetime | None = None
    languages: tuple[str, ...] = ()
    trainings: tuple[Published, ...] = ()
    #: The job the status showed before korebot's POST: never korebot's own, even if it
    #: ended within the clock skew of the POST.
    replaces: str | None = None

    @property
    def follows_trainings(self) -> bool:
        """Published successfully by korebot, which now follows the trainings it started."""
        return bool(self.languages) and status_of(self.raw_status) is Status.SUCCESS

    @property
    def failed_trainings(self) -> tuple[Published, ...]:
        return tuple(t for t in self.trainings if t.done and t.status is not Status.SUCCESS)

    @property
    def failed_resources(self) -> tuple[Resource, ...]:
        return tuple(resource for resource in self.resources if resource.failed)

    def as_dict(self) -> dict[str, Any]:
        return {
            "job_id": self.job_id,
            "status": self.raw_status,
            "percent": self.percent,
            "requested_at": _iso(self.requested_at),
            "created_by": self.created_by,
            "resources": [
                {"name": r.name, "type": r.type, "status": r.status} for r in self.resources
            ],
            "awaiting_approval": [
                {"name": a.name, "languages": list(a.languages)} for a in self.awaiting
            ],
            "comment": self.comment,
        }


@dataclass(frozen=True)
class Started:
    """What the POST answered: each resource, and the dialogs awaiting approval."""

    resources: tuple[Resource, ...]
    awaiting: tuple[Approval, ...]


# -- requests ----------------------------------------------------------------------------


def _base(bot_id: str) -> str:
    return f"/api/public/bot/{quote(bot_id, safe='')}/publish"


def status_request(bot_id: str) -> Request:
    return Request("GET", _base(bot_id) + "/status")


def publish_request(bot_id: str, comment: str, train: bool) -> Request:
    return Request(
        "POST",
        _base(bot_id),
        json={"versionComment": version_comment(comment), "initiateTraining": train},
    )


def version_comment(value: str) -> str:
    """The comment as given, or InvalidInput: non-empty, at most MAX_COMMENT characters,
    no control characters (checked before any request)."""
    text = " ".join(value.split()) if isinstance(value, str) else ""
    if not text:
        raise InvalidInput("A publish needs a version comment.")
    if len(text) > MAX_COMMENT:
        raise InvalidInput(f"A version comment has at most {MAX_COMMENT} characters.")
    if any(not ch.isprintable() for ch in text):
        raise InvalidInput(f"{shown(text)} holds control or invisible characters.")
    return text


# -- answers -----------------------------------------------------------------------------


def status_of(raw: str) -> Status:
    return _STATUSES.get(raw.strip().lower(), Status.UNKNOWN)


def _resource(data: Any) -> Resource | None:
    if not isinstance(data, dict):
        return None
    result = _object(data.get("result"))
    name = (
        optional_str(data.get("name"))
        or optional_str(result.get("name"))
        or optional_str(data.get("resourceId"))
        or optional_str(data.get("resourceType"))
    )
    if name is None:
        return None
    return Resource(name, optional_str(data.get("resourceType")), optional_str(data.get("status")))


def parse_start(data: Any) -> Started:
    """The POST's array: each resource, and the dialogs left ``awaitingApproval``."""
    if not isinstance(data, list):
        raise UnreadableResponse(
            f"Kore.ai answered the publish request with {describe(data)}, not its resources."
        )
    resources, awaiting = [], []
    for item in data:
        resource = _resource(item)
        if resource is None:
            continue
        resources.append(resource)
        result = _object(item.get("result"))
        if str(result.get("state", "")).lower() == "awaitingapproval":
            languages = result.get("approvalRequestedLanguages")
            langs = (
                tuple(x for x in languages if isinstance(x, str))
                if isinstance(languages, list)
                else ()
            )
            awaiting.append(Approval(resource.name, langs))
    return Started(tuple(resources), tuple(awaiting))


#: The status of a bot never published (Kore.ai answers an empty object, or 404).
NEVER = "never published"


def parse_publish(data: Any) -> Publish:
    if data == {}:
        return Publish(None, NEVER, None, None, None, None, None, ())
    if not isinstance(data, dict) or not isinstance(data.get(status_field), str):
        raise UnreadableResponse(
            "Kore.ai answered without a publish status (expected a JSON object with a "
            f"'status' string, got {describe(data)})."
        )
    summary = data.get("statusSummary")
    resources = tuple(
        r
        for r in (_resource(item) for item in (summary if isinstance(summary, list) else []))
        if r is not None
    )
    percent = data.get("percentageComplete")
    own = _object(data.get(_OWN))
    comment = optional_str(own.get("comment"))
    languages = own.get("languages")
    trainings = tuple(
        Published(
            str(item.get("kind")),
            str(item.get("language")),
            str(item.get("raw_status")),
            Status(item.get("status", Status.UNKNOWN.value)),
            item.get("seen_running") is True,
            int(item.get("finals") or 0),
        )
        for item in own.get("trainings", [])
        if isinstance(item, dict)
    )
    awaiting = tuple(
        Approval(str(item.get("name")), tuple(str(x) for x in item.get("languages", [])))
        for item in own.get("awaiting", [])
        if isinstance(item, dict) and item.get("name")
    )
    return Publish(
        job_id=optional_str(data.get("_id")),
        raw_status=data[status_field],
        percent=percent if isinstance(percent, int) and not isinstance(percent, bool) else None,
        requested_at=parse_time(data.get("requestedTime")),
        initiated_at=parse_time(data.get("initiatedOn")),
        modified_at=parse_time(data.get("lastModifiedOn")),
        created_by=optional_str(data.get("createdBy")),
        resources=resources,
        awaiting=awaiting,
        comment=comment,
        posted_at=parse_time(own.get("posted_at")),
        languages=tuple(str(x) for x in languages) if isinstance(languages, list) else (),
        trainings=trainings,
        replaces=optional_str(own.get("replaces")),
    )


def following(publish: Publish, last: JobStatus | None) -> Publish:
    """The status call's answer with what korebot knows of the same job from its POST and
    earlier polls (approvals, comment, the published trainings followed), kept from the
    last answer: the same job ID, or, before korebot saw its job, the first not older
    than its POST but the one seen before it."""
    before = last.publish if last is not None else None
    if before is None:
        return publish
    same = before.job_id is not None and before.job_id == publish.job_id
    first = (
        before.job_id is None
        and before.posted_at is not None
        and ours(publish, before.posted_at)
        and publish.job_id != before.replaces  # the job seen before the POST is not its own
    )
    if not (same or first):
        return publish
    return replace(
        publish,
        awaiting=before.awaiting,
        comment=before.comment,
        posted_at=before.posted_at,
        languages=before.languages,
        trainings=before.trainings,
        replaces=before.replaces,
    )


def trained(job: Publish, read: Callable[[Kind, str], JobStatus]) -> Publish:
    """The job with one more answer for each published training it follows that is not
    done yet (``read(kind, language)``: that training's status, published version)."""
    known = {(t.kind, t.language): t for t in job.trainings}
    followed = []
    for language in job.languages:
        for kind in TRAININGS:
            training = known.get((kind.value, language)) or Published(
                kind.value, language, "", Status.UNKNOWN
            )
            if not training.done:
                answer = read(kind, language)
                training = training.seen(answer.status, answer.raw_status)
            followed.append(training)
    return replace(job, trainings=tuple(followed))


def calls(last: JobStatus | None) -> int:
    """Kore.ai calls the next poll may make: the status, and one per published training
    still followed (the budget is spent for each)."""
    job = last.publish if last is not None else None
    if job is None or not job.languages:
        return 1
    done = {(t.kind, t.language) for t in job.trainings if t.done}
    return 1 + len(job.languages) * len(TRAININGS) - len(done)


def ours(publish: Publish, posted_at: datetime) -> bool:
    """Whether the job is the one korebot's POST at ``posted_at`` started: the first not
    older than the POST (its ``requestedTime``; a job without one is not korebot's)."""
    return publish.requested_at is not None and publish.requested_at >= posted_at


# -- the kinds' Spec ---------------------------------------------------------------------

#: Where korebot keeps what it knows beside Kore.ai's shape (the dialogs awaiting approval).
_OWN = "korebot"


def as_status(publish: Publish) -> JobStatus:
    """korebot's status of the job: a successful publish whose published trainings korebot
    follows is in progress until they are done, then a success only if they all are."""
    status, message = status_of(publish.raw_status), publish.raw_status
    if publish.follows_trainings:
        expected = len(publish.languages) * 2  # FAQ and ML, each language
        done = [t for t in publish.trainings if t.done]
        if len(done) < expected:
            status, message = Status.IN_PROGRESS, "published; training the published version"
        elif publish.failed_trainings:
            status = Status.FAILURE
    return JobStatus(
        status=status,
        raw_status=publish.raw_status,
        message=message,
        training_id=publish.job_id,
        modified_on=publish.modified_at or publish.requested_at,
        modified_by=publish.created_by,
        kind=Kind.PUBLISH,
        publish=publish,
    )


def parse(data: Any) -> JobStatus:
    return as_status(parse_publish(data))


def as_json(status: JobStatus) -> dict[str, Any]:
    job = status.publish
    if job is None:
        return {status_field: status.raw_status}
    data: dict[str, Any] = {
        name: value
        for name, value in (
            ("_id", job.job_id),
            ("status", job.raw_status),
            ("percentageComplete", job.percent),
            ("requestedTime", _iso(job.requested_at)),
            ("initiatedOn", _iso(job.initiated_at)),
            ("lastModifiedOn", _iso(job.modified_at)),
            ("createdBy", job.created_by),
        )
        if value is not None
    }
    data["statusSummary"] = [
        {"name": r.name, "resourceType": r.type, "status": r.status} for r in job.resources
    ]
    own: dict[str, Any] = {}
    if job.awaiting:
        own["awaiting"] = [{"name": a.name, "languages": list(a.languages)} for a in job.awaiting]
    if job.comment:
        own["comment"] = job.comment
    if job.posted_at:
        own["posted_at"] = job.posted_at.isoformat()
    if job.languages:
        own["languages"] = list(job.languages)
    if job.replaces:
        own["replaces"] = job.replaces
    if job.trainings:
        own["trainings"] = [
            {"kind": t.kind, "language": t.language, "raw_status": t.raw_status,
             "status": t.status.value, "seen_running": t.seen_running, "finals": t.finals}
            for t in job.trainings
        ]  # fmt: skip
    return {**data, _OWN: own} if own else data


def placeholder(raw_status: str | None) -> JobStatus:
    raw = raw_status or "inprogress"
    return JobStatus(status_of(raw), raw, raw, None, None, None, kind=Kind.PUBLISH)


def run_of(status: JobStatus) -> str | None:
    job = status.publish
    if job is None or (job.job_id is None and job.requested_at is None):
        return None
    return f"{job.job_id or ''}|{_iso(job.requested_at) or ''}"


def new_run(before: str | None, now: str | None) -> bool:
    return now != before


def _object(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None
