"""Batch tests end to end: KoreClient's batch calls and ``korebot test`` (the real console
script, as a subprocess) over real HTTP against the fake Kore.ai on 127.0.0.1.

Time is never waited on beyond the CLI's smallest interval (0.1 s): runs are scripted to
end after a poll or two, and timeouts are a fraction of a second.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from support.cli import Korebot, Run, console_script, kore_env

from korebot.kore import (
    NO_RETRY,
    Credentials,
    InvalidInput,
    KoreClient,
    KoreUnavailable,
    NotFound,
    RateLimited,
    RetryPolicy,
    ScopeMissing,
    State,
    Status,
)
from korebot.testing.fake_kore import (
    BatchPost,
    BatchScript,
    BatchSuite,
    Fail,
    FakeKore,
    PastRun,
)

CLIENT_ID = "cs-batch-tests"
SECRET = "batch-tests-secret-2f7a9c41e0d36b85"
BOT = "st-1a2b3c4d-0000-5e6f-8a9b-0c1d2e3f4a5b"
SMOKE = "smoke tests/en"  # a space and a slash: one encoded path segment
SMOKE_PATH = f"/api/public/bot/{BOT}/testsuite/smoke%20tests%2Fen"
FAST = ["--interval", "0.1"]


class Clock:
    """The fake's rate-limit clock, moved by the client's sleeps (no real waiting)."""

    def __init__(self) -> None:
        self.now = 1_700_000_000.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.fixture
def fake() -> Iterator[FakeKore]:
    with FakeKore(CLIENT_ID, SECRET, bots=[BOT]) as kore:
        kore.batch_suites(
            BOT,
            BatchSuite(SMOKE, description="the basics", results=(PastRun("0.91"),)),
            BatchSuite("Last100sentences", type="prebuilt"),
            BatchSuite("AllMlUtterances", type="prebuilt"),
        )
        yield kore


def make_client(fake: FakeKore, retry: RetryPolicy = NO_RETRY, **kwargs: object) -> KoreClient:
    return KoreClient(
        fake.url,
        Credentials(fake.client_id, fake.client_secret),
        retry=retry,
        **kwargs,  # type: ignore[arg-type]
    )


# -- the client -------------------------------------------------------------------------------


def test_a_run_is_one_post_with_the_version_the_language_header_and_an_encoded_name(
    fake: FakeKore,
) -> None:
    with make_client(fake) as client:
        started = client.run_batch_test(BOT, "EN", SMOKE, State.PUBLISHED)
    assert started.request_id.startswith("tr-")
    assert fake.batch_posts == [
        BatchPost(BOT, SMOKE, "published", "en", None, 200, started.request_id)
    ]
    assert [(r.method, r.path) for r in fake.requests] == [("POST", f"{SMOKE_PATH}/run")]
    with make_client(fake) as client:
        client.run_batch_test(BOT, "en", SMOKE)
    assert fake.batch_posts[-1].version == "inDevelopment"


def test_status_runs_then_completes_with_scores(fake: FakeKore) -> None:
    fake.on_batch_run(BOT, SMOKE, BatchScript(running_polls=2, f1="0.87", partial_failure=True))
    with make_client(fake) as client:
        request_id = client.run_batch_test(BOT, "en", SMOKE).request_id
        answers = [client.batch_test_status(BOT, "en", SMOKE, request_id) for _ in range(3)]
    assert [a.status for a in answers] == [Status.IN_PROGRESS, Status.IN_PROGRESS, Status.SUCCESS]
    assert [a.counts.ran for a in answers[:2]] == [3, 6]
    done = answers[-1]
    assert done.request_id == request_id
    assert done.scores.f1 == 0.87
    assert done.partial_failure
    assert done.report_url is not None
    assert done.state is State.CONFIGURED
    assert fake.count(BOT, kind="batch-status") == 3
    assert fake.count(BOT, kind="any", training="batch") == 4


def test_the_suites_list_follows_more_available(fake: FakeKore) -> None:
    many = [BatchSuite(f"suite {n:03d}") for n in range(120)]
    fake.batch_suites(BOT, *many)
    with make_client(fake) as client:
        suites = client.batch_test_suites(BOT, "en")
    assert [s.name for s in suites] == [s.name for s in many]
    assert fake.count(BOT, kind="batch-suites") == 3
    assert [r.query for r in fake.requests] == [
        {"skip": "0", "limit": "50"},
        {"skip": "50", "limit": "50"},
        {"skip": "100", "limit": "50"},
    ]


def test_the_run_post_is_never_retried_and_status_gets_are(fake: FakeKore) -> None:
    fake.on_batch_run(BOT, SMOKE, BatchScript(post=Fail(503)))
    clock = Clock()
    with (
        make_client(fake, RetryPolicy(), sleep=clock.sleep) as client,
        pytest.raises(KoreUnavailable),
    ):
        client.run_batch_test(BOT, "en", SMOKE)
    assert fake.count(BOT, kind="batch-run") == 1
    assert clock.sleeps == []
    # A rate limit (a transient failure) on status GETs is ridden out; on the POST it is not.
    with FakeKore(CLIENT_ID, SECRET, bots=[BOT], rate_limit=(1, 1800), clock=clock) as limited:
        limited.batch_suites(BOT, BatchSuite(SMOKE))
        # Retry-After is up to a minute here: a budget that allows waiting it out.
        patient = RetryPolicy(budget=120)
        with make_client(limited, patient, sleep=clock.sleep) as client:
            request_id = client.run_batch_test(BOT, "en", SMOKE).request_id
            answer = client.batch_test_status(BOT, "en", SMOKE, request_id)
            assert answer.request_id == request_id
            assert clock.sleeps  # waited for the 429's Retry-After, on the fake's clock
            with pytest.raises(RateLimited):
                client.run_batch_test(BOT, "en", SMOKE)
        assert limited.count(BOT, kind="batch-run") == 2


def test_a_missing_scope_names_the_scope_to_grant() -> None:
    with FakeKore(CLIENT_ID, SECRET, bots=[BOT], scopes=["faq", "ml", "batch-manage"]) as fake:
        fake.batch_suites(BOT, BatchSuite(SMOKE))
        with make_client(fake) as client:
            assert client.batch_test_suites(BOT, "en")
            with pytest.raises(ScopeMissing, match="'Batch Tests Execution'"):
                client.run_batch_test(BOT, "en", SMOKE)
    with (
        FakeKore(CLIENT_ID, SECRET, bots=[BOT], scopes=["batch-run"]) as fake,
        make_client(fake) as client,
        pytest.raises(ScopeMissing, match="'Batch Tests Management'"),
    ):
        client.batch_test_suites(BOT, "en")


def test_an_unknown_suite_or_run_is_not_found(fake: FakeKore) -> None:
    with make_client(fake) as client:
        with pytest.raises(NotFound, match="batch test suite 'nosuch'"):
            client.run_batch_test(BOT, "en", "nosuch")
        with pytest.raises(NotFound):
            client.batch_test_status(BOT, "en", SMOKE, "tr-unknown")


def test_bad_input_is_refused_before_any_request(fake: FakeKore) -> None:
    with make_client(fake) as client:
        for call in (
            lambda: client.run_batch_test(BOT, "en", "x" * 500),
            lambda: client.run_batch_test(BOT, "en", "a\nb"),
            lambda: client.run_batch_test(BOT, "en/../de", SMOKE),
            lambda: client.batch_test_status(BOT, "en", SMOKE, "../../faqs"),
        ):
            with pytest.raises(InvalidInput):
                call()
    assert fake.requests == []


def test_the_fake_wants_the_language_header_and_a_version() -> None:
    with FakeKore(CLIENT_ID, SECRET, bots=[BOT], enforce_jti=False) as fake:
        fake.batch_suites(BOT, BatchSuite(SMOKE))
        token = Credentials(CLIENT_ID, SECRET).token()
        url = f"{fake.url}{SMOKE_PATH}/run"
        with httpx.Client() as http:
            no_header = http.post(url, json={"version": "inDevelopment"}, headers={"auth": token})
            no_version = http.post(url, json={}, headers={"auth": token, "bot-language": "en"})
            raw_slash = http.post(
                f"{fake.url}/api/public/bot/{BOT}/testsuite/smoke tests/en/run",
                json={"version": "inDevelopment"},
                headers={"auth": token, "bot-language": "en"},
            )
        assert no_header.status_code == 400
        assert "bot-language" in no_header.text
        assert no_version.status_code == 412
        assert raw_slash.status_code in (400, 404)
        assert [p.http_status for p in fake.batch_posts] == [400, 412]


# -- the command line -------------------------------------------------------------------------


@pytest.fixture
def korebot(tmp_path: Path) -> Korebot:
    return console_script(tmp_path)


def env_for(fake: FakeKore, workdir: Path, **overrides: str) -> dict[str, str]:
    # No such database: the command counts its own calls against the same limits.
    database = f"sqlite:///{workdir / 'none.db'}"
    return kore_env(fake, BOT, **({"DATABASE_URL": database} | overrides))


def assert_clean(result: Run) -> None:
    output = result.stdout + result.stderr
    assert "Traceback" not in output, result.stderr
    assert SECRET not in output
    assert "\x1b[" not in output


def test_a_run_that_completes_prints_scores_and_the_comparison(
    korebot: Korebot, fake: FakeKore
) -> None:
    fake.on_batch_run(BOT, SMOKE, BatchScript(running_polls=1, f1="0.90"))
    result = korebot(["test", "support", "en", SMOKE, *FAST], env_for(fake, korebot.workdir))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "✔ Passed: F1 0.90, down 0.01 from 0.91"
    assert "F1           0.90, down 0.01 from 0.91" in lines
    assert "TP/TN/FP/FN  8 / 1 / 1 / 0" in lines
    assert "Failed       1 of 10 utterances" in lines
    assert "Took         2m01s" in lines
    report = next(line for line in lines if line.startswith("Report"))
    assert "https://" in report
    assert "expires" in report
    assert fake.batch_posts[0].request_id in result.stdout
    assert "running" in result.stderr  # progress goes to stderr; stdout starts with the verdict
    assert_clean(result)
    assert len(fake.batch_posts) == 1
    assert fake.count(BOT, kind="batch-status") == 2


def test_below_the_bar_and_past_the_drop_fail_saying_which(
    korebot: Korebot, fake: FakeKore, tmp_path: Path
) -> None:
    # One suite per case: a completed run joins its suite's results, and the runs are parallel.
    cases = ["below", "dropped", "tolerated", "from env", "from file"]
    fake.batch_suites(BOT, *(BatchSuite(case, results=(PastRun("0.91"),)) for case in cases))
    for case in cases:
        fake.on_batch_run(BOT, case, BatchScript(running_polls=0, f1="0.87"))
    toml = tmp_path / "bots.toml"
    toml.write_text(f'[bots.strict]\nid = "{BOT}"\nmin_f1 = 0.95\nmax_f1_drop = 0.1\n')
    base = env_for(fake, korebot.workdir)
    env = {**base, "KOREBOT_MIN_F1": "0.88", "KOREBOT_MAX_F1_DROP": "0.5"}
    below, dropped, tolerated, from_env, from_file = korebot.all(
        [
            (
                ["test", "support", "en", "below", "--min-f1", "0.9", "--max-drop", "0.5", *FAST],
                base,
            ),
            (["test", "support", "en", "dropped", *FAST], base),
            (["test", "support", "en", "tolerated", "--max-drop", "0.05", *FAST], base),
            (["test", "support", "en", "from env", *FAST], env),
            (["test", "strict", "en", "from file", *FAST], {**env, "KOREBOT_CONFIG": str(toml)}),
        ]
    )
    assert below.returncode == 1, below.stderr
    assert below.stdout.splitlines()[0] == ("✘ Failed: F1 0.87 is below the bar of 0.90 by 0.03")
    assert dropped.returncode == 1, dropped.stderr
    first = dropped.stdout.splitlines()[0]
    assert first.startswith("✘ Failed: F1 0.87 dropped 0.04 from the previous run's 0.91")
    assert "0.02 tolerated" in first
    assert tolerated.returncode == 0, tolerated.stderr
    assert from_env.returncode == 1, from_env.stderr
    assert "below the bar of 0.88 by 0.01" in from_env.stdout.splitlines()[0]
    # The bot's own bar (TOML) replaces the environment's; its drop of 0.1 tolerates 0.04.
    assert from_file.returncode == 1, from_file.stderr
    assert from_file.stdout.splitlines()[0] == "✘ Failed: F1 0.87 is below the bar of 0.95 by 0.08"
    for result in (below, dropped, tolerated, from_env, from_file):
        assert_clean(result)


def test_a_failed_run_and_a_partial_failure(korebot: Korebot, fake: FakeKore) -> None:
    fake.batch_suites(BOT, BatchSuite("broken"), BatchSuite("lossy"))
    fake.on_batch_run(BOT, "broken", BatchScript(status="failed", f1=None))
    fake.on_batch_run(BOT, "lossy", BatchScript(partial_failure=True, f1="0.93"))
    env = env_for(fake, korebot.workdir)
    failed, partial, partial_json = korebot.all(
        [
            (["test", "support", "en", "broken", *FAST], env),
            (["test", "support", "en", "lossy", *FAST], env),
            (["test", "support", "en", "lossy", "--json", *FAST], env),
        ]
    )
    assert failed.returncode == 1, failed.stderr
    assert failed.stdout.splitlines()[0] == "✘ Failed: the run failed: Kore.ai says 'failed'"
    assert partial.returncode == 0, partial.stderr
    first = partial.stdout.splitlines()[0]
    assert first.startswith("⚠ Passed with a warning")
    assert "partial failure" in first
    data = json.loads(partial_json.stdout)
    assert data["partial_failure"] is True
    assert data["verdict"] == "passed"
    assert data["warnings"]
    for result in (failed, partial, partial_json):
        assert_clean(result)


def test_usage_errors_exit_2_before_any_run(
    korebot: Korebot, fake: FakeKore, tmp_path: Path
) -> None:
    toml = tmp_path / "bots.toml"
    toml.write_text(f'[bots.english]\nid = "{BOT}"\nlanguages = ["en"]\n')
    env = env_for(fake, korebot.workdir)
    cases: list[tuple[list[str], str]] = [
        (["nosuch"], "Its suites: 'smoke tests/en', 'Last100sentences', 'AllMlUtterances'."),
        ([], "Missing argument"),
        (["x" * 500], "at most 200 characters"),
        (["a\x1b[31mb"], "control or invisible characters"),
        (["tab\there"], "control or invisible characters"),
        (["  "], "Give the name of a batch test suite"),
        ([SMOKE, "--min-f1", "1.5"], "--min-f1 must be a number from 0 to 1"),
        ([SMOKE, "--max-drop", "nan"], "--max-drop must be a number from 0 to 1"),
        ([SMOKE, "--min-f1", "high"], "Invalid value for '--min-f1'"),
        ([SMOKE, "--version", "draft"], "'draft' is not one of"),
    ]
    runs = [(["test", "support", "en", *args], env) for args, _ in cases]
    runs.append((["test", "english", "de", SMOKE], {**env, "KOREBOT_CONFIG": str(toml)}))
    runs.append((["test", "support", "en/../x", SMOKE], env))
    results = korebot.all(runs)
    messages = [message for _, message in cases]
    messages += ["english has no language 'de' configured; its languages: en.", "not a language"]
    for (args, _), message, result in zip(runs, messages, results, strict=True):
        assert result.returncode == 2, (args, result.stdout, result.stderr)
        assert message in result.stderr, (args, result.stderr)
        assert result.stdout == ""
        assert_clean(result)
    assert fake.batch_posts == []
    # Only the unknown suite needed Kore.ai: one suites list.
    assert [r.path for r in fake.requests] == [f"/api/public/bot/{BOT}/testsuite"]


def test_a_hostile_but_printable_name_goes_as_one_segment(korebot: Korebot, fake: FakeKore) -> None:
    name = """qa/"it's" #1 ?x=1&y=%20 100% [bold] :x: ü"""
    fake.batch_suites(BOT, BatchSuite(name))
    result = korebot(["test", "support", "en", name, *FAST], env_for(fake, korebot.workdir))
    assert result.returncode == 0, result.stderr
    assert [post.suite for post in fake.batch_posts] == [name]
    assert f"Suite        {name} (custom)" in result.stdout.splitlines()
    assert_clean(result)
    as_json = korebot(
        ["test", "support", "en", name, "--json", *FAST], env_for(fake, korebot.workdir)
    )
    assert json.loads(as_json.stdout)["suite"] == name


