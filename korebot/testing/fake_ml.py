"""The ML (NLU) training answers of the fake Kore.ai (korebot/testing/fake_kore.py).

Kore.ai's shape, written out here rather than taken from korebot's own reader, so that
the fake can hold the reader to it: ``trainingStatus`` ``Finished``, ``Inprogress`` or
``Failed`` (or anything scripted), one ``isMlInSyncWith…`` flag per part of the bot,
and ``trainDetails`` (``nlpVersion``, ``trainVersion``) when finished.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

#: The parts Kore.ai reports a flag for (``isMlInSyncWith`` + the part).
PARTS = (
    "Sentences",
    "Synonyms",
    "Mlparams",
    "Traits",
    "SmallTalk",
    "UBTraining",
    "EntityNode",
    "IntentNode",
    "Patterns",
    "BTUtterances",
)


@dataclass(frozen=True)
class MlStatus:
    """One scripted answer of the ML training status API (200 with Kore's JSON).

    ``train_version`` None: the script's own (1, then one more for each train POST);
    ``details`` None: ``trainDetails`` only when finished, as Kore.ai's samples have it.
    """

    status: str = "Finished"
    out_of_sync: tuple[str, ...] = ()
    train_version: int | None = None
    nlp_version: int = 3
    details: bool | None = None

    def __post_init__(self) -> None:
        unknown = set(self.out_of_sync) - set(PARTS)
        if unknown:
            raise ValueError(f"not parts Kore.ai reports: {sorted(unknown)}; use {PARTS}")


def document(step: MlStatus, version: int) -> dict[str, Any]:
    data: dict[str, Any] = {"trainingStatus": step.status}
    data |= {f"isMlInSyncWith{part}": part not in step.out_of_sync for part in PARTS}
    if step.details if step.details is not None else step.status == "Finished":
        trained = step.train_version if step.train_version is not None else version
        data["trainDetails"] = {"nlpVersion": step.nlp_version, "trainVersion": trained}
    return data


def queued(training_id: str) -> list[dict[str, str]]:
    """The answer to ``POST …/ml/train``."""
    return [{"message": "Training Queued.", "Training_ID": training_id}]
