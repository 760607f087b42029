"""Turns the text of a slash command into a command, tolerating Slack's formatting:
``/faq-status ...`` and ``/ml-status ...`` share one grammar (``parse``), ``/batch-test
...`` has its own (``parse_batch``: a suite's name, in quotes when it has spaces)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from korebot.kore import InvalidInput, State, validation
from korebot.kore.kinds import batch

BATCH_COMMAND = "/batch-test"
BATCH_USAGE = f'{BATCH_COMMAND} BOT LANG "SUITE" [configured|published]'


def usage(command: str = "/faq-status") -> str:
    """The command's usage line."""
    if command == BATCH_COMMAND:
        return BATCH_USAGE
    if command == PUBLISH_COMMAND:
        return PUBLISH_USAGE
    return f"{command} BOT LANG [configured|published]"


# Slack wraps mentions, channels and links as <...|label> or <...>; keep what was typed.
_SLACK_MARKUP = re.compile(r"<([^<>|]*)(?:\|([^<>]*))?>")
_QUOTES = "\"'`\u201c\u201d\u2018\u2019\u00ab\u00bb"  # straight, curly and angle quotes


@dataclass(frozen=True)
class Help:
    pass


@dataclass(frozen=True)
class ListWatches:
    pass


@dataclass(frozen=True)
class ListBots:
    pass


@dataclass(frozen=True)
class Targeted:
    """A command about one training: a bot, maybe a language, a state."""

    bot: str
    language: str | None
    state: State


class AskStatus(Targeted):
    pass


class StopWatch(Targeted):
    pass


class Subscribe(Targeted):
    pass


class Unsubscribe(Targeted):
    pass


class Train(Targeted):
    pass


class History(Targeted):
    pass


@dataclass(frozen=True)
class Invalid:
    """The text could not be understood; ``reason`` says why, for the asker."""

    reason: str


Command = Help | ListWatches | ListBots | Targeted | Invalid

_TARGETED: dict[str, type[Targeted]] = {
    "stop": StopWatch,
    "subscribe": Subscribe,
    "unsubscribe": Unsubscribe,
    "train": Train,
    "history": History,
}


def words(text: str) -> list[str]:
    """Split the command text into plain words, undoing Slack's markup and stray quoting."""
    text = _SLACK_MARKUP.sub(lambda m: m.group(2) or m.group(1), text)
    text = text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
    result = []
    for word in text.split():
        word = word.strip(_QUOTES).lstrip("#@").strip(_QUOTES)
        if word:
            result.append(word.lower())
    return result


def parse(text: str, command: str = "/faq-status") -> Command:
    """The command in ``text``; ``command`` (the slash command typed) is named in errors."""
    parts = words(text)
    if not parts or parts[0] == "help":
        return Help()
    head, rest = parts[0], parts[1:]
    if head in ("list", "bots"):
        if rest:
            return Invalid(f"`{head}` takes no arguments.")
        return ListWatches() if head == "list" else ListBots()
    if head in _TARGETED:
        if not rest:
            return Invalid(f"Say which bot: `{command} {head} BOT LANG`.")
        target = _target(rest, command)
        if isinstance(target, Invalid):
            return target
        return _TARGETED[head](*target)
    target = _target(parts, command)
    if isinstance(target, Invalid):
        return target
    return AskStatus(*target)


def _target(parts: list[str], command: str) -> tuple[str, str | None, State] | Invalid:
    if len(parts) > 3:
        return Invalid(f"Too many words: expected `{usage(command)}`.")
    bot, language, state = parts[0], None, State.CONFIGURED
    try:
        if len(parts) >= 2:
            language = validation.language(parts[1])
        if len(parts) == 3:
            state = validation.state(parts[2])
    except InvalidInput as error:
        return Invalid(str(error))
    return bot, language, state


# -- /batch-test -------------------------------------------------------------------------


@dataclass(frozen=True)
class Suites:
    """``BOT LANG``: the bot's suites for the language, with their last results."""

    bot: str
    language: str


@dataclass(frozen=True)
class SuiteTargeted:
    """A command about one suite of a bot, in one language, on one version."""

    bot: str
    language: str
    suite: str
    state: State


class RunSuite(SuiteTargeted):
    pass


class SuiteHistory(SuiteTargeted):
    pass


class SubscribeSuite(SuiteTargeted):
    pass


class UnsubscribeSuite(SuiteTargeted):
    pass


class StopSuite(SuiteTargeted):
    pass


BatchCommand = Help | ListWatches | ListBots | Suites | SuiteTargeted | Invalid

_SUITE_TARGETED: dict[str, type[SuiteTargeted]] = {
    "history": SuiteHistory,
    "subscribe": SubscribeSuite,
    "unsubscribe": UnsubscribeSuite,
    "stop": StopSuite,
}
# A quoted part ("…", “…”, or '…' standing alone), else a word.
_TOKEN = re.compile(
    r'"([^"]*)"|\u201c([^\u201d]*)\u201d|(?<!\S)\'([^\']*)\'(?!\S)|\u2018([^\u2019]*)\u2019|(\S+)'
)


def tokens(text: str) -> list[tuple[str, bool]]:
    """The words of a command, with quoted parts kept whole and as typed: (text, quoted)."""
    text = _SLACK_MARKUP.sub(lambda m: m.group(2) or m.group(1), text)
    text = text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
    result = []
    for match in _TOKEN.finditer(text):
        quoted = next((part for part in match.groups()[:4] if part is not None), None)
        if quoted is not None:
            result.append((quoted, True))
        elif word := match.group(5).strip(_QUOTES).lstrip("#@").strip(_QUOTES):
            result.append((word, False))
    return result


