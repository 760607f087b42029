"""The Slack app manifest (manifest.yml) is valid and matches what the app serves."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from korebot.slack.kinds import COMMANDS

REPO_ROOT = Path(__file__).resolve().parents[2]
MANIFEST_PATH = REPO_ROOT / "manifest.yml"
# SchemaStore's schema, copied into the repository (tests/data/README.md says from where).
SCHEMA_PATH = Path(__file__).resolve().parents[1] / "data" / "slack-app-manifest.schema.json"

EXPECTED_BOT_SCOPES = {
    "commands",
    "chat:write",
    "chat:write.public",
    "channels:history",
    "groups:history",
    "im:history",
    "im:write",
}
EVENTS_PATH = "/slack/events"


@pytest.fixture(scope="module")
def schema() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    return loaded


@pytest.fixture(scope="module")
def manifest() -> dict[str, Any]:
    loaded = yaml.safe_load(MANIFEST_PATH.read_text(encoding="utf-8"))
    assert isinstance(loaded, dict), "manifest.yml must be a YAML mapping"
    return loaded


def manifest_errors(manifest: dict[str, Any], schema: dict[str, Any]) -> list[str]:
    """Every schema violation in ``manifest``, using the validator of the schema's draft."""
    validator_class = jsonschema.validators.validator_for(schema)
    validator_class.check_schema(schema)
    validator = validator_class(schema)
    return [
        f"{'/'.join(str(part) for part in error.absolute_path) or '<root>'}: {error.message}"
        for error in sorted(validator.iter_errors(manifest), key=lambda e: list(e.absolute_path))
    ]


def test_manifest_validates_against_schema(
    manifest: dict[str, Any], schema: dict[str, Any]
) -> None:
    assert manifest_errors(manifest, schema) == []


def test_slash_commands_are_the_apps_one_per_kind(manifest: dict[str, Any]) -> None:
    commands = manifest["features"]["slash_commands"]
    assert [command["command"] for command in commands] == [
        "/faq-status",
        "/ml-status",
        "/batch-test",
        "/publish-status",
    ]
    assert [command["command"] for command in commands] == list(COMMANDS.values())
    for command in commands:
        assert command["url"].startswith("https://")
        assert command["url"].endswith(EVENTS_PATH)
    # The trainings share a grammar, so a hint; each described as its own kind.
    assert commands[0]["usage_hint"] == commands[1]["usage_hint"]
    assert [c["description"].split()[1] for c in commands[:2]] == ["FAQ", "ML"]
    assert "SUITE" in commands[2]["usage_hint"]
    assert "publish BOT" in commands[3]["usage_hint"]


def test_interactivity_posts_to_events_path(manifest: dict[str, Any]) -> None:
    interactivity = manifest["settings"]["interactivity"]
    assert interactivity["is_enabled"] is True
    assert interactivity["request_url"].startswith("https://")
    assert interactivity["request_url"].endswith(EVENTS_PATH)


def test_the_home_tab_is_on_with_its_event_posted_to_events_path(
    manifest: dict[str, Any],
) -> None:
    assert manifest["features"]["app_home"]["home_tab_enabled"] is True
    events = manifest["settings"]["event_subscriptions"]
    assert events["request_url"] == manifest["settings"]["interactivity"]["request_url"]
    assert events["bot_events"] == ["app_home_opened"]
    assert "user_events" not in events


def test_bot_scopes_are_exactly_the_needed_ones(manifest: dict[str, Any]) -> None:
    bot_scopes = manifest["oauth_config"]["scopes"]["bot"]
    assert len(bot_scopes) == len(set(bot_scopes)), "duplicate bot scope"
    assert set(bot_scopes) == EXPECTED_BOT_SCOPES
    assert "user" not in manifest["oauth_config"]["scopes"]


def test_socket_mode_is_off(manifest: dict[str, Any]) -> None:
    assert manifest["settings"]["socket_mode_enabled"] is False


def test_long_description_meets_slack_minimum(manifest: dict[str, Any]) -> None:
    # Slack refuses a long_description shorter than 175 characters; the schema does not check it.
    assert len(manifest["display_information"]["long_description"]) >= 175


@pytest.mark.parametrize(
    ("breakage", "expected"),
    [
        pytest.param(
            lambda m: m.update(unknown_key=True), "Additional properties", id="unknown-top-key"
        ),
        pytest.param(
            lambda m: m["features"]["slash_commands"][0].pop("description", None),
            "'description' is a required property",
            id="command-without-description",
        ),
    ],
)
def test_schema_rejects_broken_manifest(
    manifest: dict[str, Any], schema: dict[str, Any], breakage: Any, expected: str
) -> None:
    broken = json.loads(json.dumps(manifest))  # deep copy; the fixture stays intact
    breakage(broken)
    errors = manifest_errors(broken, schema)
    assert any(expected in error for error in errors), errors
