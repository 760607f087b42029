"""The Kore.ai side of korebot: JWT auth, the training APIs of each kind, typed errors."""

from korebot.kore.auth import Credentials
from korebot.kore.client import NO_RETRY, KoreClient, RetryPolicy
from korebot.kore.errors import (
    BadRequest,
    CredentialsRejected,
    InvalidInput,
    KoreError,
    KoreUnavailable,
    KoreUnreachable,
    NotFound,
    RateLimited,
    ScopeMissing,
    UnreadableResponse,
)
from korebot.kore.models import TRAININGS, JobStatus, Kind, State, Status

__all__ = [
    "NO_RETRY",
    "TRAININGS",
    "BadRequest",
    "Credentials",
    "CredentialsRejected",
    "InvalidInput",
    "JobStatus",
    "Kind",
    "KoreClient",
    "KoreError",
    "KoreUnavailable",
    "KoreUnreachable",
    "NotFound",
    "RateLimited",
    "RetryPolicy",
    "ScopeMissing",
    "State",
    "Status",
    "UnreadableResponse",
]
