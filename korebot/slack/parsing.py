"""Turns the text of ``/faq-status ...`` (or ``/ml-status ...``: one grammar) into a command,
tolerating Slack's formatting."""

from __future__ import annotations

import re
from dataclasses import dataclass

from korebot.kore import InvalidInput, State, validation


def usage(command: str = "/faq-status") -> str:
    """The command's usage line."""
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
