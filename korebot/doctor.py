"""The checks behind ``korebot doctor``: configuration, Kore.ai credentials, Slack, database."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

from slack_sdk.errors import SlackApiError
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from korebot.config import DEFAULT_KORE_HOST, LEGACY_KORE_HOST, Config
from korebot.kore import (
    TRAININGS,
    CredentialsRejected,
    Kind,
    KoreError,
    KoreUnreachable,
    NotFound,
    ScopeMissing,
    UnreadableResponse,
    kinds,
)
from korebot.kore.kinds import batch, publish
from korebot.registry import Bot, BotRegistry
from korebot.slack.app import web_client
from korebot.watch.store import Store
from korebot.watch.store.database import database_url


@dataclass(frozen=True)
class Check:
    what: str
    detail: str
    #: True passed, False failed, None not applicable (skipped).
    ok: bool | None


def run(config: Config) -> Iterator[Check]:
    registry = config.registry
    yield Check("Configuration", f"{len(registry)} bot alias(es) configured", True)
    if not len(registry):
        yield Check("Bots", "No aliases: set KOREBOT_BOTS=alias=st-… or KOREBOT_CONFIG.", False)
    for bot in registry:
        yield _bot(registry, bot)
    yield _slack(config)
    yield _database(config)


def _bot(registry: BotRegistry, bot: Bot) -> Check:
    """One read of each kind: a status call per training kind, the list of batch test
    suites and, where publishing is configured, the latest publish (with the Admin Console
    app): the credentials, the host, and each kind's scope."""
    lang = bot.languages[0] if bot.languages else "en"
    client = registry.client(bot)

    def training(kind: Kind) -> Callable[[], str]:
        return lambda: client.training_status(bot.bot_id, lang, kind=kind).raw_status

    def suites() -> str:
        count = len(client.batch_test_suites(bot.bot_id, lang))
        return f"{count} suite{'' if count == 1 else 's'}"

    def published() -> str:
        latest = registry.client(bot, admin=True).publish_status(bot.bot_id)
        return latest.raw_status

    reads = [(kinds.spec(kind).label, kinds.spec(kind).scope, training(kind)) for kind in TRAININGS]
    reads.append(("batch tests", batch.manage_scope, suites))
    if bot.admin_credentials is not None:  # publishing is configured: its Admin Console app
        reads.append(("latest publish", publish.status_scope, published))
    answers: list[str] = []
    failures: list[tuple[str, str, KoreError]] = []
    for label, scope, read in reads:
        try:
            answers.append(f"{label} {read()}")
        except KoreError as error:
            if not answers and not failures and not isinstance(error, ScopeMissing):
                # Wrong credentials or host: every kind would say the same; one call tells it.
                hint = _try_hint(bot, error, own_host=bot.host != registry.default_host)
                return Check(f"Bot {bot.label}", f"asked {bot.host} ({lang}): {error}{hint}", False)
            failures.append((label, scope, error))
    working = ", ".join(answers)
    if not failures:
        return Check(f"Bot {bot.label}", f"credentials work on {bot.host}; {lang}: {working}", True)
    missing = [scope for _, scope, error in failures if isinstance(error, ScopeMissing)]
    said = " ".join(f"{label}: {error}" for label, _, error in failures)
    lacks = (
        f"the JWT app lacks the {' and '.join(map(repr, missing))} "
        f"scope{'s' if len(missing) > 1 else ''}. "
        if missing
        else ""
    )
    works = f" ({working} works.)" if working else ""
    return Check(f"Bot {bot.label}", f"asked {bot.host} ({lang}): {lacks}{said}{works}", False)


def hosts_to_try(host: str, error: KoreError) -> tuple[str, ...]:
    """The Kore.ai cloud hosts to suggest when ``error``, from ``host``, hints at the wrong one.

    An unknown bot, rejected credentials (a missing scope is not: that is the right
    environment), no connection at all, or an answer that is not Kore.ai's are what
    asking the wrong environment looks like. Other hosts are only suggested, never
    asked: signed requests go only where the user configured.
    """
    wrong_environment = (
        isinstance(error, NotFound | UnreadableResponse)
        or (isinstance(error, CredentialsRejected) and not isinstance(error, ScopeMissing))
        or (isinstance(error, KoreUnreachable) and not error.connected)
    )
    if not wrong_environment:
        return ()
    # From a regional or on-premises host both are suggested: those users know their own.
    return tuple(other for other in (DEFAULT_KORE_HOST, LEGACY_KORE_HOST) if other != host)


def _try_hint(bot: Bot, error: KoreError, *, own_host: bool) -> str:
    hosts = hosts_to_try(bot.host, error)
    if not hosts:
        return ""
    # A bot with a host of its own in the TOML file ignores KORE_HOST.
    where = "" if own_host else "KORE_HOST, or "
    return (
        f" Wrong Kore.ai environment? Try {' or '.join(hosts)}: set {where}host "
        f"under [bots.{bot.name}] in the KOREBOT_CONFIG file."
    )


def _slack(config: Config) -> Check:
    settings = config.settings
    if not settings.slack_bot_token:
        return Check("Slack", "SLACK_BOT_TOKEN is not set: only the command line will work.", None)
    client = web_client(settings.slack_bot_token.get_secret_value(), settings.slack_api_url)
    try:
        answer = client.auth_test()
    except SlackApiError as error:
        code = error.response.get("error", "unknown_error")
        return Check(
            "Slack",
            f"Slack refused SLACK_BOT_TOKEN ({code}): copy the Bot User OAuth Token from "
            "the app's OAuth & Permissions page, and reinstall the app if it was removed.",
            False,
        )
    except OSError as error:
        return Check("Slack", f"Cannot reach {settings.slack_api_url} ({error}).", False)
    if not (settings.slack_signing_secret or settings.slack_app_token):
        return Check(
            "Slack", "Token works, but SLACK_SIGNING_SECRET (or SLACK_APP_TOKEN) is not set.", False
        )
    return Check(
        "Slack", f"token works: workspace {answer.get('team')}, bot @{answer.get('user')}", True
    )


def _database(config: Config) -> Check:
    url = config.settings.database_url
    try:
        shown = make_url(database_url(url)).render_as_string(hide_password=True)
    except ArgumentError:
        return Check("Database", "DATABASE_URL is not a database URL.", False)
    store = Store(url)
    try:
        if store.healthy():
            return Check("Database", f"reachable: {shown}", True)
        return Check("Database", f"cannot connect to {shown}.", False)
    finally:
        store.dispose()