def test_a_missing_scope_exits_4_naming_the_scope(korebot: Korebot, tmp_path: Path) -> None:
    with FakeKore(CLIENT_ID, SECRET, bots=[BOT], scopes=["batch-manage"]) as fake:
        fake.batch_suites(BOT, BatchSuite(SMOKE))
        no_run = korebot(["test", "support", "en", SMOKE], env_for(fake, tmp_path))
    with FakeKore(CLIENT_ID, SECRET, bots=[BOT], scopes=["batch-run"]) as fake:
        fake.batch_suites(BOT, BatchSuite(SMOKE))
        no_list = korebot(["test", "support", "en", SMOKE], env_for(fake, tmp_path))
        assert fake.batch_posts == []
    assert no_run.returncode == 4
    assert "Grant the app the 'Batch Tests Execution' scope" in no_run.stderr
    assert no_list.returncode == 4
    assert "Grant the app the 'Batch Tests Management' scope" in no_list.stderr
    for result in (no_run, no_list):
        assert result.stdout == ""
        assert_clean(result)


def test_json_prints_one_object_with_scores_counts_previous_and_verdict(
    korebot: Korebot, fake: FakeKore
) -> None:
    fake.on_batch_run(BOT, SMOKE, BatchScript(running_polls=1, f1="0.87"))
    args = ["test", "support", "en", SMOKE, "--json", "--min-f1", "0.8", *FAST]
    result = korebot(args, env_for(fake, korebot.workdir))
    assert result.returncode == 1, result.stderr
    data = json.loads(result.stdout)
    assert data["bot"] == "support"
    assert data["bot_id"] == BOT
    assert (data["language"], data["suite"], data["version"]) == ("en", SMOKE, "configured")
    assert data["request_id"] == fake.batch_posts[0].request_id
    assert (data["status"], data["raw_status"]) == ("success", "completed")
    assert data["scores"] == {"f1": 0.87, "precision": 0.93, "recall": 0.89}
    assert {k: data["counts"][k] for k in ("tp", "tn", "fp", "fn", "failed_utterances")} == {
        "tp": 8,
        "tn": 1,
        "fp": 1,
        "fn": 0,
        "failed_utterances": 1,
    }
    assert data["previous"]["scores"]["f1"] == 0.91
    assert data["f1_change"] == pytest.approx(-0.04)
    assert data["verdict"] == "failed"
    assert len(data["reasons"]) == 1
    assert "dropped 0.04" in data["reasons"][0]
    assert data["bar"] == {"min_f1": 0.8, "max_drop": 0.02}
    assert data["report_url"].startswith("https://")
    assert data["duration_seconds"] == pytest.approx(121.113)
    assert_clean(result)


