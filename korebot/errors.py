"""Every error korebot raises on purpose, in one tree (as httpx's ``_exceptions.py``).

Catch ``KorebotError`` for "anything korebot said no to"; each message is safe to show
(no secret, one line unless it lists problems)::

    KorebotError
    ├── ConfigError            the configuration is unusable (korebot.config)
    ├── SchemaError            the schema cannot be brought up to date (korebot.watch.store.migrate)
    ├── DatabaseUnavailable    the database cannot be reached (raised by the watch store)
    ├── LimitReached           too many active watches (the watch commands)
    ├── Undeliverable          Slack will never take a message (the notifier, for delivery)
    └── KoreError              a Kore.ai call failed (korebot.kore.errors)
        ├── InvalidInput       rejected before any request (also a ValueError)
        ├── CredentialsRejected
        │   └── ScopeMissing
        ├── NotFound
        ├── BadRequest
        ├── RateLimited        Kore.ai's own limit (transient)
        ├── BudgetExhausted    korebot's share of that limit is spent (transient)
        ├── KoreUnavailable    a 5xx (transient)
        ├── KoreUnreachable    no answer (transient)
        └── UnreadableResponse

``KoreError``'s subtree lives in ``korebot.kore.errors`` (the Kore.ai client stands
alone); the rest is here, and the modules named above re-export what they raise.
"""

from __future__ import annotations

from typing import Literal


class KorebotError(Exception):
    """The root: korebot refused or could not do something, and says why."""


class ConfigError(KorebotError):
    """The configuration is unusable; the message lists every problem at once."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__(
            "Configuration problems:\n" + "\n".join(f"  - {problem}" for problem in problems)
        )


class SchemaError(KorebotError):
    """The schema cannot be brought up to date; the message is one line, with no secret."""


class DatabaseUnavailable(KorebotError):
    """The database cannot be reached (refused, cut, locked); trying again later may work.

    The store maps its driver's connection errors to this, so that callers (the Slack
    layer above all) need not know which database library is underneath. ``orig`` is
    the driver's own error, for the logs.
    """

    def __init__(self, orig: BaseException) -> None:
        super().__init__(f"database unavailable: {orig}")
        self.orig = orig


class LimitReached(KorebotError):
    """Too many active watches; the message says which limit and what to do."""


class Undeliverable(KorebotError):
    """A message can never be delivered; ``scope`` says what is lost."""

    def __init__(self, code: str, scope: Literal["channel", "workspace", "user"]) -> None:
        super().__init__(code)
        self.code = code
        self.scope = scope
