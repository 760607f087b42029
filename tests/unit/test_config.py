"""Tests for korebot.config.load (environment mappings and TOML files) and the bot registry."""

from __future__ import annotations

from pathlib import Path

import pytest

from korebot.config import DEFAULT_KORE_HOST, Config, ConfigError, load
from korebot.kore import Credentials, InvalidInput
from korebot.registry import Bot, BotRegistry, UnknownBot

CLIENT_ID = "cs-config-tests"
SECRET = "config-tests-secret-3e8a61f0c2"
EU_SECRET = "config-tests-eu-secret-9d72b4"
BOT = "st-1a2b3c4d-0000-5e6f-8a9b-0c1d2e3f4a5b"
BOT2 = "st-00000000-1111-2222-3333-444444444444"
BOT3 = "st-abcdef01-2345-6789-abcd-ef0123456789"
BOT4 = "st-11111111-2222-3333-4444-555555555555"
CREDENTIALS = {"KORE_CLIENT_ID": CLIENT_ID, "KORE_CLIENT_SECRET": SECRET}


def problems_of(environ: dict[str, str]) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load(environ=environ)
    error = info.value
    message = str(error)
    for secret in (SECRET, EU_SECRET):
        assert secret not in message
    for problem in error.problems:
        assert problem in message
    return error.problems


def write(tmp_path: Path, text: str) -> str:
    path = tmp_path / "korebot.toml"
    path.write_text(text, encoding="utf-8")
    return str(path)


# -- environment -----------------------------------------------------------------------------------


def test_defaults_with_an_empty_environment() -> None:
    loaded = load(environ={})
    assert isinstance(loaded, Config)
    settings = loaded.settings
    assert settings.kore_host == DEFAULT_KORE_HOST == "https://platform.kore.ai"
    assert settings.kore_client_id is None
    assert settings.kore_client_secret is None
    assert settings.korebot_poll_interval == 30.0
    assert settings.korebot_watch_timeout == 4 * 3600.0
    assert settings.korebot_allow_raw_ids is False
    assert settings.korebot_poll_from_history is True
    assert settings.port == 3000
    assert settings.database_url == "sqlite:///korebot.db"
    registry = loaded.registry
    assert len(registry) == 0
    assert list(registry) == []
    assert registry.default_host == DEFAULT_KORE_HOST
    assert registry.default_credentials is None