def test_no_wait_starts_the_run_and_exits_3_with_its_request_id(
    korebot: Korebot, fake: FakeKore
) -> None:
    env = env_for(fake, korebot.workdir)
    text, as_json = korebot.all(
        [
            (["test", "support", "en", SMOKE, "--no-wait", "--version", "published"], env),
            (["test", "support", "en", SMOKE, "--no-wait", "--json"], env),
        ]
    )
    assert text.returncode == 3, text.stderr
    assert as_json.returncode == 3, as_json.stderr
    ids = {post.request_id for post in fake.batch_posts}
    assert len(ids) == 2
    assert any(request_id in text.stdout for request_id in ids)  # type: ignore[operator]
    data = json.loads(as_json.stdout)
    assert data["request_id"] in ids
    assert data["verdict"] == "running"
    assert sorted(post.version for post in fake.batch_posts) == ["inDevelopment", "published"]
    assert fake.count(BOT, kind="batch-status") == 0
    for result in (text, as_json):
        assert_clean(result)


def test_a_run_past_the_timeout_exits_3(korebot: Korebot, fake: FakeKore) -> None:
    fake.batch_suites(BOT, BatchSuite(SMOKE), BatchSuite("odd"))
    fake.on_batch_run(BOT, SMOKE, BatchScript(running_polls=10_000))
    # A status korebot does not know is shown verbatim and waited on, never a crash.
    fake.on_batch_run(BOT, "odd", BatchScript(running_polls=0, status="queued"))
    env = env_for(fake, korebot.workdir)
    text, as_json, odd = korebot.all(
        [
            (["test", "support", "en", SMOKE, "--timeout", "0.35", *FAST], env),
            (["test", "support", "en", SMOKE, "--timeout", "0.35", "--json", *FAST], env),
            (["test", "support", "en", "odd", "--timeout", "0.35", *FAST], env),
        ]
    )
    assert text.returncode == 3, text.stderr
    assert "Gave up waiting" in text.stderr
    assert "last status: running" in text.stderr
    request_ids = [post.request_id for post in fake.batch_posts]
    assert any(rid is not None and rid in text.stderr for rid in request_ids)
    assert as_json.returncode == 3, as_json.stderr
    assert json.loads(as_json.stdout)["verdict"] == "running"
    assert odd.returncode == 3, odd.stderr
    assert "last status: queued" in odd.stderr
    # A 0.1 s interval within 0.35 s: a few polls each, never a busy loop.
    assert 3 <= fake.count(BOT, kind="batch-status") <= 15
    for result in (text, as_json, odd):
        assert_clean(result)


