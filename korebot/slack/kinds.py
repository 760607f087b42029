"""Each kind of training's slash command, and its name in messages.

One command per kind, with the same grammar (korebot.slack.parsing) and listeners
(korebot.slack.listeners.commands, which registers every command listed here).
"""

from __future__ import annotations

from korebot.kore import Kind, kinds

COMMANDS: dict[Kind, str] = {
    Kind.FAQ: "/faq-status",
    Kind.ML: "/ml-status",
    Kind.BATCH: "/batch-test",
}


def kind_of(command: str) -> Kind:
    """The kind of a slash command's name, as recorded (``/ml-status``: ML)."""
    return next((kind for kind, name in COMMANDS.items() if name == command), Kind.FAQ)


def command(kind: Kind) -> str:
    """The slash command of the kind: ``/faq-status``, ``/ml-status``."""
    return COMMANDS[kind]


def label(kind: Kind) -> str:
    """What messages call the kind: "FAQ", "ML"."""
    return kinds.spec(kind).label
