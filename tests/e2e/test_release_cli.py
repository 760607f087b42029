"""``korebot release``: train FAQ and ML, the quality gate, publish, the published
trainings, step after step. The real console script as a subprocess against the fake
Kore.ai on 127.0.0.1, with the Admin Console app's credentials in the environment.

Time is never waited on beyond the CLI's smallest interval (0.1 s): every training, run and
publish is scripted to end after a poll or two. The fake's record of requests, in the order
it answered them, shows what was sent and that each step began after the previous ended.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import support.cli
from support.cli import Korebot, Run, console_script, kore_env

from korebot.kore.kinds import publish
from korebot.testing.fake_kore import (
    BatchScript,
    BatchSuite,
    Fail,
    FakeKore,
    KoreRequest,
    MlStatus,
    PastRun,
    PublishScript,
    Status,
)

CLIENT_ID = "cs-release-cli-tests"
SECRET = "release-cli-tests-secret-7d2f0a95c4e1b863"
ADMIN_ID = "cs-release-cli-admin"
ADMIN_SECRET = "release-cli-admin-secret-3a8e61f0d7c2b594"
BOT = "st-1a2b3c4d-0000-5e6f-8a9b-0c1d2e3f4a5b"
SMOKE = "smoke tests"
FAST = ["--interval", "0.1"]
GATED = ["--suite", SMOKE, "--min-f1", "0.90", *FAST]
#: What the requests of a release that goes live are, in order: the suite's list (before
#: any step); both trainings' statuses read first, then one POST each; both trainings
#: polled to their end; the one run POST and its polls; the publish status read, the one
#: POST and its polls; then the published version's trainings polled to their end.
LIVE = [
    "GET suites",
    "GET faq configured",
    "GET ml configured",
    "POST faq",
    "POST ml",
    "GET faq configured",
    "GET ml configured",
    "GET faq configured",
    "GET ml configured",
    "POST run",
    "GET run",
    "GET run",
    "GET publish",
    "POST publish",
    "GET publish",
    "GET publish",
    "GET faq published",
    "GET ml published",
    "GET faq published",
    "GET ml published",
]


@pytest.fixture(scope="module")
def korebot(tmp_path_factory: pytest.TempPathFactory) -> Korebot:
    return console_script(tmp_path_factory.mktemp("korebot-release-cli"))


@pytest.fixture
def fake() -> Iterator[FakeKore]:
    with FakeKore(
        CLIENT_ID, SECRET, bots=[BOT], admin_client_id=ADMIN_ID, admin_client_secret=ADMIN_SECRET
    ) as kore:
        kore.batch_suites(
            BOT,
            BatchSuite(SMOKE, results=(PastRun("0.91"),)),
            BatchSuite("Last100sentences", type="prebuilt"),
        )
        kore.on_batch_run(BOT, SMOKE, BatchScript(running_polls=1, f1="0.92"))
        kore.on_publish(BOT, PublishScript(languages=("en",)))
        yield kore


def env_for(fake: FakeKore, **overrides: str) -> dict[str, str]:
    """A clean environment with both apps' credentials, pointed at the fake."""
    return kore_env(fake, BOT, admin=True, **overrides)


def release(korebot: Korebot, fake: FakeKore, *args: str, **env: str) -> Run:
    result = korebot(["release", "support", "en", *args], env_for(fake, **env))
    assert_clean(result)
    return result


def assert_clean(result: Run) -> None:
    support.cli.assert_clean(result, SECRET, ADMIN_SECRET)


def call(request: KoreRequest) -> str:
    """A request in a word or three: "POST faq", "GET ml published", "GET run"…"""
    path = request.path.split(f"/bot/{BOT}/", 1)[1]
    what = {
        "faqs/train": "faq",
        "faqs/train/status": "faq",
        "ml/train": "ml",
        "ml/train/status": "ml",
        "testsuite": "suites",
        "publish": "publish",
        "publish/status": "publish",
    }.get(path)
    if what is None:
        assert path.startswith("testsuite/"), path
        what = "run"
    state = request.query.get("state")
    return " ".join(word for word in (request.method, what, state) if word)


def calls(fake: FakeKore) -> list[str]:
    requests = fake.requests
    assert [r.at for r in requests] == sorted(r.at for r in requests)
    return [call(r) for r in requests]


