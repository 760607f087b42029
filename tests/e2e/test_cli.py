"""Tests for the ``korebot`` command: the real console script, run as a subprocess against a
started fake Kore.ai on 127.0.0.1. Independent runs of one test go concurrently (each run
spends most of its time importing), which keeps the file fast.
"""

from __future__ import annotations

import json
import re
import socket
import subprocess
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest
import typer
from support.cli import KOREBOT, Korebot, Run, console_script, kore_env
from support.slack_app import Harness, app_env, new_channel, wait_until

from korebot.cli import app
from korebot.testing.app_process import AppProcess
from korebot.testing.fake_kore import Fail, FakeKore, MlStatus, Status
from korebot.testing.fake_slack import FakeSlack

CLIENT_ID = "cs-cli-tests"
# 32 bytes or more: PyJWT warns (on stderr) about shorter HMAC keys.
SECRET = "cli-tests-secret-8c4e2a71b9d05f3e6a"
WRONG_SECRET = "cli-tests-wrong-secret-13f9d0c7e5a2b8"
BOT = "st-1a2b3c4d-0000-5e6f-8a9b-0c1d2e3f4a5b"
UNKNOWN_BOT = "st-99999999-8888-7777-6666-555555555555"
TRY_BOTH_HOSTS = (
    " Wrong Kore.ai environment? Try https://platform.kore.ai or https://bots.kore.ai: "
    "set KORE_HOST, or host under [bots.support] in the KOREBOT_CONFIG file."
)
COMMANDS = sorted(typer.main.get_group(app).commands)


@pytest.fixture(scope="module")
def korebot(tmp_path_factory: pytest.TempPathFactory) -> Korebot:
    return console_script(tmp_path_factory.mktemp("korebot-cli"))


@pytest.fixture
def fake() -> Iterator[FakeKore]:
    with FakeKore(CLIENT_ID, SECRET, bots=[BOT]) as kore:
        yield kore


def env_for(fake: FakeKore, **overrides: str) -> dict[str, str]:
    """A clean environment: only what the command needs, pointed at the fake."""
    return kore_env(fake, BOT, **overrides)


def bot_line(result: Run, bot_id: str) -> str:
    """The doctor's line about the bot called support."""
    lines = [line for line in result.stdout.splitlines() if f"Bot support ({bot_id})" in line]
    assert len(lines) == 1, result.stdout
    return lines[0]


def assert_clean(result: Run) -> None:
    """No traceback, no secret, no terminal control codes (stdout is not a TTY)."""
    output = result.stdout + result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    for secret in (SECRET, WRONG_SECRET):
        assert secret not in output
    assert "\x1b[" not in output
    assert "\r" not in output


# -- status ----------------------------------------------------------------------------------------


def test_status_exit_codes_follow_the_training_status(korebot: Korebot, fake: FakeKore) -> None:
    cases = {
        "en": ("success", 0),
        "de": ("failure", 1),
        "fr": ("in-progress", 3),
        "ja": ("queued", 4),
    }
    for language, (status, _) in cases.items():
        fake.script(BOT, language, Status(status))
    env = env_for(fake)
    results = korebot.all([(["status", "support", lang], env) for lang in cases])
    for (language, (status, code)), result in zip(cases.items(), results, strict=True):
        assert result.returncode == code, (language, result.stdout, result.stderr)
        assert re.search(rf"Status\s+\S+ {status}\b", result.stdout), result.stdout
        assert f"support ({BOT})" in result.stdout
        assert f"{language} (configured)" in result.stdout
        assert_clean(result)
    unknown = results[-1]
    assert "korebot: Kore.ai reported an unknown status 'queued'." in unknown.stderr
    assert fake.count(BOT) == len(cases)


def test_status_json_has_every_field(korebot: Korebot, fake: FakeKore) -> None:
    fake.script(BOT, "de", Status("in-progress", training_id="5d14b0"), state="published")
    result = korebot(["status", "support", "de", "--state", "published", "--json"], env_for(fake))
    assert result.returncode == 3, result.stderr
    data = json.loads(result.stdout)
    assert {
        "bot",
        "bot_id",
        "language",
        "state",
        "status",
        "message",
        "training_id",
        "modified_on",
    } <= set(data)
    assert data["bot"] == "support"
    assert data["bot_id"] == BOT
    assert data["language"] == "de"
    assert data["state"] == "published"
    assert data["status"] == "in-progress"
    assert data["message"] == "in-progress"
    assert data["training_id"] == "5d14b0"
    assert datetime.fromisoformat(data["modified_on"]).utcoffset() is not None
    assert result.stderr == ""
    assert [r.query for r in fake.requests] == [{"language": "de", "state": "published"}]


