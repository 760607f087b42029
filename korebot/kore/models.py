"""Typed results of Kore.ai's job APIs (FAQ and ML trainings, batch test runs), any kind."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the kinds' modules build on this one
    from korebot.kore.kinds.batch import BatchRun, PastResult
    from korebot.kore.kinds.publish import Publish


class State(enum.StrEnum):
    """Which version of the bot a job is about (trained, or tested)."""

    CONFIGURED = "configured"
    PUBLISHED = "published"


class Kind(enum.StrEnum):
    """Which kind of Kore.ai job: training the FAQs (Knowledge Graph) or the ML (NLU)
    model, running a batch test suite, or publishing the bot.

    Each kind has a module in korebot.kore.kinds that speaks its Kore.ai API.
    """

    FAQ = "faq"
    ML = "ml"
    BATCH = "batch"
    PUBLISH = "publish"

    @property
    def is_training(self) -> bool:
        return self in TRAININGS


#: The kinds that are trainings (korebot.kore.kinds.protocol.Training), in display order.
TRAININGS: tuple[Kind, ...] = (Kind.FAQ, Kind.ML)


class Status(enum.StrEnum):
    """A job's status in korebot's words (each kind maps Kore.ai's), anything unexpected UNKNOWN."""

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
class JobStatus:
    """One answer of a job's status (or start) API, of any kind.

    The ML-only facts (``out_of_sync``, ``nlp_version``, ``train_version``) are empty for
    other answers; ``modified_on`` and ``modified_by`` are None for ML ones (Kore.ai sends
    none); the batch-only ones (``batch``, ``previous``) are None for trainings.
    """

    status: Status
    raw_status: str
    message: str
    training_id: str | None
    modified_on: datetime | None
    modified_by: str | None
    kind: Kind = Kind.FAQ
    #: The parts of the bot the ML model is not in sync with (Kore's ``isMlInSyncWith…``
    #: suffixes whose flag is false, e.g. "Synonyms"): a training is due.
    out_of_sync: tuple[str, ...] = ()
    nlp_version: int | None = None
    train_version: int | None = None
    #: A batch test run: the run's answer (scores, counts, report, progress), and the
    #: suite's previous completed run of the same version and language (the comparison).
    batch: BatchRun | None = None
    previous: PastResult | None = None
    #: A publish job: its state, resources and any dialogs awaiting approval.
    publish: Publish | None = None

    @classmethod
    def from_json(cls, data: Any, kind: Kind = Kind.FAQ) -> JobStatus:
        """Read a status answer of the kind's API (or what ``as_json`` wrote)."""
        from korebot.kore import kinds  # the kinds' modules build on this one

        return kinds.spec(kind).parse(data)

    @classmethod
    def placeholder(cls, raw_status: str | None, kind: Kind = Kind.FAQ) -> JobStatus:
        """What is known of a training from its last recorded raw status alone."""
        from korebot.kore import kinds

        return kinds.spec(kind).placeholder(raw_status)

    def as_json(self) -> dict[str, Any]:
        """Kore.ai's own shape for the kind: ``from_json(as_json(), kind)`` gives it back."""
        from korebot.kore import kinds

        return kinds.spec(self.kind).as_json(self)

    def as_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "kind": self.kind.value,
            "status": self.status.value,
            "raw_status": self.raw_status,
            "message": self.message,
            "training_id": self.training_id,
            "modified_on": self.modified_on.isoformat() if self.modified_on else None,
            "modified_by": self.modified_by,
        }
        if self.kind is Kind.ML:
            data |= {
                "out_of_sync": list(self.out_of_sync),
                "nlp_version": self.nlp_version,
                "train_version": self.train_version,
            }
        if self.publish is not None:
            data["publish"] = self.publish.as_dict()
        if self.batch is not None:
            data |= {
                "run": self.batch.as_dict(),
                "previous": self.previous.as_dict() if self.previous else None,
            }
        return data


def optional_str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    # Kore sends UTC with a Z; a naive value is taken as UTC rather than local time.
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def describe(data: Any) -> str:
    text = repr(data)
    return text if len(text) <= 80 else text[:77] + "..."