def steps(result: Run) -> list[tuple[str, str, str]]:
    """The step lines: (mark, step, what it came to), in the order printed."""
    found = re.findall(r"^(\S) (train|gate|publish|live) +\d+m\d\ds  (.*)$", result.stdout, re.M)
    return [(mark, name, words) for mark, name, words in found]


def test_a_release_goes_live_one_post_each_every_step_after_the_last(
    korebot: Korebot, fake: FakeKore
) -> None:
    result = release(korebot, fake, *GATED)

    assert result.returncode == 0, result.stderr
    assert calls(fake) == LIVE
    assert all(r.http_status == 200 for r in fake.requests)
    assert fake.count(BOT, kind="train", training="faq") == 1
    assert fake.count(BOT, kind="train", training="ml") == 1
    assert [(p.suite, p.version, p.language) for p in fake.batch_posts] == [
        (SMOKE, "inDevelopment", "en")
    ]
    comment = "korebot release: FAQ and ML trained (en); smoke tests F1 0.92"
    assert [(p.version_comment, p.initiate_training) for p in fake.publish_posts] == [
        (comment, True)
    ]
    assert steps(result) == [
        ("✔", "train", "FAQ success (started), ML Finished (started)"),
        (
            "✔",
            "gate",
            "smoke tests: passed, F1 0.92, up 0.01 from 0.91; bar: F1 at least 0.90; drop at "
            "most 0.02",
        ),
        ("✔", "publish", f"support published, comment \u201c{comment}\u201d"),
        ("✔", "live", "FAQ success, ML Finished"),
    ]
    assert re.search(r"^✔ support is live \(en\), in \d+m\d\ds$", result.stdout, re.M)
    assert result.stdout.splitlines()[-1].startswith("✔ support is live")


def test_the_gate_stops_a_release_below_the_bar_before_publishing(
    korebot: Korebot, fake: FakeKore
) -> None:
    fake.batch_suites(BOT, BatchSuite(SMOKE, results=(PastRun("0.86"),)))
    fake.on_batch_run(BOT, SMOKE, BatchScript(running_polls=1, f1="0.85"))

    result = release(korebot, fake, *GATED)

    assert result.returncode == 1, result.stderr
    reason = "F1 0.85 is below the bar of 0.90 by 0.05"
    assert steps(result)[1:] == [("✘", "gate", f"{SMOKE}: {reason}")]
    assert result.stdout.splitlines()[-1] == f"✘ gate failed: {reason}: not published"
    assert calls(fake) == [*LIVE[: LIVE.index("GET publish")]]
    assert fake.publish_posts == []


def test_the_gate_takes_the_bots_bar_and_a_failed_run_stops_it(
    korebot: Korebot, fake: FakeKore
) -> None:
    """KOREBOT_MIN_F1 is the bar without --min-f1 (as for `korebot test`); a run Kore.ai
    failed fails the gate whatever its scores."""
    fake.on_batch_run(BOT, SMOKE, BatchScript(running_polls=0, f1="0.85"))
    below = release(korebot, fake, "--suite", SMOKE, *FAST, KOREBOT_MIN_F1="0.9")
    assert below.returncode == 1, below.stderr
    assert below.stdout.splitlines()[-1] == (
        "✘ gate failed: F1 0.85 is below the bar of 0.90 by 0.05; F1 0.85 dropped 0.06 from "
        "the previous run's 0.91, more than the 0.02 tolerated: not published"
    )

    fake.on_batch_run(BOT, SMOKE, BatchScript(running_polls=0, status="failed"))
    failed = release(korebot, fake, "--suite", SMOKE, *FAST)
    assert failed.returncode == 1, failed.stderr
    assert failed.stdout.splitlines()[-1] == (
        "✘ gate failed: the run failed: Kore.ai says 'failed': not published"
    )
    assert len(fake.batch_posts) == 2
    assert fake.publish_posts == []


def test_a_failed_training_stops_the_release_before_the_suite(
    korebot: Korebot, fake: FakeKore
) -> None:
    fake.on_train(BOT, "en", MlStatus("Inprogress"), MlStatus("Failed"), kind="ml")

    result = release(korebot, fake, *GATED)

    assert result.returncode == 1, result.stderr
    assert steps(result) == [("✘", "train", "FAQ success (started), ML Failed (started)")]
    assert result.stdout.splitlines()[-1] == "✘ ML training failed: not published"
    assert calls(fake) == LIVE[: LIVE.index("POST run")]
    assert fake.batch_posts == []
    assert fake.publish_posts == []


