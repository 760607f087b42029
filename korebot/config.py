"""Configuration from environment variables and an optional TOML file.

Everything can be set with config vars alone (Heroku-like platforms); the file
named by ``KOREBOT_CONFIG`` adds per-bot hosts, credentials, languages and
channel rules. Secrets are only ever read from the environment.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from korebot.errors import ConfigError as ConfigError  # raised here; the class is in the tree
from korebot.kore import Credentials, InvalidInput, validation
from korebot.kore.kinds import batch
from korebot.registry import Bot, BotRegistry

#: The environment URL Kore.ai's current API documentation uses.
DEFAULT_KORE_HOST = "https://platform.kore.ai"
#: Kore.ai's older cloud host, which still serves older accounts.
LEGACY_KORE_HOST = "https://bots.kore.ai"
T = TypeVar("T")
_ALIAS = re.compile(r"[a-z0-9][a-z0-9_.-]{0,39}", re.IGNORECASE)
# Words of /faq-status itself cannot be bot aliases.
_RESERVED = frozenset({"help", "list", "bots", "stop", "subscribe", "unsubscribe", "train"})


class Settings(BaseSettings):
    """Environment variables (names are the field names in upper case)."""

    model_config = SettingsConfigDict(extra="ignore", case_sensitive=False)

    kore_host: str = DEFAULT_KORE_HOST
    kore_client_id: str | None = None
    kore_client_secret: SecretStr | None = None
    #: The Admin Console app that publishing needs (every other call uses the bot's app).
    kore_admin_client_id: str | None = None
    kore_admin_client_secret: SecretStr | None = None
    #: Seconds to wait for one Kore.ai answer (connecting: at most 5 s of it). The 10 s
    #: default suits Kore.ai; tests set it short to inject timeouts quickly.
    kore_timeout: float = Field(default=10.0, gt=0)
    korebot_bots: str = ""
    korebot_config: Path | None = None

    slack_bot_token: SecretStr | None = None
    slack_signing_secret: SecretStr | None = None
    slack_app_token: SecretStr | None = None
    slack_api_url: str = "https://slack.com/api/"

    database_url: str = "sqlite:///korebot.db"
    korebot_poll_interval: float = Field(default=30.0, gt=0)
    korebot_watch_timeout: float = Field(default=4 * 3600.0, gt=0)
    #: Ceiling for polls of a long-running training (they start at the poll interval).
    korebot_poll_max_interval: float | None = Field(default=None, gt=0)
    #: Pace a training's polls by its usual duration (from its past runs): sparse early,
    #: dense around its usual end. Off: the backoff above alone, as for a first run.
    korebot_poll_from_history: bool = True
    #: Polls for subscriptions while no training runs.
    korebot_subscription_interval: float = Field(default=60.0, gt=0)
    #: Seconds an answer from Kore.ai is reused for new asks about the same training.
    korebot_status_cache: float = Field(default=5.0, ge=0)
    #: Kore.ai's design-time rate limit per bot, shared by everything korebot asks.
    korebot_kore_calls_per_minute: int = Field(default=60, gt=0)
    korebot_kore_calls_per_hour: int = Field(default=1800, gt=0)
    #: Limits that keep one channel, workspace or user from exhausting the app.
    korebot_max_watches_per_channel: int = Field(default=20, gt=0)
    korebot_max_watches_per_workspace: int = Field(default=500, gt=0)
    korebot_commands_per_user_per_minute: int = Field(default=20, gt=0)
    #: After a crash mid-post, how long until the message is checked for and retried.
    korebot_delivery_lease: float = Field(default=30.0, gt=0)
    #: Whether Slack users may ask about bot IDs that are not configured aliases.
    korebot_allow_raw_ids: bool = False
    #: Slack user IDs (comma-separated) who may start trainings of every bot; empty: nobody.
    korebot_trainers: str = ""
    #: Slack user IDs (comma-separated) who may run every bot's batch tests; empty: anyone
    #: who may ask about the bot.
    korebot_testers: str = ""
    #: Slack user IDs (comma-separated) who may publish every bot; empty: nobody.
    korebot_publishers: str = ""
    #: Days an ended watch is kept before it is deleted (the run history is kept).
    korebot_keep_days: float = Field(default=30.0, gt=0)
    #: Batch tests (`korebot test`): the F1 a run must reach (unset: no bar), and how far
    #: below the previous completed run's F1 it may fall.
    korebot_min_f1: float | None = Field(default=None, ge=0, le=1)
    korebot_max_f1_drop: float = Field(default=0.02, ge=0, le=1)
    port: int = Field(default=3000, ge=0, le=65535)
    log_level: str = "INFO"

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Only what load() passes in: its environ mapping, never os.environ behind its back.
        return (init_settings,)


class BotEntry(BaseModel):
    """One ``[bots.ALIAS]`` table of the TOML file."""

    model_config = ConfigDict(extra="forbid")

    id: str
    host: str | None = None
    client_id: str | None = None
    #: The *name* of the environment variable holding the secret, never the secret.
    client_secret_env: str | None = None
    #: Its Admin Console app for publishing (instead of KORE_ADMIN_CLIENT_ID/_SECRET).
    admin_client_id: str | None = None
    admin_client_secret_env: str | None = None
    languages: list[str] = []
    channels: list[str] = []
    #: Slack user IDs allowed to ask (empty: anyone in an allowed channel).
    users: list[str] = []
    #: Slack user IDs who may start its trainings (replaces KOREBOT_TRAINERS for this bot).
    trainers: list[str] | None = None
    #: Slack user IDs who may run its batch tests (replaces KOREBOT_TESTERS for this bot).
    testers: list[str] | None = None
    #: Slack user IDs who may publish it (replaces KOREBOT_PUBLISHERS for this bot).
    publishers: list[str] | None = None
    #: Batch tests: this bot's bar and tolerated drop (instead of KOREBOT_MIN_F1 and
    #: KOREBOT_MAX_F1_DROP).
    min_f1: float | None = Field(default=None, ge=0, le=1)
    max_f1_drop: float | None = Field(default=None, ge=0, le=1)


class FileConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    bots: dict[str, BotEntry] = {}


@dataclass(frozen=True)
class Config:
    settings: Settings
    registry: BotRegistry

    @property
    def trainers(self) -> tuple[str, ...]:
        """KOREBOT_TRAINERS: who may start any bot's trainings (a bot's ``trainers`` aside)."""
        return _users(self.settings.korebot_trainers)

    @property
    def testers(self) -> tuple[str, ...]:
        """KOREBOT_TESTERS: who may run any bot's batch tests (a bot's ``testers`` aside);
        empty: anyone who may ask about the bot."""
        return _users(self.settings.korebot_testers)

    @property
    def publishers(self) -> tuple[str, ...]:
        """KOREBOT_PUBLISHERS: who may publish any bot (a bot's ``publishers`` aside)."""
        return _users(self.settings.korebot_publishers)

    def bar(self, bot: Bot) -> batch.Bar:
        """The batch test bar of a bot: its ``min_f1`` and ``max_f1_drop`` from the TOML
        file, else KOREBOT_MIN_F1 and KOREBOT_MAX_F1_DROP."""
        s = self.settings
        min_f1 = bot.min_f1 if bot.min_f1 is not None else s.korebot_min_f1
        drop = bot.max_f1_drop if bot.max_f1_drop is not None else s.korebot_max_f1_drop
        return batch.Bar(min_f1, drop)

    def bar_of(self, bot_name: str) -> batch.Bar:
        """``bar`` by the bot's name (a bot no longer configured: the defaults)."""
        try:
            return self.bar(self.registry.resolve(bot_name))
        except InvalidInput:
            return self.bar(Bot(bot_name, None, "", Credentials("", "")))

    def require_slack(self) -> None:
        """Check what serving Slack needs on top of the Kore.ai settings."""
        s = self.settings
        problems = []
        if not _secret(s.slack_bot_token):
            problems.append("SLACK_BOT_TOKEN is not set (Slack app > OAuth & Permissions).")
        if not _secret(s.slack_app_token) and not _secret(s.slack_signing_secret):
            problems.append(
                "SLACK_SIGNING_SECRET is not set (Slack app > Basic Information > App "
                "Credentials); or set SLACK_APP_TOKEN for Socket Mode."
            )
        if problems:
            raise ConfigError(problems)


def _secret(value: SecretStr | None) -> str:
    return value.get_secret_value() if value else ""


def load(environ: Mapping[str, str] | None = None) -> Config:
    """Read and check the whole configuration; raise ConfigError listing every problem."""
    env = os.environ if environ is None else environ
    problems: list[str] = []
    kwargs = _settings_kwargs(env)
    try:
        settings = Settings(**kwargs)
    except ValidationError as error:
        problems.extend(_describe(error))
        # Keep checking the valid settings (hosts, aliases, file) so every problem is listed.
        bad = {str(item["loc"][0]) for item in error.errors() if item["loc"]}
        settings = Settings(**{key: value for key, value in kwargs.items() if key not in bad})

    host = _check(problems, "KORE_HOST", validation.host, settings.kore_host)
    default_credentials = None
    secret = settings.kore_client_secret
    if settings.kore_client_id and secret and secret.get_secret_value():
        default_credentials = Credentials(settings.kore_client_id, secret.get_secret_value())

    admin = _admin_credentials(problems, settings)

    bots: dict[str, Bot] = {}
    for alias, bot_id in _parse_aliases(problems, settings.korebot_bots):
        if default_credentials is None:
            problems.append(
                f"KOREBOT_BOTS: alias '{alias}' needs KORE_CLIENT_ID and KORE_CLIENT_SECRET."
            )
            continue
        bots[alias.lower()] = Bot(
            bot_id, alias, host or DEFAULT_KORE_HOST, default_credentials, admin_credentials=admin
        )

    if settings.korebot_config is not None:
        files = _file_bots(problems, settings.korebot_config, env, host, default_credentials, admin)
        for bot in files:
            if bot.name.lower() in bots:
                problems.append(
                    f"{settings.korebot_config}: bot '{bot.name}' is also in KOREBOT_BOTS; "
                    "define it in one place."
                )
            bots[bot.name.lower()] = bot

    if problems:
        raise ConfigError(problems)
    registry = BotRegistry(
        bots.values(),
        default_host=host or DEFAULT_KORE_HOST,
        default_credentials=default_credentials,
        default_admin_credentials=admin,
    )
    registry.timeout = settings.kore_timeout
    return Config(settings=settings, registry=registry)


def _users(text: str) -> tuple[str, ...]:
    """Slack user IDs, comma-separated."""
    return tuple(user for user in text.replace(" ", "").split(",") if user)


def _admin_credentials(problems: list[str], settings: Settings) -> Credentials | None:
    """KORE_ADMIN_CLIENT_ID and KORE_ADMIN_CLIENT_SECRET: both, or neither."""
    client_id, secret = settings.kore_admin_client_id, settings.kore_admin_client_secret
    secret_value = secret.get_secret_value() if secret else ""
    if client_id and secret_value:
        return Credentials(client_id, secret_value)
    if client_id or secret_value:
        problems.append("Set both KORE_ADMIN_CLIENT_ID and KORE_ADMIN_CLIENT_SECRET, or neither.")
    return None


def _settings_kwargs(env: Mapping[str, str]) -> dict[str, Any]:
    # Read from the given mapping rather than os.environ so tests can pass their own.
    names = {name.upper() for name in Settings.model_fields}
    return {key.lower(): value for key, value in env.items() if key.upper() in names}


def _describe(error: ValidationError) -> list[str]:
    problems = []
    for item in error.errors():
        name = ".".join(str(part) for part in item["loc"]).upper()
        value = item.get("input")
        got = "" if "SECRET" in name or "TOKEN" in name else f" (got {value!r})"
        problems.append(f"{name}: {item['msg'].lower()}{got}")
    return problems


def _check(problems: list[str], where: str, check: Callable[[str], T], value: str) -> T | None:
    """Run a validator; on failure note the problem and return None."""
    try:
        return check(value)
    except InvalidInput as error:
        problems.append(f"{where}: {error}")
        return None


def _parse_aliases(problems: list[str], text: str) -> list[tuple[str, str]]:
    """Parse ``alias=st-...,alias=st-...`` (commas, semicolons or new lines between)."""
    pairs: list[tuple[str, str]] = []
    seen: set[str] = set()
    for item in re.split(r"[,;\n]", text):
        item = item.strip()
        if not item:
            continue
        alias, sep, bot_id = (part.strip() for part in item.partition("="))
        if not sep or not alias or not bot_id:
            problems.append(
                f"KOREBOT_BOTS: {validation.shown(item)} should look like alias=st-<uuid>, "
                "e.g. support=st-1a2b3c4d-0000-5e6f-8a9b-0c1d2e3f4a5b."
            )
            continue
        if not _ALIAS.fullmatch(alias):
            problems.append(
                f"KOREBOT_BOTS: alias {validation.shown(alias)} may use only letters, digits, "
                "'-', '_' and '.'."
            )
            continue
        if alias.lower() in _RESERVED:
            problems.append(f"KOREBOT_BOTS: '{alias}' is a command word; pick another alias.")
            continue
        if alias.lower() in seen:
            problems.append(f"KOREBOT_BOTS: alias '{alias}' is listed twice.")
            continue
        bot = _check(problems, f"KOREBOT_BOTS ({alias})", validation.bot_id, bot_id)
        if bot is not None:
            seen.add(alias.lower())
            pairs.append((alias, bot))
    return pairs


def _file_bots(
    problems: list[str],
    path: Path,
    env: Mapping[str, str],
    default_host: str | None,
    default_credentials: Credentials | None,
    default_admin: Credentials | None,
) -> list[Bot]:
    where = str(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        problems.append(f"KOREBOT_CONFIG: cannot read {where} ({error.strerror}).")
        return []
    except tomllib.TOMLDecodeError as error:
        problems.append(f"{where}: not valid TOML ({error}).")
        return []
    try:
        parsed = FileConfig.model_validate(data)
    except ValidationError as error:
        for item in error.errors():
            loc = ".".join(str(part) for part in item["loc"])
            problems.append(f"{where}: {loc}: {item['msg'].lower()}")
        return []

    bots = []
    for alias, entry in parsed.bots.items():
        here = f"{where}: bots.{alias}"
        before = len(problems)
        if not _ALIAS.fullmatch(alias):
            problems.append(f"{here}: the alias may use only letters, digits, '-', '_' and '.'.")
        elif alias.lower() in _RESERVED:
            problems.append(f"{here}: '{alias}' is a command word; pick another alias.")
        bot_id = _check(problems, f"{here}.id", validation.bot_id, entry.id)
        host = _check(problems, f"{here}.host", validation.host, entry.host) if entry.host else None
        languages = [
            _check(problems, f"{here}.languages", validation.language, lang)
            for lang in entry.languages
        ]
        credentials = default_credentials
        if entry.client_id or entry.client_secret_env:
            if not (entry.client_id and entry.client_secret_env):
                problems.append(f"{here}: give both client_id and client_secret_env, or neither.")
            elif not env.get(entry.client_secret_env):
                problems.append(
                    f"{here}.client_secret_env: environment variable "
                    f"{entry.client_secret_env} is not set."
                )
            else:
                credentials = Credentials(entry.client_id, env[entry.client_secret_env])
        elif credentials is None:
            problems.append(
                f"{here}: no credentials; set client_id and client_secret_env, or "
                "KORE_CLIENT_ID and KORE_CLIENT_SECRET."
            )
        admin = default_admin
        if entry.admin_client_id or entry.admin_client_secret_env:
            if not (entry.admin_client_id and entry.admin_client_secret_env):
                problems.append(
                    f"{here}: give both admin_client_id and admin_client_secret_env, or neither."
                )
            elif not env.get(entry.admin_client_secret_env):
                problems.append(
                    f"{here}.admin_client_secret_env: environment variable "
                    f"{entry.admin_client_secret_env} is not set."
                )
            else:
                admin = Credentials(entry.admin_client_id, env[entry.admin_client_secret_env])
        if len(problems) == before and bot_id and credentials is not None:
            bots.append(
                Bot(
                    bot_id=bot_id,
                    alias=alias,
                    host=host or default_host or DEFAULT_KORE_HOST,
                    credentials=credentials,
                    languages=tuple(lang for lang in languages if lang),
                    channels=tuple(entry.channels),
                    users=tuple(entry.users),
                    trainers=None if entry.trainers is None else tuple(entry.trainers),
                    testers=None if entry.testers is None else tuple(entry.testers),
                    publishers=None if entry.publishers is None else tuple(entry.publishers),
                    min_f1=entry.min_f1,
                    max_f1_drop=entry.max_f1_drop,
                    admin_credentials=admin,
                )
            )
    return bots
