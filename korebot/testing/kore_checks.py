"""What the fake Kore.ai checks in a request, as Kore.ai does: the path and bot ID, the
``auth`` JWT (signature, ``appId``, each ``jti`` once), the JWT app's scopes, then the query,
body or ``bot-language`` header. A failed check raises `Refused` carrying Kore.ai's error
answer. `check_bot_id` and `check_state` hold scripting's arguments to the same rules.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Set
from typing import Any

import jwt

from korebot.testing.kore_http import Answer, Incoming, error

__all__ = [
    "SCOPES",
    "Refused",
    "check_auth",
    "check_body",
    "check_bot_id",
    "check_language",
    "check_ml_train",
    "check_path",
    "check_query",
    "check_scope",
    "check_state",
    "route",
]

_UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
_BOT_ID = re.compile(rf"st-{_UUID}")
_STATUS_PATH = re.compile(rf"/api/public/bot/(st-{_UUID})/(faqs|ml)/train/status")
_TRAIN_PATH = re.compile(rf"/api/public/bot/(st-{_UUID})/(faqs|ml)/train")
#: The kinds of training (``faq``, ``ml``) by their path segment, and the scope each needs.
_TRAININGS = {"faqs": "faq", "ml": "ml"}
SCOPES = {"faq": "Train FAQ", "ml": "Train ML"}
_ANY_BOT_PATH = re.compile(r"/api/public/bot/([^/?]+)(?:/|$)")
_FORBIDDEN_IN_PATH = ("..", "%", "@", "//")
_LANGUAGE = re.compile(r"[a-z]{2,3}(?:[_-][a-z]{2,4})?", re.IGNORECASE)
_STATES = ("configured", "published")


class Refused(Exception):
    """A check failed; carries the error answer."""

    def __init__(self, answer: Answer) -> None:
        super().__init__(answer.http_status)
        self.answer = answer


def check_bot_id(bot_id: str) -> None:
    if not _BOT_ID.fullmatch(bot_id):
        raise ValueError(f"not a Kore.ai bot id (st- and a lower-case UUID): {bot_id!r}")


def check_state(state: str) -> None:
    if state not in _STATES:
        raise ValueError(f"state must be one of {_STATES}, not {state!r}")


def route(method: str, path: str) -> tuple[str, str, str | None]:
    """(request kind: "status", "train" or "other"; training kind; bot ID)."""
    if method == "GET" and (match := _STATUS_PATH.fullmatch(path)):
        return "status", _TRAININGS[match.group(2)], match.group(1)
    if method == "POST" and (match := _TRAIN_PATH.fullmatch(path)):
        return "train", _TRAININGS[match.group(2)], match.group(1)
    loose = _ANY_BOT_PATH.match(path)
    return "other", "", loose.group(1) if loose else None


def check_path(method: str, path: str) -> tuple[str, str, str]:
    """(request kind, training kind, bot ID) of a known API path; else Kore.ai's 404."""
    raw_ok = path.startswith("/") and not any(bad in path for bad in _FORBIDDEN_IN_PATH)
    raw_ok = raw_ok and not any(char.isspace() for char in path)
    kind, training, bot_id = route(method, path)
    if not raw_ok or kind == "other" or bot_id is None:
        raise Refused(error(404, "Not Found"))
    return kind, training, bot_id


def check_auth(
    incoming: Incoming,
    *,
    client_id: str,
    client_secret: str,
    seen_jti: set[str] | None,
    others: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """The claims of the request's ``auth`` JWT; each ``jti`` once unless `seen_jti` is None.

    ``others``: more JWT apps (client ID to client secret), such as the Admin Console app; a
    token whose ``appId`` names one of them is checked against its secret. The caller tells
    the apps apart by the claims' ``appId``.
    """

    def refuse(why: str) -> Refused:
        return Refused(error(401, f"Invalid SDK credentials: {why}", 4002))

    if incoming.auth is None:
        if incoming.has_authorization:
            raise refuse("no auth header (Authorization is not accepted)")
        raise refuse("no auth header")
    secret = client_secret
    if others:
        try:
            unverified = jwt.decode(incoming.auth, options={"verify_signature": False})
        except jwt.InvalidTokenError:
            unverified = {}
        named = unverified.get("appId")
        if isinstance(named, str) and named in others:
            secret = others[named]
    try:
        claims = jwt.decode(
            incoming.auth,
            secret,
            algorithms=["HS256"],
            options={"require": ["exp", "iat"]},
        )
    except jwt.InvalidTokenError as exc:
        raise refuse(f"bad token ({exc})") from None
    if claims.get("appId") != client_id and claims.get("appId") not in (others or {}):
        raise refuse("appId mismatch")
    if seen_jti is not None:
        jti = claims.get("jti")
        if not isinstance(jti, str) or not jti:
            raise refuse("jti missing")
        if jti in seen_jti:
            raise refuse("jti reused")
        seen_jti.add(jti)
    return claims


def check_scope(training: str, scopes: Set[str]) -> None:
    """Refuse a call of a kind of training the JWT app has no scope for."""
    if training not in scopes:
        # What Kore.ai answers a JWT app without the API's scope.
        raise Refused(error(401, "Permission denied. Scope is incorrect!", 4002))


def check_language(value: object) -> str:
    if not isinstance(value, str) or not value:
        raise Refused(error(400, "language is required"))
    if not _LANGUAGE.fullmatch(value):
        raise Refused(error(400, f"language is invalid: {value!r}"))
    return value.lower()


def check_query(pairs: list[tuple[str, str]], *, required: bool = True) -> tuple[str, str]:
    keys = [key for key, _ in pairs]
    for key in keys:
        if key not in ("language", "state"):
            raise Refused(error(400, f"unexpected query parameter: {key!r}"))
        if keys.count(key) > 1:
            raise Refused(error(400, f"repeated query parameter: {key!r}"))
    query = dict(pairs)
    given = query.get("language")
    language = check_language(given if required or given is not None else "en")
    state = query.get("state", "configured")
    if state not in _STATES:
        raise Refused(error(400, f"state must be configured or published, not {state!r}"))
    return language, state


def check_body(body: bytes) -> str:
    try:
        document = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise Refused(error(400, "body must be a JSON object")) from None
    if not isinstance(document, dict):
        raise Refused(error(400, "body must be a JSON object"))
    return check_language(document.get("language"))


def check_ml_train(incoming: Incoming) -> str:
    """``POST …/ml/train``: no body; the language in ``bot-language`` (English if absent)."""
    if incoming.body.strip():
        raise Refused(error(400, "the ML train request takes no body"))
    given = incoming.bot_language
    return check_language(given if given is not None else "en")
