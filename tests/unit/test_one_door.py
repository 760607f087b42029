"""The Slack layer reaches the watch engine through one door: ``WatchEngine``.

Nothing under ``korebot/slack/`` imports the store (its contract, tables, SQL) or the
leases the process holds, nor reaches them through the engine's attributes; it may use
the values and enums of ``korebot.watch.types`` and the engine itself.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

SLACK = Path(__file__).resolve().parents[2] / "korebot" / "slack"
ALLOWED = {"korebot.watch.types", "korebot.watch.engine"}
#: The engine's attributes that are the store or the held leases, not its façade.
BEHIND_THE_DOOR = {"store", "held", "polling", "delivery"}


def modules() -> Iterator[Path]:
    yield from sorted(SLACK.rglob("*.py"))


def imported(tree: ast.Module) -> Iterator[str]:
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            yield node.module
        elif isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)


@pytest.mark.parametrize("path", list(modules()), ids=lambda p: str(p.relative_to(SLACK)))
def test_a_slack_module_imports_of_the_engine_only_its_facade_and_types(path: Path) -> None:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    watch = [name for name in imported(tree) if name.startswith("korebot.watch")]
    assert set(watch) <= ALLOWED, f"{path.name} imports {sorted(set(watch) - ALLOWED)}"


@pytest.mark.parametrize("path", list(modules()), ids=lambda p: str(p.relative_to(SLACK)))
def test_a_slack_module_never_reaches_behind_the_engine(path: Path) -> None:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    behind = [
        f"engine.{node.attr} (line {node.lineno})"
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute)
        and node.attr in BEHIND_THE_DOOR
        and isinstance(node.value, ast.Attribute | ast.Name)
        and (node.value.attr if isinstance(node.value, ast.Attribute) else node.value.id)
        == "engine"
    ]
    assert behind == [], f"{path.name} goes around WatchEngine: {behind}"
