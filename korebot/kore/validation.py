"""Checks on user-supplied bot IDs, languages and states, done before any request.

Only values matching these patterns ever reach a URL, so no input can steer a
request to another path or host.
"""

from __future__ import annotations

import ipaddress
import re

import httpx

from korebot.kore.errors import InvalidInput
from korebot.kore.models import State

_BOT_ID = re.compile(
    r"st-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}",
    re.IGNORECASE | re.ASCII,  # ASCII: else U+017F (long s) and U+212A (Kelvin) match s, k
)
# Kore documents two-letter codes; some products use region forms (zh_cn, pt-br).
_LANGUAGE = re.compile(r"[a-z]{2,3}(?:[_-][a-z]{2,4})?", re.IGNORECASE | re.ASCII)

BOT_ID_EXAMPLE = "st-1a2b3c4d-0000-5e6f-8a9b-0c1d2e3f4a5b"


def is_bot_id(value: str) -> bool:
    return _BOT_ID.fullmatch(value) is not None


def bot_id(value: str) -> str:
    """Return the bot ID in lower case, or raise InvalidInput."""
    if not is_bot_id(value):
        raise InvalidInput(
            f"{shown(value)} is not a Kore.ai bot ID: expected 'st-' and a UUID, "
            f"like {BOT_ID_EXAMPLE} (Kore.ai: bot > General Settings)."
        )
    return value.lower()


def language(value: str) -> str:
    """Return the language code in lower case, or raise InvalidInput."""
    if _LANGUAGE.fullmatch(value) is None:
        raise InvalidInput(
            f"{shown(value)} is not a language code: use a code such as en, de, ja or pt_br."
        )
    return value.lower()


def state(value: str | State) -> State:
    """Return the State, or raise InvalidInput."""
    try:
        return State(value.lower())
    except ValueError:
        raise InvalidInput(
            f"{shown(value)} is not a state: use 'configured' (in development) or 'published'."
        ) from None


def shown(value: str) -> str:
    """Quote a rejected value for a message, shortened and without control characters."""
    cleaned = "".join(ch if ch.isprintable() else "?" for ch in value)
    if len(cleaned) > 60:
        cleaned = cleaned[:57] + "..."
    return repr(cleaned)


_LOOPBACK_HOSTS = {"localhost", "127.0.0.1", "::1"}


def _is_loopback_ip(name: str) -> bool:
    """True for a loopback IP address (127.0.0.0/8, ::1); a name like 127.evil.com is not."""
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def host(value: str) -> str:
    """Return a Kore.ai base URL without trailing slash, or raise InvalidInput.

    Only ``https://`` is accepted, except plain http on loopback (tests, demo).
    """
    try:
        url = httpx.URL(value.strip())
    except httpx.InvalidURL:
        url = httpx.URL("invalid:")
    loopback = url.host in _LOOPBACK_HOSTS or _is_loopback_ip(url.host)
    secure = url.scheme == "https" or (url.scheme == "http" and loopback)
    if secure and url.host and not (url.query or url.fragment or url.userinfo):
        return str(url.copy_with(path=url.path.rstrip("/") or "")).rstrip("/")
    raise InvalidInput(
        f"{shown(value)} is not a usable Kore.ai host: give an https:// URL such as "
        "https://platform.kore.ai (plain http is allowed only on localhost)."
    )
