"""The errors a Kore.ai call can end in, each with a message a person can act on.

The ``KoreError`` branch of korebot's error tree (drawn in ``korebot.errors``).
"""

from __future__ import annotations

from korebot.errors import KorebotError


class KoreError(KorebotError):
    """Base class: a Kore.ai call failed. ``str(error)`` is safe to show to users."""

    #: Short machine-friendly name, used in JSON output and logs.
    kind = "kore_error"
    #: True when asking again later may succeed (network, 5xx, rate limit).
    transient = False


class InvalidInput(KoreError, ValueError):
    """A bot ID, language, state or batch test suite name was rejected before any request."""

    kind = "invalid_input"


class CredentialsRejected(KoreError):
    """401/403: the JWT app's credentials or scopes are wrong."""

    kind = "credentials_rejected"


class ScopeMissing(CredentialsRejected):
    """401/403 naming a scope: the credentials are known, the app lacks a scope."""

    kind = "scope_missing"


class NotFound(KoreError):
    """The bot, or its FAQs in that language, does not exist for these credentials."""

    kind = "not_found"


class BadRequest(KoreError):
    """Kore.ai refused the request as malformed; its own message is kept."""

    kind = "bad_request"


class RateLimited(KoreError):
    """Kore.ai's per-bot rate limit was reached."""

    kind = "rate_limited"
    transient = True

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class BudgetExhausted(KoreError):
    """korebot's share of Kore.ai's rate limit for a bot is used up for now."""

    kind = "budget_exhausted"
    transient = True

    def __init__(self, message: str, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class KoreUnavailable(KoreError):
    """Kore.ai answered with a 5xx."""

    kind = "unavailable"
    transient = True

    def __init__(self, message: str, status_code: int) -> None:
        super().__init__(message)
        self.status_code = status_code


class KoreUnreachable(KoreError):
    """Timeout or network failure: no answer from Kore.ai."""

    kind = "unreachable"
    transient = True

    def __init__(self, message: str, *, connected: bool) -> None:
        super().__init__(message)
        #: False when no connection was made (the name did not resolve, or nothing answered).
        self.connected = connected


class UnreadableResponse(KoreError):
    """Kore.ai answered, but not with the JSON shape this client understands."""

    kind = "unreadable_response"
