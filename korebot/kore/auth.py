"""The JWT that Kore.ai's public APIs expect in the ``auth`` header."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

import jwt

# Short on purpose: a token is minted per request and never reused.
TOKEN_LIFETIME = 60


@dataclass(frozen=True)
class Credentials:
    """A Kore.ai JWT app: its client ID and client secret (never shown in reprs)."""

    client_id: str
    client_secret: str = field(repr=False)

    def token(self, now: Callable[[], float] = time.time) -> str:
        """Mint a fresh HS256 token with a unique ``jti`` (for apps that enforce JTI)."""
        issued = int(now())
        claims = {
            "appId": self.client_id,
            "sub": "korebot",
            "iat": issued,
            "exp": issued + TOKEN_LIFETIME,
            "jti": uuid.uuid4().hex,
        }
        return jwt.encode(claims, self.client_secret, algorithm="HS256")
