"""The kinds of Kore.ai training korebot follows, one module each, behind one protocol.

A kind's module (``protocol.Spec``) says where its API is, how to read its answers into
korebot's one ``JobStatus``, how to start a training, and how a *run* is told apart
from the last one seen (subscriptions announce each run once). The rest of korebot
(gateway, engine, store, Slack, CLI) only carries a ``Kind`` in its ``JobKey`` and
asks ``spec(kind)``. A third kind is one more module here, listed in ``_SPECS``, plus its
words in the Slack layer (``korebot.slack.kinds``).

``batch`` (batch tests: run a suite, read its status and scores) sits beside them but is
not a training, so it has no ``Spec`` and is not in ``_SPECS``.
"""

from __future__ import annotations

from korebot.kore.kinds import faq, ml
from korebot.kore.kinds.protocol import Request, Spec
from korebot.kore.models import Kind

__all__ = ["Kind", "Request", "Spec", "spec"]

_SPECS: dict[Kind, Spec] = {Kind.FAQ: faq, Kind.ML: ml}


def spec(kind: Kind) -> Spec:
    return _SPECS[kind]