def test_the_given_mapping_is_the_only_source(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KORE_CLIENT_ID", "cs-from-the-process")
    monkeypatch.setenv("KORE_HOST", "https://leaked.example")
    monkeypatch.setenv("KOREBOT_POLL_INTERVAL", "-1")
    settings = load(environ={}).settings
    assert settings.kore_client_id is None
    assert settings.kore_host == DEFAULT_KORE_HOST
    assert settings.korebot_poll_interval == 30.0


def test_settings_are_read_case_insensitively_and_converted() -> None:
    loaded = load(
        environ={
            **CREDENTIALS,
            "kore_host": "https://de-bots.kore.ai/",
            "KOREBOT_POLL_INTERVAL": "2.5",
            "KOREBOT_ALLOW_RAW_IDS": "true",
            "KOREBOT_POLL_FROM_HISTORY": "false",
            "PORT": "8080",
            "UNRELATED": "ignored",
        }
    )
    assert loaded.settings.korebot_poll_interval == 2.5
    assert loaded.settings.korebot_allow_raw_ids is True
    assert loaded.settings.korebot_poll_from_history is False
    assert loaded.settings.port == 8080
    assert loaded.registry.default_host == "https://de-bots.kore.ai"
    assert loaded.registry.default_credentials == Credentials(CLIENT_ID, SECRET)
    assert loaded.settings.kore_client_secret is not None
    assert SECRET not in repr(loaded.settings)


def test_korebot_bots_with_spaces_semicolons_and_new_lines() -> None:
    bots = f" support = {BOT} ;Sales={BOT2.upper()},\n\n  faq.v2={BOT3}\nHR-team={BOT4};"
    registry = load(environ={**CREDENTIALS, "KOREBOT_BOTS": bots}).registry
    assert len(registry) == 4
    assert [bot.name for bot in registry] == ["HR-team", "Sales", "faq.v2", "support"]
    support = registry.resolve("support")
    assert support == Bot(BOT, "support", DEFAULT_KORE_HOST, Credentials(CLIENT_ID, SECRET))
    assert registry.resolve("SALES").bot_id == BOT2  # lower-cased
    assert registry.resolve("sales").alias == "Sales"
    assert registry.resolve("FAQ.V2").bot_id == BOT3
    assert registry.resolve("hr-team").bot_id == BOT4
    assert registry.resolve("Support") is support


def test_bots_default_to_platform_kore_ai_and_the_older_host_stays_configurable(
    tmp_path: Path,
) -> None:
    path = write(
        tmp_path,
        f"""
        [bots.new]
        id = "{BOT2}"

        [bots.old]
        id = "{BOT3}"
        host = "https://bots.kore.ai"
        """,
    )
    registry = load(
        environ={**CREDENTIALS, "KOREBOT_BOTS": f"a={BOT}", "KOREBOT_CONFIG": path}
    ).registry
    assert registry.default_host == "https://platform.kore.ai"
    assert registry.resolve("a").host == "https://platform.kore.ai"
    assert registry.resolve("new").host == "https://platform.kore.ai"
    assert registry.resolve("old").host == "https://bots.kore.ai"
    assert registry.resolve(BOT4).host == "https://platform.kore.ai"  # a raw bot ID
    older = load(
        environ={**CREDENTIALS, "KORE_HOST": "https://bots.kore.ai", "KOREBOT_BOTS": f"a={BOT}"}
    )
    assert older.registry.resolve("a").host == older.registry.default_host == "https://bots.kore.ai"


def test_korebot_bots_use_kore_host() -> None:
    environ = {**CREDENTIALS, "KORE_HOST": "https://jp-bots.kore.ai", "KOREBOT_BOTS": f"a={BOT}"}
    assert load(environ=environ).registry.resolve("a").host == "https://jp-bots.kore.ai"


def test_every_problem_is_listed_at_once() -> None:
    problems = problems_of(
        {
            "KOREBOT_BOTS": f"support={BOT},bad alias!={BOT2}",
            "KORE_HOST": "http://example.com",
            "KOREBOT_POLL_INTERVAL": "0",
        }
    )
    assert len(problems) == 4, problems
    assert any(
        p.startswith("KOREBOT_POLL_INTERVAL: input should be greater than 0") for p in problems
    )
    assert any(
        p.startswith("KORE_HOST: 'http://example.com' is not a usable Kore.ai host")
        for p in problems
    )
    assert (
        "KOREBOT_BOTS: alias 'bad alias!' may use only letters, digits, '-', '_' and '.'."
        in problems
    )
    assert "KOREBOT_BOTS: alias 'support' needs KORE_CLIENT_ID and KORE_CLIENT_SECRET." in problems


def test_malformed_korebot_bots_entries_are_each_reported() -> None:
    problems = problems_of(
        {
            **CREDENTIALS,
            "KOREBOT_BOTS": f"support,={BOT},faq=,sales=st-123,a={BOT},A={BOT2},{'x' * 41}={BOT3}",
        }
    )
    assert len(problems) == 6, problems
    assert problems[0].startswith("KOREBOT_BOTS: 'support' should look like alias=st-<uuid>")
    assert problems[1].startswith(f"KOREBOT_BOTS: '={BOT}' should look like alias=st-<uuid>")
    assert problems[2].startswith("KOREBOT_BOTS: 'faq=' should look like alias=st-<uuid>")
    assert problems[3].startswith("KOREBOT_BOTS (sales): 'st-123' is not a Kore.ai bot ID")
    assert problems[4] == "KOREBOT_BOTS: alias 'A' is listed twice."
    assert problems[5].startswith("KOREBOT_BOTS: alias 'xxxx")


@pytest.mark.parametrize(
    "word", ["help", "list", "bots", "stop", "subscribe", "Unsubscribe", "train"]
)
def test_command_words_cannot_be_aliases(word: str) -> None:
    problems = problems_of({**CREDENTIALS, "KOREBOT_BOTS": f"{word}={BOT}"})
    assert problems == [f"KOREBOT_BOTS: '{word}' is a command word; pick another alias."]


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("KOREBOT_POLL_INTERVAL", "-5"),
        ("KOREBOT_WATCH_TIMEOUT", "0"),
        ("PORT", "70000"),
        ("PORT", "eighty"),
        ("KOREBOT_ALLOW_RAW_IDS", "perhaps"),
        ("KOREBOT_POLL_FROM_HISTORY", "sometimes"),
    ],
)
def test_bad_values_are_named_with_what_was_given(name: str, value: str) -> None:
    (problem,) = problems_of({name: value})
    assert problem.startswith(f"{name}: ")
    assert problem.endswith(f"(got {value!r})")


# -- TOML file -------------------------------------------------------------------------------------


