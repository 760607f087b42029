"""What the listeners need from the rest of the app."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from korebot.gateway import StatusGateway
from korebot.kore.kinds.batch import Bar
from korebot.ratelimit import KeyedWindows
from korebot.watch.engine import WatchEngine


@dataclass(frozen=True)
class Services:
    gateway: StatusGateway
    engine: WatchEngine
    allow_raw_ids: bool
    #: Commands per user (team, user) in a sliding minute.
    commands: KeyedWindows
    #: KOREBOT_TRAINERS: who may start any bot's trainings unless the bot names its own.
    trainers: tuple[str, ...] = ()
    #: KOREBOT_TESTERS: who may run any bot's batch tests unless the bot names its own
    #: (empty: anyone who may ask about the bot).
    testers: tuple[str, ...] = ()
    #: KOREBOT_PUBLISHERS: who may publish any bot unless the bot names its own (empty: nobody).
    publishers: tuple[str, ...] = ()
    #: A bot's batch test bar, by its name (``Config.bar_of``): a release's gate.
    bar_of: Callable[[str], Bar] = field(default=lambda _name: Bar())
