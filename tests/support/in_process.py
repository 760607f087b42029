"""Listeners called as plain functions, in this process, with what Bolt would pass them.

`Listeners` holds real services: the registry from the configuration, the status gateway
against the fake Kore.ai, the watch engine on a SQLite file (its scheduler not started: no
polls), the notifier and `client` against the fake Slack. `respond()` is Bolt's own
`Respond`, posting to a response_url of the fake Slack, which records every answer.
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

from slack_bolt import Respond

from korebot import config
from korebot.gateway import StatusGateway
from korebot.ratelimit import KeyedWindows
from korebot.slack.app import web_client
from korebot.slack.listeners import Services
from korebot.slack.notifier import SlackNotifier
from korebot.testing.fake_kore import FakeKore
from korebot.testing.fake_slack import FakeSlack
from korebot.testing.slack_payloads import slash_command_fields
from korebot.watch.engine import WatchEngine
from support.slack_app import BOT, OTHER_BOT, app_env
from support.store import open_store

# `secret` may be asked about only in ALLOWED, only by BOSS; it has a default language.
ALLOWED, BOSS = "C0ALLOWED", "U0BOSS"
BOTS_FILE = (
    f'[bots.secret]\nid = "{OTHER_BOT}"\nlanguages = ["de"]\n'
    f'channels = ["{ALLOWED}"]\nusers = ["{BOSS}"]\n'
)
_languages = (a + b for a, b in itertools.product("abcdefghijklmnopqrstuvwxyz", repeat=2))


def new_language() -> str:
    """A language no other test of the module uses: one training each."""
    return next(_languages)


class Listeners:
    def __init__(
        self,
        kore: FakeKore,
        slack: FakeSlack,
        folder: Path,
        *,
        database_url: str | None = None,
        commands_per_minute: int = 10000,
        max_watches_per_channel: int = 20,
    ) -> None:
        self.kore, self.slack = kore, slack
        (folder / "korebot.toml").write_text(BOTS_FILE)
        env = app_env(
            kore, slack, folder / "korebot.db", KOREBOT_CONFIG=str(folder / "korebot.toml")
        )
        env["KOREBOT_BOTS"] = f"support={BOT}"
        loaded = config.load(env)
        self.store = open_store(
            database_url or loaded.settings.database_url, upgrade=database_url is None
        )
        self.client = web_client(slack.token, slack.api_url)
        self.engine = WatchEngine(
            self.store,
            StatusGateway(loaded.registry, fresh_for=0),
            SlackNotifier(self.client),
            poll_interval=60,
            watch_timeout=3600,
            max_watches_per_channel=max_watches_per_channel,
        )
        self.services = Services(
            self.engine.gateway,
            self.engine,
            allow_raw_ids=False,
            commands=KeyedWindows({60: commands_per_minute}),
        )

    def respond(self) -> Respond:
        """Bolt's `Respond` for a new response_url of the fake Slack."""
        return Respond(response_url=self.slack.response_url())

    def answers(self, respond: Respond) -> list[dict[str, Any]]:
        """Everything posted to that response_url, in order."""
        return [
            call.args
            for call in self.slack.calls_to("response_url")
            if call.args.get("_url") == respond.response_url
        ]

    def answer(self, respond: Respond) -> dict[str, Any]:
        """The one answer posted to that response_url."""
        (answer,) = self.answers(respond)
        return answer

    def close(self) -> None:
        self.engine.shutdown()
        self.store.dispose()


def command(text: str, channel: str, user: str = "U0ASKER") -> dict[str, Any]:
    """The `command` payload Bolt passes a slash command's listener."""
    return dict(slash_command_fields(text, channel_id=channel, user_id=user))