def test_toml_gives_per_bot_host_credentials_languages_and_channels(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        f"""
        [bots.support]
        id = "{BOT}"
        languages = ["en", "DE"]
        channels = ["C0123456", "C0654321"]

        [bots.Europe]
        id = "{BOT2.upper()}"
        host = "https://de-bots.kore.ai/"
        client_id = "cs-europe"
        client_secret_env = "EU_KORE_SECRET"
        languages = ["pt_BR"]
        """,
    )
    environ = {**CREDENTIALS, "KOREBOT_CONFIG": path, "EU_KORE_SECRET": EU_SECRET}
    registry = load(environ=environ).registry
    assert [bot.name for bot in registry] == ["Europe", "support"]
    support = registry.resolve("support")
    assert support.bot_id == BOT
    assert support.host == DEFAULT_KORE_HOST
    assert support.credentials == Credentials(CLIENT_ID, SECRET)
    assert support.languages == ("en", "de")
    assert support.channels == ("C0123456", "C0654321")
    europe = registry.resolve("europe")
    assert europe.bot_id == BOT2
    assert europe.host == "https://de-bots.kore.ai"
    assert europe.credentials == Credentials("cs-europe", EU_SECRET)
    assert europe.languages == ("pt_br",)
    assert europe.channels == ()


def test_trainers_nobody_by_default_listed_in_the_environment_replaced_per_bot(
    tmp_path: Path,
) -> None:
    assert load(environ={}).trainers == ()
    path = write(
        tmp_path,
        f"""
        [bots.support]
        id = "{BOT}"
        trainers = ["U0LEAD"]

        [bots.sales]
        id = "{BOT2}"
        """,
    )
    environ = {**CREDENTIALS, "KOREBOT_CONFIG": path, "KOREBOT_TRAINERS": " U0ONE, ,U0TWO "}
    config = load(environ=environ)
    assert config.trainers == ("U0ONE", "U0TWO")
    assert config.registry.resolve("support").trainers == ("U0LEAD",)
    assert config.registry.resolve("sales").trainers is None  # KOREBOT_TRAINERS decides


def test_toml_bots_need_no_default_credentials_and_join_korebot_bots(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        f'[bots.eu]\nid = "{BOT2}"\nclient_id = "cs-eu"\nclient_secret_env = "EU_KORE_SECRET"\n',
    )
    registry = load(environ={"KOREBOT_CONFIG": path, "EU_KORE_SECRET": EU_SECRET}).registry
    assert registry.default_credentials is None
    assert registry.resolve("eu").credentials == Credentials("cs-eu", EU_SECRET)
    environ = {**CREDENTIALS, "KOREBOT_BOTS": f"support={BOT}", "KOREBOT_CONFIG": path}
    both = load(environ={**environ, "EU_KORE_SECRET": EU_SECRET})
    assert [bot.name for bot in both.registry] == ["eu", "support"]


def test_toml_problems_are_all_reported(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        f"""
        [bots.support]
        id = "{BOT}"
        host = "http://kore.example"
        languages = ["en", "english"]

        [bots.help]
        id = "st-nope"

        [bots.eu]
        id = "{BOT2}"
        client_id = "cs-eu"
        client_secret_env = "EU_KORE_SECRET"

        [bots.half]
        id = "{BOT3}"
        client_id = "cs-half"
        """,
    )
    problems = problems_of({**CREDENTIALS, "KOREBOT_CONFIG": path})
    here = f"{path}: bots"
    assert len(problems) == 6, problems
    assert problems[0].startswith(f"{here}.support.host: 'http://kore.example' is not a usable")
    assert problems[1].startswith(f"{here}.support.languages: 'english' is not a language code")
    assert problems[2] == f"{here}.help: 'help' is a command word; pick another alias."
    assert problems[3].startswith(f"{here}.help.id: 'st-nope' is not a Kore.ai bot ID")
    assert problems[4] == (
        f"{here}.eu.client_secret_env: environment variable EU_KORE_SECRET is not set."
    )
    assert problems[5] == f"{here}.half: give both client_id and client_secret_env, or neither."


def test_toml_bot_without_any_credentials_is_reported(tmp_path: Path) -> None:
    path = write(tmp_path, f'[bots.support]\nid = "{BOT}"\n')
    assert problems_of({"KOREBOT_CONFIG": path}) == [
        f"{path}: bots.support: no credentials; set client_id and client_secret_env, "
        "or KORE_CLIENT_ID and KORE_CLIENT_SECRET."
    ]


def test_unknown_toml_keys_are_reported_without_their_values(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        f"""
        colour = "blue"

        [bots.support]
        id = "{BOT}"
        client_secret = "{SECRET}"
        """,
    )
    problems = problems_of({**CREDENTIALS, "KOREBOT_CONFIG": path})
    assert sorted(problems) == [
        f"{path}: bots.support.client_secret: extra inputs are not permitted",
        f"{path}: colour: extra inputs are not permitted",
    ]


