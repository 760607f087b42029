"""The bots korebot knows: aliases, their Kore.ai host, credentials and languages."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import httpx

from korebot.kore import Credentials, InvalidInput, Kind, KoreClient, RetryPolicy, State, validation


class AdminCredentialsMissing(InvalidInput):
    """Publishing needs an Admin Console app, and none is configured for the bot."""

    kind = "admin_credentials_missing"


class UnknownBot(InvalidInput):
    """The name is neither a configured alias nor an accepted raw bot ID."""

    kind = "unknown_bot"


@dataclass(frozen=True)
class JobKey:
    """One job korebot can follow: a bot's FAQ or ML training, or one of its batch test
    suites (``subject``: the suite's name), in one language and state.

    The gateway shares calls and answers by it, the watch store keeps one target row
    per key (``str(key)`` is that row's unique key), and commands name one with it.
    Its kind separates a bot's jobs everywhere, but not its rate budget (``bot``):
    Kore.ai counts every kind's calls together.
    """

    host: str
    bot_id: str
    language: str
    state: State
    kind: Kind = Kind.FAQ
    subject: str = ""

    @classmethod
    def of(
        cls, bot: Bot, language: str, state: State, kind: Kind = Kind.FAQ, subject: str = ""
    ) -> JobKey:
        return cls(bot.host, bot.bot_id, language, state, kind, subject)

    @classmethod
    def parse(cls, text: str, subject: str = "") -> JobKey:
        """The key ``str(key)`` wrote, with its subject (kept beside it: see ``__str__``)."""
        host, bot_id, language, state, kind = text.split("|")[:5]
        return cls(host, bot_id, language, State(state), Kind(kind), subject)

    @property
    def bot(self) -> tuple[str, str]:
        """(host, bot ID): what Kore.ai's rate limit is counted by."""
        return self.host, self.bot_id

    def __str__(self) -> str:
        text = f"{self.host}|{self.bot_id}|{self.language}|{self.state.value}|{self.kind.value}"
        if not self.subject:
            return text
        # A suite's name may hold any character and 200 of them: the key names it by a
        # digest (fixed length, no separator), and rows keep the name itself beside it.
        return f"{text}|{hashlib.sha256(self.subject.encode()).hexdigest()[:24]}"


@dataclass(frozen=True)
class Bot:
    """One Kore.ai bot as configured: where it lives and how to authenticate."""

    bot_id: str
    alias: str | None
    host: str
    credentials: Credentials
    languages: tuple[str, ...] = ()
    #: Slack channel IDs allowed to ask about this bot (empty: any channel).
    channels: tuple[str, ...] = ()
    #: Slack user IDs allowed to ask about this bot (empty: anyone).
    users: tuple[str, ...] = ()
    #: Slack user IDs allowed to start its trainings (None: KOREBOT_TRAINERS decides).
    trainers: tuple[str, ...] | None = None
    #: Slack user IDs allowed to run its batch tests (None: KOREBOT_TESTERS decides).
    testers: tuple[str, ...] | None = None
    #: Slack user IDs allowed to publish it (None: KOREBOT_PUBLISHERS decides).
    publishers: tuple[str, ...] | None = None
    #: Batch tests: the F1 a run must reach, and the drop tolerated (None: the defaults).
    min_f1: float | None = None
    max_f1_drop: float | None = None
    #: The Admin Console app that publishes it (None: publishing is not configured).
    admin_credentials: Credentials | None = None

    @property
    def name(self) -> str:
        """The alias when there is one, else the bot ID."""
        return self.alias or self.bot_id

    @property
    def label(self) -> str:
        return f"{self.alias} ({self.bot_id})" if self.alias else self.bot_id


class BotRegistry:
    """Resolves what a user typed to a Bot, and hands out one client per JWT app."""

    def __init__(
        self,
        bots: Iterable[Bot],
        *,
        default_host: str,
        default_credentials: Credentials | None,
        default_admin_credentials: Credentials | None = None,
    ) -> None:
        self._bots = {bot.alias.lower(): bot for bot in bots if bot.alias}
        self.default_host = default_host
        self.default_credentials = default_credentials
        self.default_admin_credentials = default_admin_credentials
        #: The retry policy of the clients handed out (set before the first one).
        self.retry = RetryPolicy()
        #: Seconds to wait for one answer (KORE_TIMEOUT), for the clients handed out.
        self.timeout = 10.0
        self._clients: dict[tuple[str, str], KoreClient] = {}
        self._lock = threading.Lock()

    def __iter__(self) -> Iterator[Bot]:
        return iter(sorted(self._bots.values(), key=lambda bot: bot.name))

    def __len__(self) -> int:
        return len(self._bots)

    def resolve(self, name: str, *, allow_raw_id: bool = True) -> Bot:
        """Find a bot by alias (case-insensitive) or, when allowed, by raw bot ID."""
        bot = self._bots.get(name.lower())
        if bot is not None:
            return bot
        if validation.is_bot_id(name):
            bot_id = name.lower()
            for known in self._bots.values():
                if known.bot_id == bot_id:
                    return known
            if not allow_raw_id:
                raise UnknownBot(
                    f"Bot ID {bot_id} is not configured here; ask an admin to add it "
                    f"to KOREBOT_BOTS. {self._known()}"
                )
            if self.default_credentials is None:
                raise UnknownBot(
                    "No Kore.ai credentials for raw bot IDs: set KORE_CLIENT_ID and "
                    "KORE_CLIENT_SECRET."
                )
            return Bot(
                bot_id,
                None,
                self.default_host,
                self.default_credentials,
                admin_credentials=self.default_admin_credentials,
            )
        shown = validation.shown(name)
        raise UnknownBot(f"No bot called {shown}. {self._known()}")

    def client(self, bot: Bot, *, admin: bool = False) -> KoreClient:
        """The shared client for the bot's host and JWT app (connections are pooled):
        its own App Builder app, or (``admin``) the Admin Console app that publishes it;
        AdminCredentialsMissing when it has none."""
        credentials = bot.credentials
        if admin:
            if bot.admin_credentials is None:
                raise AdminCredentialsMissing(
                    f"Publishing {bot.name} needs an Admin Console app (Bot Admin Console > "
                    "Security & Control > API Scopes, with Bot Publish > Publish and Publish "
                    "Status): set KORE_ADMIN_CLIENT_ID and KORE_ADMIN_CLIENT_SECRET, or the "
                    "bot's admin_client_id and admin_client_secret_env in the KOREBOT_CONFIG file."
                )
            credentials = bot.admin_credentials
        key = (bot.host, credentials.client_id)
        with self._lock:
            client = self._clients.get(key)
            if client is None:
                client = self._clients[key] = KoreClient(
                    bot.host,
                    credentials,
                    retry=self.retry,
                    timeout=httpx.Timeout(self.timeout, connect=min(self.timeout, 5.0)),
                )
            return client

    def close(self) -> None:
        with self._lock:
            for client in self._clients.values():
                client.close()
            self._clients.clear()

    def _known(self) -> str:
        if not self._bots:
            return "No aliases are configured (KOREBOT_BOTS); use a bot ID such as st-…"
        return "Known bots: " + ", ".join(bot.name for bot in self) + "."