def test_polls_wait_for_the_bots_budget(korebot: Korebot, fake: FakeKore) -> None:
    """Two calls a minute: the list and the POST spend them; polls wait, past the timeout."""
    env = env_for(fake, korebot.workdir, KOREBOT_KORE_CALLS_PER_MINUTE="2")
    result = korebot(["test", "support", "en", SMOKE, "--timeout", "0.5", *FAST], env)
    assert result.returncode == 3, result.stderr
    assert len(fake.batch_posts) == 1
    assert fake.count(BOT, kind="batch-status") == 0
    assert_clean(result)


def test_the_budget_is_the_apps_when_its_database_is_there(
    korebot: Korebot, fake: FakeKore, tmp_path: Path
) -> None:
    """The app's database holds the bot's minute, spent: nothing is asked, nothing started."""
    from korebot.gateway import Limits
    from korebot.watch.store import Store
    from korebot.watch.store.kore_calls import DatabaseBudget
    from korebot.watch.store.migrate import migrate

    url = f"sqlite:///{tmp_path / 'app.db'}"
    migrate(url)
    store = Store(url)
    try:
        budget = DatabaseBudget(store.kore_calls, Limits(2, 1800))
        assert [budget.acquire((fake.url, BOT)) for _ in range(2)] == [0, 0]
    finally:
        store.dispose()
    env = env_for(fake, korebot.workdir, DATABASE_URL=url, KOREBOT_KORE_CALLS_PER_MINUTE="2")
    result = korebot(["test", "support", "en", SMOKE, "--timeout", "0.5", *FAST], env)
    assert result.returncode == 4, result.stderr
    assert "rate limit for support is used up" in result.stderr
    assert "Nothing was started" in result.stderr
    assert fake.requests == []
    assert_clean(result)


def test_a_kore_error_mid_run_exits_4(korebot: Korebot, fake: FakeKore) -> None:
    fake.on_batch_run(
        BOT, SMOKE, BatchScript(post=Fail(400, body='{"errors": [{"msg": "Suite is empty"}]}'))
    )
    result = korebot(["test", "support", "en", SMOKE, *FAST], env_for(fake, korebot.workdir))
    assert result.returncode == 4, result.stderr
    assert "Suite is empty" in result.stderr
    assert len(fake.batch_posts) == 1  # never retried
    assert_clean(result)


def test_help_has_an_example(korebot: Korebot, fake: FakeKore) -> None:
    result = korebot(["test", "--help"], env_for(fake, korebot.workdir))
    assert result.returncode == 0
    assert "Example: korebot test support en" in result.stdout
    assert fake.requests == []
