"""What the fake Slack Web API checks in a call's arguments: Block Kit payloads (with
slack_sdk), message metadata, flags and limits; `ApiError` is the answer for a bad call."""

from __future__ import annotations

import copy
from typing import Any

from slack_sdk.models.blocks import Block

__all__ = ["MAX_BLOCKS", "ApiError", "block_problems", "flag", "page_limit", "valid_metadata"]

#: Slack refuses messages with more blocks than this.
MAX_BLOCKS = 50


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


def block_problems(blocks: Any) -> list[str]:
    """What slack_sdk finds wrong with a blocks payload (empty if valid)."""
    if not isinstance(blocks, list):
        return [f"blocks must be a JSON array, got {type(blocks).__name__}"]
    problems = []
    if len(blocks) > MAX_BLOCKS:
        problems.append(f"{len(blocks)} blocks (at most {MAX_BLOCKS})")
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
