"""ML (NLU) training: ``…/ml/train/status`` and ``POST …/ml/train``.

Kore.ai answers ``trainingStatus`` ``Finished``, ``Inprogress`` or ``Failed`` (anything
else is unknown, kept verbatim), ``isMlInSyncWith…`` flags (false: that part changed
since the last training, so one is due) and, when finished, ``trainDetails`` with
``nlpVersion`` and ``trainVersion``. There is no timestamp: a run is identified by its
final status and ``trainVersion``; a final answer is a new run when the version grew or
the final status changed (Finished after Failed, or the reverse). Two failed runs in a
row between two polls look like one: nothing in the answer tells them apart.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from korebot.kore.errors import UnreadableResponse
from korebot.kore.kinds.protocol import Request, one_call
from korebot.kore.models import JobStatus, Kind, State, Status, describe, optional_str

label = "ML"
scope = "Train ML"
admin_scope = "Test and Train > Train ML"
status_field = "trainingStatus"
admin_app = False

_STATUSES = {"finished": Status.SUCCESS, "inprogress": Status.IN_PROGRESS, "failed": Status.FAILURE}
_IN_SYNC = "isMlInSyncWith"
#: How the parts behind Kore's flags are called in messages (others: their suffix as is).
PARTS = {
    "Sentences": "sentences",
    "Synonyms": "synonyms",
    "Mlparams": "ML parameters",
    "Traits": "traits",
    "SmallTalk": "small talk",
    "UBTraining": "user-based training",
    "EntityNode": "entity nodes",
    "IntentNode": "intent nodes",
    "Patterns": "patterns",
    "BTUtterances": "bot-test utterances",
}


def _base(bot_id: str) -> str:
    return f"/api/public/bot/{quote(bot_id, safe='')}/ml/train"


def status_request(bot_id: str, language: str, state: State) -> Request:
    return Request("GET", _base(bot_id) + "/status", {"language": language, "state": state.value})


def train_request(bot_id: str, language: str) -> Request:
    # No body: the language goes in a header.
    return Request("POST", _base(bot_id), headers={"bot-language": language})


def status_of(raw: str) -> Status:
    return _STATUSES.get(raw.strip().lower(), Status.UNKNOWN)


def part_names(parts: tuple[str, ...]) -> list[str]:
    return [PARTS.get(part, part) for part in parts]


def _version(value: Any) -> int | None:
    # bool is an int in Python; Kore.ai's versions are plain numbers.
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def parse(data: Any) -> JobStatus:
    if not isinstance(data, dict) or not isinstance(data.get(status_field), str):
        raise UnreadableResponse(
            "Kore.ai answered without an ML training status (expected a JSON object with "
            f"a 'trainingStatus' string, got {describe(data)})."
        )
    raw = data[status_field]
    out_of_sync = tuple(
        key.removeprefix(_IN_SYNC)
        for key, value in data.items()
        if isinstance(key, str)
        and key.startswith(_IN_SYNC)
        and len(key) > len(_IN_SYNC)
        and value is False
    )
    details = data.get("trainDetails")
    details = details if isinstance(details, dict) else {}
    return JobStatus(
        status=status_of(raw),
        raw_status=raw,
        message=raw,
        training_id=optional_str(data.get("Training_ID")),
        modified_on=None,
        modified_by=None,
        kind=Kind.ML,
        out_of_sync=out_of_sync,
        nlp_version=_version(details.get("nlpVersion")),
        train_version=_version(details.get("trainVersion")),
    )


def parse_train(data: Any) -> JobStatus:
    """``[{"message": "Training Queued.", "Training_ID": "…"}]``: queued, so in progress."""
    first = data[0] if isinstance(data, list) and data else data
    if not isinstance(first, dict):
        raise UnreadableResponse(
            f"Kore.ai answered the ML training request with {describe(data)}, not its answer."
        )
    raw = "Inprogress"
    return JobStatus(
        status=Status.IN_PROGRESS,
        raw_status=raw,
        message=optional_str(first.get("message")) or raw,
        training_id=optional_str(first.get("Training_ID")),
        modified_on=None,
        modified_by=None,
        kind=Kind.ML,
    )


def placeholder(raw_status: str | None) -> JobStatus:
    raw = raw_status or "Inprogress"
    return JobStatus(status_of(raw), raw, raw, None, None, None, kind=Kind.ML)


def as_json(status: JobStatus) -> dict[str, Any]:
    data: dict[str, Any] = {status_field: status.raw_status}
    data |= {_IN_SYNC + part: False for part in status.out_of_sync}
    if status.training_id:
        data["Training_ID"] = status.training_id
    details = {"nlpVersion": status.nlp_version, "trainVersion": status.train_version}
    if any(value is not None for value in details.values()):
        data["trainDetails"] = {k: v for k, v in details.items() if v is not None}
    return data


def run_of(status: JobStatus) -> str | None:
    version = "" if status.train_version is None else str(status.train_version)
    return f"{status.status.value}|{version}"


def new_run(before: str | None, now: str | None) -> bool:
    if before is None or now is None:
        return before != now
    (was, _, old), (is_, _, new) = before.partition("|"), now.partition("|")
    if old.isdigit() and new.isdigit() and int(new) != int(old):
        return int(new) > int(old)
    return is_ != was


#: One Kore.ai call a poll.
calls = one_call