def test_rejected_credentials_exit_4_with_a_readable_message(
    korebot: Korebot, fake: FakeKore
) -> None:
    result = korebot(["status", "support", "en"], env_for(fake, KORE_CLIENT_SECRET=WRONG_SECRET))
    assert result.returncode == 4
    assert result.stdout == ""
    assert result.stderr.startswith(
        f"korebot: Kore.ai rejected the credentials of JWT app {CLIENT_ID}"
    )
    assert "'Train FAQ'" in result.stderr
    assert_clean(result)
    assert [r.http_status for r in fake.requests] == [401]  # not retried


def test_usage_errors_exit_2_and_send_nothing(korebot: Korebot, fake: FakeKore) -> None:
    env = env_for(fake)
    cases = [
        (["status", "nosuch", "en"], "korebot: No bot called 'nosuch'. Known bots: support.\n"),
        (["status", "st-../../admin", "en"], "No bot called 'st-../../admin'"),
        (["train", "support", "en/../de"], "'en/../de' is not a language code"),
    ]
    results = korebot.all([(args, env) for args, _ in cases])
    for (args, message), result in zip(cases, results, strict=True):
        assert result.returncode == 2, (args, result.stderr)
        assert message in result.stderr
        assert result.stdout == ""
        assert_clean(result)
    assert fake.requests == []


def test_configuration_errors_exit_2_listing_every_problem(
    korebot: Korebot, fake: FakeKore
) -> None:
    env = env_for(
        fake,
        KORE_HOST="http://example.com",
        KOREBOT_BOTS=f"support={BOT},bad alias!={BOT}",
        KOREBOT_POLL_INTERVAL="0",
    )
    result = korebot(["status", "support", "en"], env)
    assert result.returncode == 2
    lines = result.stderr.splitlines()
    assert lines[0] == "korebot: Configuration problems:"
    assert len(lines) == 4, result.stderr
    assert lines[1].startswith("  - KOREBOT_POLL_INTERVAL: input should be greater than 0")
    assert lines[2].startswith("  - KORE_HOST: 'http://example.com' is not a usable Kore.ai host")
    assert lines[3].startswith("  - KOREBOT_BOTS: alias 'bad alias!' may use only letters")
    assert_clean(result)
    assert fake.requests == []


# -- watch -----------------------------------------------------------------------------------------


def test_watch_ends_with_the_trainings_exit_code(korebot: Korebot, fake: FakeKore) -> None:
    """Four watches at once, one bot each: success 0, failure 1, timeout 3, Kore.ai error 4."""
    bots = {
        "done": "st-00000001-0000-4000-8000-000000000000",
        "failed": "st-00000002-0000-4000-8000-000000000000",
        "slow": "st-00000003-0000-4000-8000-000000000000",
        "broken": "st-00000004-0000-4000-8000-000000000000",
    }
    progress = Status("in-progress")
    fake.script(bots["done"], "en", progress, progress, Status("success"))
    fake.script(bots["failed"], "en", progress, Status("failure", message="FAQ training failed"))
    fake.script(bots["slow"], "en", progress)
    fake.script(bots["broken"], "en", progress, Fail(404))
    env = env_for(fake, KOREBOT_BOTS=",".join(f"{alias}={bot}" for alias, bot in bots.items()))
    every = ["--interval", "0.1"]
    done, failed, slow, broken = korebot.all(
        [
            (["watch", "done", "en", *every], env),
            (["watch", "failed", "en", *every], env),
            (["watch", "slow", "en", "--timeout", "0.3", *every], env),
            (["watch", "broken", "en", *every], env),
        ]
    )
    for result in (done, failed, slow, broken):
        assert_clean(result)

    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    # One plain progress line (the second in-progress is no change), then the final status.
    assert re.fullmatch(r"\[0m0\ds\] done \(en\): in-progress", lines[0]), lines
    assert sum("in-progress" in line for line in lines) == 1
    assert re.search(r"Status\s+✔ success", done.stdout)
    assert fake.count(bots["done"]) == 3

    assert failed.returncode == 1, failed.stderr
    assert re.search(r"Status\s+✘ failure", failed.stdout)
    assert "FAQ training failed" in failed.stdout
    assert fake.count(bots["failed"]) == 2

    assert slow.returncode == 3, slow.stderr
    assert slow.stderr == "korebot: Gave up after 0m00s; last status: in-progress.\n"
    assert 1 <= fake.count(bots["slow"]) <= 4  # ~3 at a 0.1 s interval; never a busy loop

    assert broken.returncode == 4, broken.stderr
    assert broken.stderr.startswith(f"korebot: Kore.ai does not know bot {bots['broken']}")
    assert fake.count(bots["broken"]) == 2


