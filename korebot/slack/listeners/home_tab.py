"""Publishing a user's App Home tab (korebot.slack.home) from what the store knows.

Used when the tab is opened (listeners/events), after a click on it (listeners/actions)
and when a training it shows changes (korebot.slack.home_refresh). It never calls
Kore.ai; failures (the database down, Slack refusing) are logged and, where Slack still
takes a view, answered with a minimal one saying what went wrong, never a traceback.
"""

from __future__ import annotations

import logging

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from korebot.errors import DatabaseUnavailable
from korebot.kore import TRAININGS, Kind, State
from korebot.registry import Bot, JobKey
from korebot.slack import home
from korebot.slack.listeners.commands.train import may_train
from korebot.slack.listeners.common import Refusal, permalink
from korebot.slack.listeners.context import Services
from korebot.slack.notifier import slack_error

log = logging.getLogger(__name__)

UNAVAILABLE = (
    "My database is unavailable right now, so I can't show what I know; "
    "open this tab again in a minute."
)
FAILED = "Something went wrong drawing this tab; it has been logged. Open it again in a minute."


def visible_bots(services: Services, user: str) -> list[Bot]:
    """The configured bots the user may ask about (a bot's ``users`` rule applies)."""
    return [bot for bot in services.gateway.registry if not bot.users or user in bot.users]


def _trainer(services: Services, bot: Bot, user: str) -> bool:
    try:
        may_train(services, bot, user)
    except Refusal:
        return False
    return True


def snapshot(
    services: Services, client: WebClient, user: str, notice: str | None = None
) -> home.HomeSnapshot:
    """The user's tab as the store knows it now (no Kore.ai call)."""
    bots = visible_bots(services, user)
    activity = services.engine.home_activity(user, bots)
    trainings: list[home.HomeTraining] = []
    suites = sorted(
        (known for key, known in activity.trainings.items() if key.kind is Kind.BATCH),
        key=lambda known: (known.bot_name, known.key.language, known.key.subject.casefold()),
    )
    for bot in bots:
        trainer = _trainer(services, bot, user)
        # The configured languages, then any other the store has seen asked about.
        seen = [
            key.language
            for key in activity.trainings
            if key.bot == (bot.host, bot.bot_id) and key.kind.is_training
        ]
        for language in dict.fromkeys([*bot.languages, *seen]):
            for kind in TRAININGS:
                for state in State:
                    known = activity.trainings.get(JobKey.of(bot, language, state, kind))
                    if state is State.CONFIGURED or known is not None:
                        line = home.HomeTraining(bot, language, kind, known, trainer, state)
                        trainings.append(line)
    listed = activity.watches[: home.MAX_LISTED]
    watches = [(watch, permalink(client, watch)) for watch in listed]
    watches += [(watch, None) for watch in activity.watches[home.MAX_LISTED :]]
    return home.HomeSnapshot(
        user_id=user,
        as_of=services.engine.clock(),
        trainings=trainings,
        watches=watches,
        subscriptions=activity.subscriptions,
        notice=notice,
        bots=bots,
        suites=suites,
        releases=services.engine.running_releases(bots),
        publishes=[known for key, known in activity.trainings.items() if key.kind is Kind.PUBLISH],
    )


def publish_home(
    services: Services,
    client: WebClient,
    team: str,
    user: str,
    notice: str | None = None,
    *,
    opened: bool = True,
) -> bool:
    """Draw and publish the user's tab; whether Slack took it. ``opened``: the user opened
    or clicked it (recorded: it counts as open a while); not for a refresh, which would
    otherwise keep a closed tab "open" for ever."""
    try:
        if opened:
            services.engine.record_home_opened(team, user)
        view = home.home_view(snapshot(services, client, user, notice))
    except DatabaseUnavailable as error:
        log.warning("Database unavailable drawing the Home tab of %s: %s", user, error.orig)
        view = home.problem_view(UNAVAILABLE)
    except Exception:
        log.exception("Could not draw the Home tab of %s", user)
        view = home.problem_view(FAILED)
    try:
        client.views_publish(user_id=user, view=view)
    except SlackApiError as error:
        log.warning("Slack refused the Home tab of %s: %s", user, slack_error(error))
        return False
    except OSError as error:  # Slack unreachable, retries included
        log.warning("Could not publish the Home tab of %s: %s", user, error)
        return False
    return True