def test_an_alias_in_both_places_is_reported(tmp_path: Path) -> None:
    path = write(tmp_path, f'[bots.Support]\nid = "{BOT2}"\n')
    problems = problems_of(
        {**CREDENTIALS, "KOREBOT_BOTS": f"support={BOT}", "KOREBOT_CONFIG": path}
    )
    assert problems == [f"{path}: bot 'Support' is also in KOREBOT_BOTS; define it in one place."]


def test_invalid_toml_is_reported(tmp_path: Path) -> None:
    path = write(tmp_path, '[bots.support\nid = "')
    (problem,) = problems_of({**CREDENTIALS, "KOREBOT_CONFIG": path})
    assert problem.startswith(f"{path}: not valid TOML (")
    assert "line 1" in problem


def test_a_missing_file_is_reported(tmp_path: Path) -> None:
    missing = tmp_path / "absent.toml"
    assert problems_of({"KOREBOT_CONFIG": str(missing)}) == [
        f"KOREBOT_CONFIG: cannot read {missing} (No such file or directory)."
    ]


def test_file_problems_are_listed_with_environment_problems(tmp_path: Path) -> None:
    path = write(tmp_path, '[bots.support]\nid = "st-bad"\n')
    problems = problems_of(
        {**CREDENTIALS, "KOREBOT_CONFIG": path, "PORT": "-1", "KORE_HOST": "ftp://kore.example"}
    )
    assert [p.split(":")[0] for p in problems] == ["PORT", "KORE_HOST", path]


# -- registry --------------------------------------------------------------------------------------


@pytest.fixture
def registry() -> BotRegistry:
    environ = {**CREDENTIALS, "KOREBOT_BOTS": f"support={BOT},sales={BOT2}"}
    return load(environ=environ).registry


def test_raw_bot_ids_resolve_when_allowed(registry: BotRegistry) -> None:
    raw = registry.resolve(BOT3.upper())
    assert raw == Bot(BOT3, None, DEFAULT_KORE_HOST, Credentials(CLIENT_ID, SECRET))
    assert raw.name == BOT3
    assert raw.label == BOT3
    # A raw ID of a configured bot finds the configured bot, even when raw IDs are not allowed.
    assert registry.resolve(BOT2, allow_raw_id=False) is registry.resolve("sales")
    assert registry.resolve("sales").label == f"sales ({BOT2})"


def test_raw_bot_ids_are_refused_when_not_allowed(registry: BotRegistry) -> None:
    with pytest.raises(UnknownBot) as info:
        registry.resolve(BOT3, allow_raw_id=False)
    assert str(info.value) == (
        f"Bot ID {BOT3} is not configured here; ask an admin to add it to KOREBOT_BOTS. "
        "Known bots: sales, support."
    )


def test_an_unknown_name_lists_the_known_aliases(registry: BotRegistry) -> None:
    with pytest.raises(UnknownBot) as info:
        registry.resolve("suport\n")
    assert isinstance(info.value, InvalidInput)
    assert str(info.value) == "No bot called 'suport?'. Known bots: sales, support."


def test_raw_ids_without_credentials_and_unknown_names_without_aliases() -> None:
    empty = load(environ={}).registry
    with pytest.raises(UnknownBot, match=r"No Kore\.ai credentials for raw bot IDs"):
        empty.resolve(BOT)
    with pytest.raises(UnknownBot, match=r"No aliases are configured \(KOREBOT_BOTS\)"):
        empty.resolve("support")


def test_one_client_per_host_and_jwt_app(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        f'[bots.eu]\nid = "{BOT3}"\nclient_id = "cs-eu"\nclient_secret_env = "EU_KORE_SECRET"\n',
    )
    environ = {
        **CREDENTIALS,
        "KOREBOT_BOTS": f"support={BOT},sales={BOT2}",
        "KOREBOT_CONFIG": path,
        "EU_KORE_SECRET": EU_SECRET,
    }
    registry = load(environ=environ).registry
    try:
        support = registry.client(registry.resolve("support"))
        assert registry.client(registry.resolve("sales")) is support
        assert registry.client(registry.resolve("eu")) is not support
        assert support.host == DEFAULT_KORE_HOST
        assert SECRET not in repr(support)
    finally:
        registry.close()


def test_serving_slack_needs_a_signing_secret_or_socket_mode() -> None:
    bot_token = {"SLACK_BOT_TOKEN": "xoxb-config-tests"}
    with pytest.raises(ConfigError) as info:
        load(environ=bot_token).require_slack()
    (problem,) = info.value.problems
    assert "SLACK_SIGNING_SECRET" in problem
    assert "SLACK_APP_TOKEN" in problem
    # Slack signs HTTP requests but not Socket Mode envelopes: either is enough.
    load(environ={**bot_token, "SLACK_SIGNING_SECRET": "s"}).require_slack()
    load(environ={**bot_token, "SLACK_APP_TOKEN": "xapp-1-config-tests"}).require_slack()
