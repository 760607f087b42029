"""The fake Kore.ai's scripts: the steps a test gives (`Status`, `MlStatus`, `Fail`, `Delay`,
`Drop`), the `Script` one training plays, and `render`, which turns a step into Kore.ai's
answer (status JSON, error, or a dropped connection).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from http import HTTPStatus

from korebot.testing import fake_ml
from korebot.testing.fake_ml import MlStatus
from korebot.testing.kore_checks import SCOPES
from korebot.testing.kore_http import Answer, error

__all__ = [
    "Answerable",
    "Delay",
    "Drop",
    "Fail",
    "Script",
    "Status",
    "Step",
    "group_steps",
    "render",
]

_DEFAULT_MESSAGES = {"success": "Success", "in-progress": "in-progress", "failure": "failure"}


@dataclass(frozen=True)
class Status:
    """One scripted answer of the status API (200 with Kore's status JSON)."""

    status: str = "success"
    message: str | None = None
    modified_on: datetime | None = None
    training_id: str | None = None
    modified_by: str = "u-00000000-0000-0000-0000-000000000001"


@dataclass(frozen=True)
class Fail:
    """A scripted error answer; the default body is Kore-style JSON naming the HTTP reason."""

    http_status: int
    body: str | None = None
    retry_after: float | None = None
    content_type: str = "application/json"

    def __post_init__(self) -> None:
        if not 100 <= self.http_status <= 599:
            raise ValueError(f"http_status must be 100-599, not {self.http_status}")
        if self.retry_after is not None and self.retry_after < 0:
            raise ValueError("retry_after must not be negative")


@dataclass(frozen=True)
class Delay:
    """Wait this many real seconds, then give the next step's answer (consumed with it)."""

    seconds: float

    def __post_init__(self) -> None:
        if self.seconds < 0:
            raise ValueError("Delay seconds must not be negative")


@dataclass(frozen=True)
class Drop:
    """Close the connection without answering (a network failure for the client)."""


Step = Status | MlStatus | Fail | Delay | Drop
Answerable = Status | MlStatus | Fail | Drop


@dataclass
class Script:
    """Units of (delay seconds, answer) for one (bot, language, state); the last one sticks."""

    units: list[tuple[float, Answerable]]
    training_id: str
    taken: int = 0
    #: The ML model's trainVersion while this script plays (one more after each train POST).
    version: int = 1

    def take(self) -> tuple[float, Answerable]:
        unit = self.units[min(self.taken, len(self.units) - 1)]
        self.taken += 1
        return unit


def _reason(http_status: int) -> str:
    try:
        return HTTPStatus(http_status).phrase
    except ValueError:
        return "Error"


def _seconds_header(seconds: float) -> str:
    return str(int(seconds)) if float(seconds).is_integer() else str(seconds)


def _iso_ms(moment: datetime) -> str:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def group_steps(steps: Sequence[Step], kind: str = "faq") -> list[tuple[float, Answerable]]:
    """Group each run of Delays with the step that follows it."""
    if not steps:
        raise ValueError("give at least one step")
    if kind not in SCOPES:
        raise ValueError(f"kind must be one of {tuple(SCOPES)}, not {kind!r}")
    result: list[tuple[float, Answerable]] = []
    delay = 0.0
    for step in steps:
        wrong = MlStatus if kind == "faq" else Status
        if isinstance(step, wrong):
            raise TypeError(f"a {kind} script takes no {type(step).__name__}: {step!r}")
        if isinstance(step, Delay):
            delay += step.seconds
        elif isinstance(step, Status | MlStatus | Fail | Drop):
            result.append((delay, step))
            delay = 0.0
        else:
            raise TypeError(f"not a step: {step!r}")
    if isinstance(steps[-1], Delay):
        raise ValueError("a script must not end with a Delay")
    return result


def render(step: Answerable, script: Script, now: float, delay: float) -> Answer:
    """The answer a step gives, after `delay` seconds (Delays before it)."""
    training_id = script.training_id
    if isinstance(step, Drop):
        return Answer(0, delay=delay, drop=True)
    if isinstance(step, Fail):
        if step.body is None:
            body = error(step.http_status, _reason(step.http_status)).body
        else:
            body = step.body.encode()
        headers: tuple[tuple[str, str], ...] = ()
        if step.retry_after is not None:
            headers = (("Retry-After", _seconds_header(step.retry_after)),)
        return Answer(step.http_status, body, step.content_type, headers, delay)
    if isinstance(step, MlStatus):
        body = json.dumps(fake_ml.document(step, script.version)).encode()
        return Answer(200, body, delay=delay)
    modified = step.modified_on or datetime.fromtimestamp(now, UTC)
    message = step.message
    if message is None:
        message = _DEFAULT_MESSAGES.get(step.status, step.status)
    document = {
        "_id": step.training_id or training_id,
        "message": message,
        "status": step.status,
        "__v": 0,
        "modifiedOn": _iso_ms(modified),
        "lastModifiedBy": step.modified_by,
    }
    return Answer(200, json.dumps(document).encode(), delay=delay)
