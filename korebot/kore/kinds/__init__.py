"""The kinds of Kore.ai job korebot follows, one module each, behind one protocol.

A kind's module (``protocol.Spec``) says how to read its answers into korebot's one
``JobStatus``, how to keep them, and how a *run* is told apart from the last one seen
(subscriptions announce each run once). A training kind (``protocol.Training``: FAQ, ML)
also says where its status API is and how to start one; a batch test run (``batch``) is
asked about by its run's request ID or through its suite's list of results, which its
module and ``KoreClient.job_status`` handle. The rest of korebot (gateway, engine,
store, Slack, CLI) only carries a ``Kind`` in its ``JobKey`` and asks ``spec(kind)``. A
new kind is one more module here, listed in ``_SPECS``, plus its words in the Slack
layer (``korebot.slack.kinds``).
"""

from __future__ import annotations

from korebot.kore.kinds import batch, faq, ml, publish
from korebot.kore.kinds.protocol import Request, Spec, Training
from korebot.kore.models import Kind

__all__ = ["Kind", "Request", "Spec", "Training", "spec", "training"]

_TRAININGS: dict[Kind, Training] = {Kind.FAQ: faq, Kind.ML: ml}
_SPECS: dict[Kind, Spec] = {**_TRAININGS, Kind.BATCH: batch, Kind.PUBLISH: publish}


def spec(kind: Kind) -> Spec:
    return _SPECS[kind]


def training(kind: Kind) -> Training:
    """The training kind's module; ValueError for a kind that is not a training."""
    try:
        return _TRAININGS[kind]
    except KeyError:
        raise ValueError(f"{kind.value} is not a kind of training") from None
