"""What the fake Slack Web API checks in a call's arguments: Block Kit payloads (with
slack_sdk), message metadata, flags and limits; `ApiError` is the answer for a bad call."""

from __future__ import annotations

import copy
from typing import Any

from slack_sdk.models.blocks import Block
from slack_sdk.models.views import View

__all__ = [
    "MAX_BLOCKS",
    "MAX_VIEW_BLOCKS",
    "ApiError",
    "block_problems",
    "flag",
    "page_limit",
    "valid_metadata",
    "view_problems",
]

#: Slack refuses messages with more blocks than this.
MAX_BLOCKS = 50
#: And views (a Home tab, a modal) with more than this.
MAX_VIEW_BLOCKS = 100


class ApiError(Exception):
    """Raised by a method handler to answer {"ok": false, "error": ...}."""

    def __init__(self, error: str, **extra: Any) -> None:
        super().__init__(error)
        self.error = error
        self.extra = extra


def flag(value: Any) -> bool:
    """A boolean argument as Slack reads it (true, "true" or "1")."""
    return value is True or str(value).lower() in ("1", "true")


def page_limit(value: Any) -> int:
    """A `limit` argument; 100 when missing, unreadable or not positive."""
    try:
        limit = int(value)
    except (TypeError, ValueError):
        return 100
    return limit if limit > 0 else 100


def valid_metadata(args: dict[str, Any]) -> dict[str, Any] | None:
    """A copy of the call's message metadata (None if absent); checks its shape."""
    metadata = args.get("metadata")
    if metadata is None or metadata == "":
        return None
    if (
        not isinstance(metadata, dict)
        or not isinstance(metadata.get("event_type"), str)
        or not isinstance(metadata.get("event_payload", {}), dict)
    ):
        raise ApiError("invalid_metadata_format")
    return copy.deepcopy(metadata)


def view_problems(view: Any) -> list[str]:
    """What slack_sdk finds wrong with a Home tab's view (empty if valid)."""
    if not isinstance(view, dict):
        return [f"view must be a JSON object, got {type(view).__name__}"]
    if view.get("type") != "home":
        return [f"view type {view.get('type')!r}, not 'home'"]
    try:
        View(**view).validate_json()
    except Exception as exc:  # SlackObjectFormationError, or TypeError on an unknown field
        return [f"view: {exc}"]
    return block_problems(view.get("blocks"), MAX_VIEW_BLOCKS)


def block_problems(blocks: Any, limit: int = MAX_BLOCKS) -> list[str]:
    """What slack_sdk finds wrong with a blocks payload (empty if valid)."""
    if not isinstance(blocks, list):
        return [f"blocks must be a JSON array, got {type(blocks).__name__}"]
    problems = []
    if len(blocks) > limit:
        problems.append(f"{len(blocks)} blocks (at most {limit})")
    for i, raw in enumerate(blocks):
        if not isinstance(raw, dict):
            problems.append(f"blocks[{i}]: not an object")
            continue
        where = f"blocks[{i}] ({raw.get('type')})"
        try:
            block = Block.parse(raw)
            if block is None:
                problems.append(f"{where}: unknown block type")
                continue
            block.validate_json()
            block.to_dict()  # validates nested elements and text objects too
        except Exception as exc:  # SlackObjectFormationError, or TypeError on odd input
            problems.append(f"{where}: {exc}")
    return problems