def _general(parts: list[tuple[str, bool]]) -> Help | ListWatches | ListBots | Invalid | None:
    """``help``, ``list`` and ``bots``, which every command with quoted parts takes alike;
    None for anything else."""
    if not parts or (parts[0][0].lower() == "help" and not parts[0][1]):
        return Help() if len(parts) <= 1 else Invalid("`help` takes no arguments.")
    head = parts[0][0].lower() if not parts[0][1] else ""
    if head not in ("list", "bots"):
        return None
    if len(parts) > 1:
        return Invalid(f"`{head}` takes no arguments.")
    return ListWatches() if head == "list" else ListBots()


def parse_batch(text: str) -> BatchCommand:
    """The ``/batch-test`` command in ``text``."""
    parts = tokens(text)
    if (general := _general(parts)) is not None:
        return general
    head = parts[0][0].lower() if not parts[0][1] else ""
    if head in _SUITE_TARGETED:
        rest = parts[1:]
        if len(rest) < 3:
            return Invalid(f'Say which suite: `{BATCH_COMMAND} {head} BOT LANG "SUITE"`.')
        suite = _suite(rest)
        return suite if isinstance(suite, Invalid) else _SUITE_TARGETED[head](*suite)
    if len(parts) == 1:
        return Invalid(f"Say which language: `{BATCH_COMMAND} {parts[0][0]} LANG`.")
    if len(parts) == 2:
        try:
            return Suites(parts[0][0].lower(), validation.language(parts[1][0]))
        except InvalidInput as error:
            return Invalid(str(error))
    suite = _suite(parts)
    return suite if isinstance(suite, Invalid) else RunSuite(*suite)


def _suite(parts: list[tuple[str, bool]]) -> tuple[str, str, str, State] | Invalid:
    """BOT LANG SUITE [state]: an unquoted suite is the words between the language and a
    trailing state (``smoke tests published``); a quoted one is taken as it is."""
    (bot, _), (language, _), rest = parts[0], parts[1], parts[2:]
    state = State.CONFIGURED
    last, quoted = rest[-1]
    if len(rest) > 1 and not quoted and last.lower() in {s.value for s in State}:
        state, rest = State(last.lower()), rest[:-1]
    if len(rest) > 1 and any(quoted for _, quoted in rest):
        return Invalid(f"Put the suite's whole name in quotes: `{BATCH_USAGE}`.")
    try:
        name = batch.suite_name(" ".join(word for word, _ in rest))
        return bot.lower(), validation.language(language), name, state
    except InvalidInput as error:
        return Invalid(str(error))


# -- /publish-status ---------------------------------------------------------------------

PUBLISH_COMMAND = "/publish-status"
PUBLISH_USAGE = f"{PUBLISH_COMMAND} BOT"
RELEASE_USAGE = f'{PUBLISH_COMMAND} release BOT LANG ["SUITE"]'


@dataclass(frozen=True)
class BotTargeted:
    """A command about one bot as a whole (its publishes)."""

    bot: str


class PublishStatus(BotTargeted):
    pass


class PublishHistory(BotTargeted):
    pass


class SubscribePublishes(BotTargeted):
    pass


class UnsubscribePublishes(BotTargeted):
    pass


class StopPublishWatch(BotTargeted):
    pass


@dataclass(frozen=True)
class Publish:
    """``publish BOT [comment…]``: the comment as typed (None: korebot's default)."""

    bot: str
    comment: str | None


@dataclass(frozen=True)
class Release:
    """``release BOT LANG [SUITE]``: the suite whose run gates the publish ("": none)."""

    bot: str
    language: str
    suite: str


PublishCommand = Help | ListWatches | ListBots | BotTargeted | Publish | Release | Invalid

_BOT_TARGETED: dict[str, type[BotTargeted]] = {
    "history": PublishHistory,
    "subscribe": SubscribePublishes,
    "unsubscribe": UnsubscribePublishes,
    "stop": StopPublishWatch,
}


def parse_publish(text: str) -> PublishCommand:
    """The ``/publish-status`` command in ``text``."""
    parts = tokens(text)
    if (general := _general(parts)) is not None:
        return general
    head = parts[0][0].lower() if not parts[0][1] else ""
    if head == "publish":
        if len(parts) < 2:
            return Invalid(f"Say which bot: `{PUBLISH_COMMAND} publish BOT [comment]`.")
        comment = " ".join(word for word, _ in parts[2:]) or None
        return Publish(parts[1][0].lower(), comment)
    if head == "release":
        return _release(parts[1:])
    if head in _BOT_TARGETED:
        if len(parts) != 2:
            return Invalid(f"Expected `{PUBLISH_COMMAND} {head} BOT`.")
        return _BOT_TARGETED[head](parts[1][0].lower())
    if len(parts) > 1:
        return Invalid(f"Too many words: expected `{PUBLISH_USAGE}` (a publish has no language).")
    return PublishStatus(parts[0][0].lower())


def _release(parts: list[tuple[str, bool]]) -> Release | Invalid:
    """BOT LANG [SUITE]: the suite is every word after the language, or one quoted part."""
    if len(parts) < 2:
        return Invalid(f"Say which bot and language: `{RELEASE_USAGE}`.")
    (bot, _), (language, _), rest = parts[0], parts[1], parts[2:]
    if len(rest) > 1 and any(quoted for _, quoted in rest):
        return Invalid(f"Put the suite's whole name in quotes: `{RELEASE_USAGE}`.")
    try:
        suite = batch.suite_name(" ".join(word for word, _ in rest)) if rest else ""
        return Release(bot.lower(), validation.language(language), suite)
    except InvalidInput as error:
        return Invalid(str(error))
