"""The Home tab as the fake Slack saw it published (end-to-end and engine tests)."""

from __future__ import annotations

import json
from typing import Any

from support.slack_app import Harness, wait_until


def publishes(h: Harness, user: str) -> list[dict[str, Any]]:
    """The views published for the user (that Slack took), oldest first."""
    return [
        c.args["view"]
        for c in h.slack.calls_to("views.publish")
        if c.args.get("user_id") == user and c.ok
    ]


def text_of(view: dict[str, Any]) -> str:
    return json.dumps(view["blocks"])


def wait_view(h: Harness, user: str, shows: str, timeout: float = 15.0) -> str:
    """The user's latest view, once one shows ``shows``."""

    def shown() -> bool:
        views = publishes(h, user)
        return bool(views) and shows in text_of(views[-1])

    wait_until(shown, timeout, f"a Home tab of {user} showing {shows!r}")
    return text_of(publishes(h, user)[-1])
