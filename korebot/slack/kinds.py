"""Each kind of job's slash command, and its name in messages.

One command per kind, all registered from korebot.slack.listeners.commands: the
trainings' share one grammar and its listeners; ``/batch-test`` has its own
(korebot.slack.parsing.parse_batch, korebot.slack.listeners.commands.batch_test).
"""

from __future__ import annotations

from korebot.kore import Kind, kinds

COMMANDS: dict[Kind, str] = {
    Kind.FAQ: "/faq-status",
    Kind.ML: "/ml-status",
    Kind.BATCH: "/batch-test",
    Kind.PUBLISH: "/publish-status",
}


def kind_of(command: str) -> Kind:
    """The kind of a slash command's name, as recorded (``/ml-status``: ML)."""
    return next((kind for kind, name in COMMANDS.items() if name == command), Kind.FAQ)


def command(kind: Kind) -> str:
    """The slash command of the kind: ``/faq-status``, ``/ml-status``."""
    return COMMANDS[kind]


def label(kind: Kind) -> str:
    """What messages call the kind: "FAQ", "ML", "batch test"."""
    return kinds.spec(kind).label