def test_a_running_training_is_joined_not_started_again(korebot: Korebot, fake: FakeKore) -> None:
    """FAQ is running: followed, never POSTed; ML is started. Without --suite no quality
    gate applies, and the comment says so."""
    fake.script(BOT, "en", Status("in-progress"), Status("success"))

    result = release(korebot, fake, *FAST)

    assert result.returncode == 0, result.stderr
    assert fake.count(BOT, kind="train", training="faq") == 0
    assert fake.count(BOT, kind="train", training="ml") == 1
    assert "GET suites" not in calls(fake)
    assert fake.batch_posts == []
    assert steps(result)[:2] == [
        ("✔", "train", "FAQ success (joined: it was running), ML Finished (started)"),
        ("-", "gate", "no quality gate applies (no --suite)"),
    ]
    assert "korebot: The FAQ training of support (en) is already running" in result.stderr
    assert [p.version_comment for p in fake.publish_posts] == [
        "korebot release: FAQ and ML trained (en); no quality gate"
    ]


def test_a_lost_answer_to_a_train_post_is_never_sent_again(
    korebot: Korebot, fake: FakeKore
) -> None:
    """The ML POST answers 502: the status says whether it started. Nothing runs: the
    release stops (exit 4), saying that the FAQ training goes on, and nothing is published.
    A status that cannot be read first starts nothing."""
    fake.on_train(BOT, "en", Fail(502), kind="ml")

    lost = release(korebot, fake, *FAST)

    assert lost.returncode == 4, lost.stderr
    assert calls(fake)[-2:] == ["POST ml", "GET ml configured"]
    assert fake.count(BOT, kind="train", training="faq") == 1
    assert fake.count(BOT, kind="train", training="ml") == 1
    [(mark, name, words)] = steps(lost)
    assert (mark, name) == ("✘", "train")
    assert words.startswith(
        "Kore.ai did not answer the request to start the ML training of support (en) ("
    )
    assert words.endswith(
        "and none runs now: it was not sent again. The FAQ training started, and goes on in "
        "Kore.ai."
    )
    assert lost.stdout.splitlines()[-1] == "✘ train stopped by a Kore.ai error: not published"
    assert fake.publish_posts == []

    fake.script(BOT, "en", Fail(401), kind="ml")
    unread = release(korebot, fake, *FAST)
    assert unread.returncode == 4, unread.stderr
    assert steps(unread)[0][2].startswith(
        "Nothing was started: korebot could not read the ML training of support (en)'s status "
        "first. Kore.ai rejected the credentials"
    )
    assert fake.count(BOT, kind="train") == 2  # the first run's two


def test_without_the_admin_app_or_with_an_unknown_suite_nothing_is_started(
    korebot: Korebot, fake: FakeKore, tmp_path: Path
) -> None:
    """Exit 2 before any step: no Admin Console app (said what to set; nothing sent), an
    unknown suite (the bot's are listed; only the list was asked for), --min-f1 without
    --suite, a language the bot does not have, a bad comment or number."""
    toml = tmp_path / "bots.toml"
    toml.write_text(f'[bots.english]\nid = "{BOT}"\nlanguages = ["en"]\n')
    no_admin = {"KORE_ADMIN_CLIENT_ID": "", "KORE_ADMIN_CLIENT_SECRET": ""}
    cases = [
        (["support", "en", *GATED], no_admin, "Publishing support needs an Admin Console app"),
        (["support", "en", "--min-f1", "0.9"], {}, "--min-f1 and --max-drop judge the --suite"),
        (["support", "en", "--comment", " "], {}, "--comment: A publish needs a version comment."),
        (["support", "en", "--suite", SMOKE, "--max-drop", "2"], {}, "--max-drop must be a"),
        (
            ["english", "de", "--suite", SMOKE],
            {"KOREBOT_CONFIG": str(toml)},
            "english has no language 'de' configured; its languages: en.",
        ),
    ]
    results = korebot.all([(["release", *args], env_for(fake, **env)) for args, env, _ in cases])
    for (args, _, message), result in zip(cases, results, strict=True):
        assert result.returncode == 2, (args, result.stderr)
        assert result.stderr.startswith(f"korebot: {message}"), (args, result.stderr)
        assert result.stdout == ""
        assert_clean(result)
    assert fake.requests == []

    unknown = release(korebot, fake, "--suite", "nosuch", *FAST, "--json")
    assert unknown.returncode == 2, unknown.stderr
    assert unknown.stdout == ""
    assert unknown.stderr == (
        "korebot: support has no batch test suite 'nosuch'. Its suites: 'smoke tests', "
        "'Last100sentences'.\n"
    )
    assert calls(fake) == ["GET suites"]