def test_an_unreadable_answer_mid_watch_does_not_end_it(korebot: Korebot, fake: FakeKore) -> None:
    """As in the app's watches, a body Kore.ai should not send is a passing fault."""
    odd = Fail(200, body="<html>Down for maintenance</html>", content_type="text/html")
    fake.script(BOT, "en", Status("in-progress"), odd, Status("success"))
    result = korebot(["watch", "support", "en", "--interval", "0.1"], env_for(fake))
    assert result.returncode == 0, result.stderr
    assert re.search(r"Status\s+✔ success", result.stdout)
    assert fake.count(BOT) == 3
    assert_clean(result)


def test_watch_shares_the_apps_budget_through_its_database(
    korebot: Korebot, fake: FakeKore, tmp_path: Path
) -> None:
    """With the app's database, the app's Kore.ai calls count against the watch's budget;
    without a usable one the watch counts alone (and creates no database)."""
    for language in ("en", "de"):
        fake.script(BOT, language, Status("in-progress"))
    db = tmp_path / "korebot.db"
    limit = {"KOREBOT_KORE_CALLS_PER_MINUTE": "2"}
    watch = ["watch", "support", "en", "--interval", "0.1", "--timeout", "5"]
    with FakeSlack() as slack:
        env = app_env(fake, slack, db, KOREBOT_BOTS=f"support={BOT}", **limit)
        # Polls far off: the app's calls are the two asks' only.
        with AppProcess({**env, "KOREBOT_POLL_INTERVAL": "600"}) as process:
            h = Harness(fake, slack, process)
            for language in ("en", "de"):
                h.ask(f"support {language}", new_channel())
            wait_until(lambda: fake.count(BOT) == 2, 15, "the app's two calls to Kore.ai")
            shared, alone = korebot.all(
                [
                    (watch, env_for(fake, DATABASE_URL=f"sqlite:///{db}", **limit)),
                    (watch, env_for(fake, DATABASE_URL=f"sqlite:///{tmp_path / 'no.db'}", **limit)),
                ]
            )
    # The bot's minute was spent by the app: the watch waits for it, past its timeout.
    assert shared.returncode == 3, shared.stderr
    assert alone.returncode == 3, alone.stderr
    assert fake.count(BOT) == 2 + 0 + 2
    assert not (tmp_path / "no.db").exists()
    for result in (shared, alone):
        assert_clean(result)


# -- train -----------------------------------------------------------------------------------------


def test_train_posts_once(korebot: Korebot, fake: FakeKore) -> None:
    result = korebot(["train", "support", "en"], env_for(fake))
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"Started FAQ training of support ({BOT}) (en): in-progress\n"
    assert_clean(result)
    assert [(r.method, r.path) for r in fake.requests] == [
        ("POST", f"/api/public/bot/{BOT}/faqs/train")
    ]


@pytest.mark.parametrize("kind", ["faq", "ml"])
def test_train_watch_waits_for_the_training(korebot: Korebot, fake: FakeKore, kind: str) -> None:
    if kind == "faq":
        fake.on_train(BOT, "en", Status("in-progress"), Status("in-progress"), Status("success"))
        started, ended = "Started FAQ training of support", "✔ success"
    else:
        running = MlStatus("Inprogress")
        fake.on_train(BOT, "en", running, running, MlStatus("Finished"), kind="ml")
        started, ended = (
            f"Started ML training of support ({BOT}) (en): Training Queued.",
            "✔ Finished",
        )
    args = ["train", "support", "en", "--kind", kind, "--watch", "--interval", "0.1"]
    result = korebot(args, env_for(fake))
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(started)
    assert re.search(rf"Status\s+{ended}", result.stdout)
    assert_clean(result)
    assert fake.count(BOT, kind="train", training=kind) == 1
    assert fake.count(BOT, kind="status", training=kind) == 3
    assert fake.count(BOT, kind="any") == 4  # nothing of the other kind


