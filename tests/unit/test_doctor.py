"""Unit tests of korebot.doctor.hosts_to_try: which Kore.ai host the doctor suggests, and when.

The doctor end to end (against the fake Kore.ai) is tested in tests/e2e/test_cli.py.
"""

from __future__ import annotations

import pytest

from korebot.doctor import hosts_to_try
from korebot.kore import (
    BadRequest,
    CredentialsRejected,
    KoreError,
    KoreUnavailable,
    KoreUnreachable,
    NotFound,
    RateLimited,
    ScopeMissing,
    UnreadableResponse,
)

PLATFORM = "https://platform.kore.ai"
BOTS = "https://bots.kore.ai"

WRONG_ENVIRONMENT = [
    NotFound("unknown bot"),
    CredentialsRejected("Invalid SDK credentials"),
    KoreUnreachable("name does not resolve", connected=False),
    UnreadableResponse("not JSON"),
]
RIGHT_ENVIRONMENT = [
    ScopeMissing("Permission denied. Scope is incorrect!"),
    KoreUnreachable("connection dropped", connected=True),
    KoreUnavailable("HTTP 503", status_code=503),
    RateLimited("rate limit"),
    BadRequest("FAQ training is locked by another user"),
]


@pytest.mark.parametrize("error", WRONG_ENVIRONMENT, ids=lambda error: error.kind)
def test_from_platform_kore_ai_suggest_bots_kore_ai(error: KoreError) -> None:
    assert hosts_to_try(PLATFORM, error) == (BOTS,)


@pytest.mark.parametrize("error", WRONG_ENVIRONMENT, ids=lambda error: error.kind)
def test_from_bots_kore_ai_suggest_platform_kore_ai(error: KoreError) -> None:
    assert hosts_to_try(BOTS, error) == (PLATFORM,)


@pytest.mark.parametrize("host", ["https://de-bots.kore.ai", "https://kore.example.com"])
@pytest.mark.parametrize("error", WRONG_ENVIRONMENT, ids=lambda error: error.kind)
def test_from_any_other_host_suggest_both(host: str, error: KoreError) -> None:
    assert hosts_to_try(host, error) == (PLATFORM, BOTS)


@pytest.mark.parametrize("host", [PLATFORM, BOTS, "https://jp-bots.kore.ai"])
@pytest.mark.parametrize("error", RIGHT_ENVIRONMENT, ids=lambda error: error.kind)
def test_errors_of_the_right_environment_suggest_nothing(host: str, error: KoreError) -> None:
    assert hosts_to_try(host, error) == ()