def test_dialogs_awaiting_approval_exit_3_and_say_what_unblocks_them(
    korebot: Korebot, fake: FakeKore
) -> None:
    fake.on_publish(BOT, PublishScript(languages=("en",), awaiting=("mortgage",)))

    result = release(korebot, fake, *GATED)

    assert result.returncode == 3, result.stderr
    assert steps(result)[2] == (
        "⚠",
        "publish",
        "support published, except the dialogs awaiting approval: mortgage (en)",
    )
    assert result.stdout.splitlines()[-1] == (
        "⚠ support published, except the dialogs awaiting approval: mortgage (en): support "
        f"is not live until {publish.UNBLOCK}"
    )
    assert len(fake.publish_posts) == 1
    assert "GET faq published" not in calls(fake)


def test_a_release_that_outlasts_its_timeout_exits_3(korebot: Korebot, fake: FakeKore) -> None:
    fake.on_publish(BOT, PublishScript(languages=("en",), running_polls=100))

    result = release(korebot, fake, *FAST, "--timeout", "3")

    assert result.returncode == 3, result.stderr
    assert [mark for mark, _, _ in steps(result)] == ["✔", "-", "✘"]
    assert steps(result)[2][2].startswith("Gave up waiting after 0m03s; last status: ")
    assert result.stdout.splitlines()[-1] == "✘ publish timed out: support is not live"
    assert len(fake.publish_posts) == 1


def test_json_is_one_object_with_the_steps_and_the_verdict(
    korebot: Korebot, fake: FakeKore
) -> None:
    live = release(korebot, fake, *GATED, "--json")
    assert live.returncode == 0, live.stderr
    data = json.loads(live.stdout)
    assert data["verdict"] == "live"
    assert data["exit_code"] == 0
    assert data["not_done"] == []
    assert data["suite"] == SMOKE
    assert data["bar"] == {"min_f1": 0.9, "max_drop": 0.02}
    assert [(s["name"], s["result"]) for s in data["steps"]] == [
        ("train", "succeeded"),
        ("gate", "succeeded"),
        ("publish", "succeeded"),
        ("live", "succeeded"),
    ]
    assert all(isinstance(s["seconds"], float) for s in data["steps"])
    train, gate, published, trained = (s["details"] for s in data["steps"])
    assert [(t["kind"], t["state"], t["how"]) for t in train["trainings"]] == [
        ("faq", "success", "started"),
        ("ml", "Finished", "started"),
    ]
    assert gate["verdict"] == "passed"
    assert gate["scores"]["f1"] == 0.92
    assert gate["f1_change"] == 0.01
    assert published["verdict"] == "published"
    assert published["posted"] is True
    assert [(t["kind"], t["status"]) for t in trained["trainings"]] == [
        ("faq", "success"),
        ("ml", "success"),
    ]
    assert "✔ support is live" in live.stderr  # the lines go to stderr

    fake.on_batch_run(BOT, SMOKE, BatchScript(running_polls=0, f1="0.85"))
    stopped = release(korebot, fake, *GATED, "--json")
    assert stopped.returncode == 1, stopped.stderr
    data = json.loads(stopped.stdout)
    assert data["verdict"] == "failed"
    assert data["exit_code"] == 1
    assert data["message"].startswith("gate failed: F1 0.85 is below the bar of 0.90 by 0.05")
    assert data["not_done"] == ["gate", "publish", "live"]
    assert [s["result"] for s in data["steps"]] == ["succeeded", "failed", "not_run", "not_run"]
    assert data["steps"][1]["details"]["scores"]["f1"] == 0.85
    assert data["steps"][2]["seconds"] is None
