"""FAQ (Knowledge Graph) training: ``…/faqs/train/status`` and ``POST …/faqs/train``.

Kore.ai answers ``{"_id", "status", "message", "modifiedOn", "lastModifiedBy"}`` with
``status`` ``success``, ``in-progress`` or ``failure``; a run is identified by its
``modifiedOn`` (else its ``_id``): final again with another one is a new run.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from korebot.kore.errors import UnreadableResponse
from korebot.kore.kinds.protocol import Request, one_call
from korebot.kore.models import (
    JobStatus,
    State,
    Status,
    describe,
    optional_str,
    parse_time,
)

label = "FAQ"
scope = "Train FAQ"
admin_scope = "Test and Train > Train FAQ"
status_field = "status"
admin_app = False


def _base(bot_id: str) -> str:
    return f"/api/public/bot/{quote(bot_id, safe='')}/faqs/train"


def status_request(bot_id: str, language: str, state: State) -> Request:
    return Request("GET", _base(bot_id) + "/status", {"language": language, "state": state.value})


def train_request(bot_id: str, language: str) -> Request:
    return Request("POST", _base(bot_id), json={"language": language})


def status_of(raw: str) -> Status:
    return Status.from_raw(raw)


def parse(data: Any) -> JobStatus:
    if not isinstance(data, dict) or not isinstance(data.get("status"), str):
        raise UnreadableResponse(
            "Kore.ai answered without a training status (expected a JSON object with "
            f"a 'status' string, got {describe(data)})."
        )
    raw = data["status"]
    return JobStatus(
        status=status_of(raw),
        raw_status=raw,
        message=optional_str(data.get("message")) or raw,
        training_id=optional_str(data.get("_id")),
        modified_on=parse_time(data.get("modifiedOn")),
        modified_by=optional_str(data.get("lastModifiedBy")),
    )


#: Starting a training answers in the status call's shape.
parse_train = parse


def placeholder(raw_status: str | None) -> JobStatus:
    raw = raw_status or Status.IN_PROGRESS.value
    return JobStatus(status_of(raw), raw, raw, None, None, None)


def as_json(status: JobStatus) -> dict[str, Any]:
    data: dict[str, Any] = {"status": status.raw_status, "message": status.message}
    if status.training_id:
        data["_id"] = status.training_id
    if status.modified_on:
        data["modifiedOn"] = status.modified_on.isoformat()
    if status.modified_by:
        data["lastModifiedBy"] = status.modified_by
    return data


def run_of(status: JobStatus) -> str | None:
    return status.modified_on.isoformat() if status.modified_on else status.training_id


def new_run(before: str | None, now: str | None) -> bool:
    return now != before


#: One Kore.ai call a poll.
calls = one_call