def test_ml_status_shows_what_the_model_is_out_of_sync_with(
    korebot: Korebot, fake: FakeKore
) -> None:
    out_of_sync = MlStatus("Failed", out_of_sync=("Synonyms", "Patterns"))
    fake.script(BOT, "de", out_of_sync, kind="ml", state="published")
    args = ["status", "support", "de", "--state", "published", "--kind", "ml"]
    text, as_json = korebot.all([(args, env_for(fake)), ([*args, "--json"], env_for(fake))])
    assert text.returncode == 1, text.stderr
    assert re.search(r"Training\s+ML", text.stdout)
    assert re.search(r"Status\s+✘ Failed", text.stdout)
    assert re.search(r"Out of sync\s+synonyms, patterns", text.stdout)
    data = json.loads(as_json.stdout)
    assert (data["kind"], data["status"], data["raw_status"]) == ("ml", "failure", "Failed")
    assert data["out_of_sync"] == ["Synonyms", "Patterns"]
    assert fake.count(BOT, training="ml") == 2
    bad = korebot(["status", "support", "en", "--kind", "nlp"], env_for(fake))
    assert bad.returncode == 2
    assert fake.count(BOT, kind="any") == 2


# -- doctor ----------------------------------------------------------------------------------------


def test_doctor_all_good(korebot: Korebot, fake: FakeKore) -> None:
    result = korebot(["doctor"], env_for(fake))
    assert result.returncode == 0, result.stdout
    lines = result.stdout.splitlines()
    assert lines[:2] == [
        "✔ Configuration: 1 bot alias(es) configured",
        f"✔ Bot support ({BOT}): credentials work on {fake.url}; en: FAQ success, "
        "ML Finished, batch tests 0 suites",
    ]
    assert "✘" not in result.stdout
    assert any(line.startswith("✔ Database: reachable") for line in lines), lines
    assert_clean(result)
    # One read of each kind: every scope is checked.
    assert [r.http_status for r in fake.requests] == [200, 200, 200]
    assert fake.count(BOT, training="faq") == fake.count(BOT, training="ml") == 1
    assert fake.count(BOT, kind="batch-suites") == 1


def test_doctor_reports_each_problem_with_a_fix(korebot: Korebot, fake: FakeKore) -> None:
    # Bound but not listening: connections are refused, and no other process can take the port.
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        refusing = f"http://127.0.0.1:{closed.getsockname()[1]}"
        # A bot with a host of its own in the TOML file, which KORE_HOST does not change.
        own_host = korebot.workdir / "own-host.toml"
        own_host.write_text(f'[bots.support]\nid = "{BOT}"\nhost = "{fake.url}"\n')
        own_host_env = {"KOREBOT_BOTS": "", "KOREBOT_CONFIG": str(own_host), "KORE_HOST": refusing}
        wrong_secret, own_host_wrong_secret, unknown_bot, refused, bad_config = korebot.all(
            [
                (["doctor"], env_for(fake, KORE_CLIENT_SECRET=WRONG_SECRET)),
                (["doctor"], env_for(fake, KORE_CLIENT_SECRET=WRONG_SECRET, **own_host_env)),
                (["doctor"], env_for(fake, KOREBOT_BOTS=f"support={UNKNOWN_BOT}")),
                (["doctor"], env_for(fake, KORE_HOST=refusing)),
                (["doctor"], env_for(fake, KORE_CLIENT_ID="", KORE_HOST="x")),
            ]
        )
    assert wrong_secret.returncode == 1
    lines = wrong_secret.stdout.splitlines()
    assert lines[0] == "✔ Configuration: 1 bot alias(es) configured"
    assert lines[1].startswith(
        f"✘ Bot support ({BOT}): asked {fake.url} (en): Kore.ai rejected the credentials"
    )
    assert "Invalid SDK credentials" in lines[1]
    assert "Check the client ID and secret" in lines[1]
    # The fake is neither Kore.ai cloud host, so both are suggested.
    assert lines[1].endswith(TRY_BOTH_HOSTS), lines[1]
    assert_clean(wrong_secret)

    assert unknown_bot.returncode == 1
    line = bot_line(unknown_bot, UNKNOWN_BOT)
    assert f"asked {fake.url} (en): Kore.ai does not know bot {UNKNOWN_BOT}" in line
    assert line.endswith(TRY_BOTH_HOSTS), line
    assert_clean(unknown_bot)

    assert own_host_wrong_secret.returncode == 1
    line = bot_line(own_host_wrong_secret, BOT)
    assert f"asked {fake.url} (en): Kore.ai rejected the credentials" in line
    assert line.endswith(
        " Wrong Kore.ai environment? Try https://platform.kore.ai or https://bots.kore.ai: "
        "set host under [bots.support] in the KOREBOT_CONFIG file."
    ), line
    assert_clean(own_host_wrong_secret)
    # One call each, to the configured host only.
    assert sorted(r.http_status for r in fake.requests) == [401, 401, 404]

    assert refused.returncode == 1
    line = bot_line(refused, BOT)
    assert f"asked {refusing} (en): Could not reach Kore.ai at {refusing} (ConnectError)" in line
    assert line.endswith(TRY_BOTH_HOSTS), line
    assert_clean(refused)

    assert bad_config.returncode == 2
    assert bad_config.stdout.splitlines() == [
        "✘ Configuration: KORE_HOST: 'x' is not a usable Kore.ai host: give an https:// URL "
        "such as https://platform.kore.ai (plain http is allowed only on localhost).",
        "✘ Configuration: KOREBOT_BOTS: alias 'support' needs KORE_CLIENT_ID and "
        "KORE_CLIENT_SECRET.",
    ]
    assert_clean(bad_config)


