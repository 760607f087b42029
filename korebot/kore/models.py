"""Typed results of the Kore.ai FAQ training APIs."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from korebot.kore.errors import UnreadableResponse


class State(enum.StrEnum):
    """Which version of the bot the training belongs to."""

    CONFIGURED = "configured"
    PUBLISHED = "published"


class Status(enum.StrEnum):
    """Kore.ai's training status, with anything unexpected mapped to UNKNOWN."""

    SUCCESS = "success"
    IN_PROGRESS = "in-progress"
    FAILURE = "failure"
    UNKNOWN = "unknown"

    @classmethod
    def from_raw(cls, raw: str) -> Status:
        try:
            return cls(raw.strip().lower())
        except ValueError:
            return cls.UNKNOWN

    @property
    def is_final(self) -> bool:
        return self in (Status.SUCCESS, Status.FAILURE)


@dataclass(frozen=True)
class TrainingStatus:
    """One answer of the FAQ training status (or start-training) API."""

    status: Status
    raw_status: str
    message: str
    training_id: str | None
    modified_on: datetime | None
    modified_by: str | None

    @classmethod
    def from_json(cls, data: Any) -> TrainingStatus:
        if not isinstance(data, dict) or not isinstance(data.get("status"), str):
            raise UnreadableResponse(
                "Kore.ai answered without a training status (expected a JSON object with "
                f"a 'status' string, got {_describe(data)})."
            )
        raw = data["status"]
        return cls(
            status=Status.from_raw(raw),
            raw_status=raw,
            message=_optional_str(data.get("message")) or raw,
            training_id=_optional_str(data.get("_id")),
            modified_on=_parse_time(data.get("modifiedOn")),
            modified_by=_optional_str(data.get("lastModifiedBy")),
        )

    @classmethod
    def placeholder(cls, raw_status: str | None) -> TrainingStatus:
        """What is known of a training from its last recorded raw status alone."""
        raw = raw_status or Status.IN_PROGRESS.value
        return cls(Status.from_raw(raw), raw, raw, None, None, None)

    def as_json(self) -> dict[str, Any]:
        """Kore.ai's own shape, so that ``from_json(as_json())`` gives it back."""
        data: dict[str, Any] = {"status": self.raw_status, "message": self.message}
        if self.training_id:
            data["_id"] = self.training_id
        if self.modified_on:
            data["modifiedOn"] = self.modified_on.isoformat()
        if self.modified_by:
            data["lastModifiedBy"] = self.modified_by
        return data

    def as_dict(self) -> dict[str, Any]:
        return {
            "status": self.status.value,
            "raw_status": self.raw_status,
            "message": self.message,
            "training_id": self.training_id,
            "modified_on": self.modified_on.isoformat() if self.modified_on else None,
            "modified_by": self.modified_by,
        }


def _optional_str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    # Kore sends UTC with a Z; a naive value is taken as UTC rather than local time.
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _describe(data: Any) -> str:
    text = repr(data)
    return text if len(text) <= 80 else text[:77] + "..."