def test_doctor_on_a_missing_scope_gives_the_scope_hint_not_another_host(
    korebot: Korebot, fake: FakeKore
) -> None:
    body = '{"errors": [{"msg": "Permission denied. Scope is incorrect!", "code": 4002}]}'
    fake.script(BOT, "en", Fail(401, body=body))
    result = korebot(["doctor"], env_for(fake))
    assert result.returncode == 1
    line = bot_line(result, BOT)
    assert f"asked {fake.url} (en): " in line
    assert "Permission denied. Scope is incorrect!" in line
    assert "Grant the app the 'Train FAQ' scope" in line
    assert "publish the app's scopes" in line
    assert "Wrong Kore.ai environment" not in result.stdout
    assert "bots.kore.ai" not in result.stdout
    assert "platform.kore.ai" not in result.stdout
    assert_clean(result)
    # The ML and batch test scopes are checked too: this app has them.
    assert [r.http_status for r in fake.requests] == [401, 200, 200]
    assert "the JWT app lacks the 'Train FAQ' scope" in line
    assert line.endswith("(ML Finished, batch tests 0 suites works.)"), line


def test_doctor_reads_the_latest_publish_with_the_admin_app_and_names_its_scope(
    korebot: Korebot, fake: FakeKore
) -> None:
    admin = {
        "KORE_ADMIN_CLIENT_ID": fake.admin_client_id,
        "KORE_ADMIN_CLIENT_SECRET": fake.admin_client_secret,
    }
    result = korebot(["doctor"], env_for(fake, **admin))
    assert result.returncode == 0, result.stdout
    assert bot_line(result, BOT).endswith("batch tests 0 suites, latest publish successful")
    assert fake.count(BOT, kind="publish-status") == 1
    assert_clean(result)
    assert fake.admin_client_secret not in result.stdout + result.stderr
    # The bot's App Builder app given as the admin one: Kore.ai refuses it for its scope.
    builder = {
        "KORE_ADMIN_CLIENT_ID": fake.client_id,
        "KORE_ADMIN_CLIENT_SECRET": fake.client_secret,
    }
    wrong = korebot(["doctor"], env_for(fake, **builder))
    assert wrong.returncode == 1
    assert "lacks the 'Bot Publish > Publish Status' scope" in bot_line(wrong, BOT)


def test_doctor_says_which_scope_is_missing() -> None:
    """A JWT app granted only Train FAQ: the doctor names Train ML and Batch Tests
    Management, for each bot."""
    with FakeKore(CLIENT_ID, SECRET, bots=[BOT], scopes=["faq"]) as fake:
        result = subprocess.run(  # noqa: S603 (our own console script, no shell)
            [str(KOREBOT), "doctor"], env=env_for(fake), capture_output=True, text=True, timeout=30
        )
        url = fake.url
    assert result.returncode == 1
    line = bot_line(result, BOT)
    assert (
        f"asked {url} (en): the JWT app lacks the 'Train ML' and 'Batch Tests Management' "
        "scopes." in line
    )
    assert "Grant the app the 'Batch Tests Management' scope" in line
    assert "Grant the app the 'Train ML' scope (Admin Console: Test and Train > Train ML)" in line
    assert line.endswith("(FAQ success works.)"), line
    assert "Wrong Kore.ai environment" not in line
    assert_clean(result)


# -- help ------------------------------------------------------------------------------------------


def test_every_command_has_help_with_an_example(korebot: Korebot, fake: FakeKore) -> None:
    assert {"status", "watch", "train", "doctor"} <= set(COMMANDS)
    env = env_for(fake)
    per_command = korebot.all([([name, "--help"], env) for name in COMMANDS])
    for name, result in zip(COMMANDS, per_command, strict=True):
        assert result.returncode == 0, result.stderr
        assert f"Usage: korebot {name}" in result.stdout
        assert re.search(rf"^\s*Example: korebot {name}\b", result.stdout, re.MULTILINE), name
        assert_clean(result)
    assert fake.requests == []
