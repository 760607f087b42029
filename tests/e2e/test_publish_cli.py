"""Publishing from the command line: ``korebot publish`` and ``korebot status BOT --kind
publish``, the real console script as a subprocess against the fake Kore.ai on 127.0.0.1,
with the Admin Console app's credentials in the environment.

Time is never waited on beyond the CLI's smallest interval (0.1 s): publishes are scripted
to end after a poll or two, and timeouts are a fraction of a second. Independent runs of
one test go concurrently.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from datetime import datetime, timedelta

import pytest
import support.cli
from support.cli import Korebot, Run, console_script, kore_env

from korebot.testing import fake_publish
from korebot.testing.fake_kore import Fail, FakeKore, PublishScript
from korebot.testing.fake_publish import ADMIN_USER, BUILDER_USER, PAST_JOB_ID
from korebot.testing.kore_http import Answer

CLIENT_ID = "cs-publish-cli-tests"
SECRET = "publish-cli-tests-secret-5b1e9d03a7c24f68"
ADMIN_ID = "cs-publish-cli-admin"
ADMIN_SECRET = "publish-cli-admin-secret-0c7d2e94f1a8b365"
BOT = "st-1a2b3c4d-0000-5e6f-8a9b-0c1d2e3f4a5b"
FAST = ["--interval", "0.1"]
DEFAULT_COMMENT = "Published from the korebot CLI"
APPROVE = (
    "an admin approves them in the Admin Console (Bots Management > the bot > Publish "
    "requests), or turns on Auto Approve for the bot"
)
HINT = (
    "set KORE_ADMIN_CLIENT_ID and KORE_ADMIN_CLIENT_SECRET, or the bot's admin_client_id "
    "and admin_client_secret_env in the KOREBOT_CONFIG file."
)
JSON_KEYS = {
    "bot",
    "bot_id",
    "kind",
    "state",
    "status",
    "job_id",
    "requested_at",
    "requested_by",
    "modified_at",
    "percent_complete",
    "resources",
    "failed_resources",
    "awaiting_approval",
    "verdict",
    "exit_code",
    "meaning",
}
PUBLISH_JSON_KEYS = JSON_KEYS | {"posted", "joined", "answer_lost", "comment", "training", "sent"}


@pytest.fixture(scope="module")
def korebot(tmp_path_factory: pytest.TempPathFactory) -> Korebot:
    return console_script(tmp_path_factory.mktemp("korebot-publish-cli"))


@pytest.fixture
def fake() -> Iterator[FakeKore]:
    with FakeKore(
        CLIENT_ID, SECRET, bots=[BOT], admin_client_id=ADMIN_ID, admin_client_secret=ADMIN_SECRET
    ) as kore:
        yield kore


def env_for(fake: FakeKore, **overrides: str) -> dict[str, str]:
    """A clean environment with both apps' credentials, pointed at the fake."""
    return kore_env(fake, BOT, admin=True, **overrides)


def bots(*aliases: str) -> dict[str, str]:
    """A bot ID for each alias."""
    return {alias: f"st-{n:08d}-0000-4000-8000-000000000000" for n, alias in enumerate(aliases, 1)}


def assert_clean(result: Run) -> None:
    support.cli.assert_clean(result, SECRET, ADMIN_SECRET)


def row(result: Run, label: str) -> str:
    """The value of one of the plain lines ``Label   value``."""
    lines = [line for line in result.stdout.splitlines() if re.match(rf"{label}\s\s", line)]
    assert len(lines) == 1, result.stdout
    return lines[0][len(label) :].strip()


# -- status --kind publish -----------------------------------------------------------------------


def test_status_of_the_latest_publish_exit_codes(korebot: Korebot, fake: FakeKore) -> None:
    """0 successful, 1 failed (naming the resources) or never published, 3 running, 4 an
    unknown status or a Kore.ai error; no language is given."""
    ids = bots("done", "broken", "busy", "never", "odd", "gone")
    fake.on_publish(ids["done"], PublishScript())
    failed = PublishScript(
        running_polls=0, outcome="failed", failed=("Settings", "Natural Language")
    )
    fake.start_publish_elsewhere(ids["broken"], failed)
    fake.start_publish_elsewhere(ids["busy"], PublishScript(running_polls=5))
    fake.never_published(ids["never"])
    fake.never_published(ids["odd"], Fail(200, body='{"status": "queued"}'))
    fake.never_published(ids["gone"], Fail(404))
    env = env_for(fake, KOREBOT_BOTS=",".join(f"{alias}={bot}" for alias, bot in ids.items()))
    results = dict(
        zip(
            ids,
            korebot.all([(["status", alias, "--kind", "publish"], env) for alias in ids]),
            strict=True,
        )
    )
    for result in results.values():
        assert_clean(result)

    done = results["done"]
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[0] == "✔ done published"
    assert row(done, "Bot") == f"done ({ids['done']})"
    assert row(done, "State") == "successful"
    assert row(done, "Job ID") == PAST_JOB_ID
    assert row(done, "Requested").startswith("2023-06-26 11:58:02 UTC (")
    assert row(done, "By") == ADMIN_USER
    assert row(done, "Complete") == "100 %"
    assert row(done, "Resources") == "Settings ✔, Natural Language ✔"
    assert done.stderr == ""

    broken = results["broken"]
    assert broken.returncode == 1, broken.stderr
    first = broken.stdout.splitlines()[0]
    assert first == "✘ Publishing broken failed: Settings, Natural Language failed"
    assert row(broken, "Resources") == "Settings ✘ FAILED, Natural Language ✘ FAILED"
    assert row(broken, "By") == BUILDER_USER

    busy = results["busy"]
    assert busy.returncode == 3, busy.stderr
    assert busy.stdout.splitlines()[0] == "… Publishing busy is still running (16 % complete)"
    assert row(busy, "State") == "inprogress"

    never = results["never"]
    assert never.returncode == 1, never.stderr
    assert never.stdout.splitlines() == [
        "✘ never has never been published",
        f"Bot          never ({ids['never']})",
        "State        never published",
    ]

    odd = results["odd"]
    assert odd.returncode == 4, odd.stderr
    assert "a status korebot does not know" in odd.stdout
    assert odd.stderr == "korebot: Kore.ai reported an unknown publish status 'queued'.\n"

    gone = results["gone"]
    assert gone.returncode == 4, gone.stderr
    assert gone.stdout == ""
    assert gone.stderr.startswith("korebot: Kore.ai does not know bot ")

    # One status call each, with the Admin Console app; nothing else.
    assert fake.count(kind="publish-status") == len(ids)
    assert fake.count(kind="any") == len(ids)
    assert all(r.claims and r.claims.get("appId") == ADMIN_ID for r in fake.requests)


def test_status_of_the_latest_publish_as_json(korebot: Korebot, fake: FakeKore) -> None:
    job = fake.start_publish_elsewhere(BOT, PublishScript(running_polls=1))
    result = korebot(["status", "support", "--kind", "publish", "--json"], env_for(fake))
    assert result.returncode == 3, result.stderr
    data = json.loads(result.stdout)
    assert set(data) == JSON_KEYS
    assert data["bot"] == "support"
    assert data["bot_id"] == BOT
    assert data["kind"] == "publish"
    assert (data["state"], data["status"]) == ("inprogress", "in-progress")
    assert data["job_id"] == job.job_id
    assert datetime.fromisoformat(data["requested_at"]) == job.requested_at.replace(
        microsecond=job.requested_at.microsecond // 1000 * 1000
    )
    assert data["requested_by"] == BUILDER_USER
    assert data["percent_complete"] == 50
    assert data["resources"] == [{"name": "Settings", "type": "SETTINGS", "status": "SUCCESS"}]
    assert (data["failed_resources"], data["awaiting_approval"]) == ([], [])
    assert (data["verdict"], data["exit_code"]) == ("running", 3)
    assert data["meaning"] == "the publish is still running"
    assert result.stderr == ""
    assert_clean(result)


def test_status_usage_errors_exit_2_and_send_nothing(korebot: Korebot, fake: FakeKore) -> None:
    no_admin = env_for(fake, KORE_ADMIN_CLIENT_ID="", KORE_ADMIN_CLIENT_SECRET="")
    env = env_for(fake)
    cases = [
        (
            ["status", "support", "en", "--kind", "publish"],
            env,
            "korebot: A publish is the whole bot's, in every language: give no language "
            "(`korebot status support --kind publish`).\n",
        ),
        (
            ["status", "support", "--kind", "publish", "--state", "published"],
            env,
            "korebot: --state is not for --kind publish: a publish is of the published version.\n",
        ),
        (["status", "support", "--kind", "publish"], no_admin, HINT),
        # The other kinds still want a language (the bot has none configured) ...
        (["status", "support"], env, "korebot: Give a language, e.g. `korebot status support en`."),
        # ... and a kind that is not theirs is a usage error, never a traceback.
        (["status", "support", "en", "--kind", "batch"], env, "'batch' is not one of"),
        (["watch", "support", "en", "--kind", "publish"], env, "'publish' is not one of"),
        (["train", "support", "en", "--kind", "publish"], env, "'publish' is not one of"),
    ]
    results = korebot.all([(args, env) for args, env, _ in cases])
    for (args, _, message), result in zip(cases, results, strict=True):
        assert result.returncode == 2, (args, result.stdout, result.stderr)
        assert message in result.stderr, (args, result.stderr)
        assert result.stdout == ""
        assert_clean(result)
    hint = results[2].stderr
    assert hint.startswith("korebot: Publishing support needs an Admin Console app"), hint
    assert fake.requests == []


# -- publish --------------------------------------------------------------------------------------


def test_publish_posts_once_and_a_started_publish_is_3(korebot: Korebot, fake: FakeKore) -> None:
    fake.on_publish(BOT, PublishScript(running_polls=2))
    result = korebot(["publish", "support"], env_for(fake))
    assert result.returncode == 3, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == (
        f"Publishing support ({BOT}) (with training, comment \u201c{DEFAULT_COMMENT}\u201d): "
        "Kore.ai took the request. Resources: Natural Language (NL), Settings (SETTINGS)."
    )
    assert lines[1] == "… Publishing support is still running (33 % complete)"
    [post] = fake.publish_posts
    assert row(result, "Job ID") == post.job_id
    assert row(result, "By") == ADMIN_USER
    assert row(result, "Comment") == f"\u201c{DEFAULT_COMMENT}\u201d"
    assert lines[-1] == (
        "Not waiting (--wait waits for it): `korebot status support --kind publish` tells how "
        "it ends."
    )
    assert (post.version_comment, post.initiate_training, post.http_status) == (
        DEFAULT_COMMENT,
        True,
        200,
    )
    # The status first, the one POST, the status after it.
    assert [(r.method, r.path.rsplit("/", 1)[-1]) for r in fake.requests] == [
        ("GET", "status"),
        ("POST", "publish"),
        ("GET", "status"),
    ]
    assert all(r.claims and r.claims.get("appId") == ADMIN_ID for r in fake.requests)
    assert result.stderr == ""
    assert_clean(result)


def test_publish_wait_ends_with_the_publishs_exit_code(korebot: Korebot, fake: FakeKore) -> None:
    """Three bots at once: successful 0, failed 1 (naming the resources), timeout 3."""
    ids = bots("done", "broken", "slow")
    fake.on_publish(ids["done"], PublishScript(running_polls=2))
    fake.on_publish(
        ids["broken"],
        PublishScript(
            running_polls=1, outcome="failed", awaiting=("Refunds",), failed=("Refunds",)
        ),
    )
    fake.on_publish(ids["slow"], PublishScript(running_polls=1000))
    env = env_for(fake, KOREBOT_BOTS=",".join(f"{alias}={bot}" for alias, bot in ids.items()))
    done, broken, slow = korebot.all(
        [
            (
                ["publish", "done", "--comment", " Release\t42 ", "--no-training", "--wait", *FAST],
                env,
            ),
            (["publish", "broken", "--wait", *FAST], env),
            (["publish", "slow", "--wait", "--timeout", "0.3", *FAST], env),
        ]
    )
    for result in (done, broken, slow):
        assert_clean(result)
    posts = {post.bot_id: post for post in fake.publish_posts}
    assert len(fake.publish_posts) == 3  # one each

    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith(
        f"Publishing done ({ids['done']}) (without training, comment \u201cRelease 42\u201d)"
    )
    assert lines[1] == "✔ done published"
    assert row(done, "State") == "successful"
    assert row(done, "Job ID") == posts[ids["done"]].job_id
    assert row(done, "Complete") == "100 %"
    assert (posts[ids["done"]].version_comment, posts[ids["done"]].initiate_training) == (
        "Release 42",
        False,
    )
    # Progress on stderr, once per change: 33 % then 66 %.
    progress = done.stderr.splitlines()
    assert len(progress) == 2, done.stderr
    assert re.fullmatch(r"\[0m0\ds\] done: inprogress, 33 % complete", progress[0]), progress
    assert progress[1].endswith("done: inprogress, 66 % complete")
    assert fake.count(ids["done"], kind="publish-status") == 1 + 3

    assert broken.returncode == 1, broken.stderr
    assert "✘ Publishing broken failed: Refunds failed" in broken.stdout.splitlines()
    assert row(broken, "Resources") == "Settings ✔, Natural Language ✔, Refunds ✘ FAILED"

    assert slow.returncode == 3, slow.stderr
    assert slow.stderr.splitlines()[-1] == (
        "korebot: Gave up waiting after 0m00s; last status: inprogress, 0 % complete. The "
        "publish goes on in Kore.ai: `korebot status slow --kind publish` tells how it ends."
    )
    assert 2 <= fake.count(ids["slow"], kind="publish-status") <= 5  # never a busy loop


def test_dialogs_awaiting_approval_are_named_with_what_unblocks_them(
    korebot: Korebot, fake: FakeKore
) -> None:
    """Text and --json at once (two bots): the publish ends, but it is 3 while dialogs wait."""
    ids = bots("text", "json")
    for bot in ids.values():
        fake.on_publish(
            bot,
            PublishScript(
                running_polls=1, awaiting=("Order Pizza", "Refunds"), languages=("en", "de")
            ),
        )
    env = env_for(fake, KOREBOT_BOTS=",".join(f"{alias}={bot}" for alias, bot in ids.items()))
    text, as_json = korebot.all(
        [
            (["publish", "text", "--wait", *FAST], env),
            (["publish", "json", "--wait", "--json", *FAST], env),
        ]
    )
    waiting = "Order Pizza (en, de), Refunds (en, de)"
    assert text.returncode == 3, text.stderr
    lines = text.stdout.splitlines()
    assert lines[0].endswith(
        "Resources: Order Pizza (dialog), Refunds (dialog), Natural Language (NL), "
        "Settings (SETTINGS)."
    )
    assert lines[1] == f"Awaiting approval: {waiting}. They are published once {APPROVE}."
    assert lines[2] == f"⚠ text published, except the dialogs awaiting approval: {waiting}"
    assert row(text, "State") == "successful"
    assert row(text, "Awaiting") == f"{waiting}: {APPROVE}"
    assert_clean(text)

    assert as_json.returncode == 3, as_json.stderr
    data = json.loads(as_json.stdout)
    assert set(data) == PUBLISH_JSON_KEYS
    [post] = [post for post in fake.publish_posts if post.bot_id == ids["json"]]
    assert data["job_id"] == post.job_id
    assert (data["state"], data["status"]) == ("successful", "success")
    assert (data["verdict"], data["exit_code"]) == ("awaiting_approval", 3)
    assert data["meaning"] == "the publish ended, but dialogs await an admin's approval"
    assert data["awaiting_approval"] == [
        {"name": "Order Pizza", "languages": ["en", "de"]},
        {"name": "Refunds", "languages": ["en", "de"]},
    ]
    assert [r["name"] for r in data["resources"]] == [
        "Settings",
        "Natural Language",
        "Order Pizza",
        "Refunds",
    ]
    assert [r["name"] for r in data["sent"]] == [
        "Order Pizza",
        "Refunds",
        "Natural Language",
        "Settings",
    ]
    assert (data["posted"], data["joined"], data["answer_lost"]) == (True, False, None)
    assert (data["comment"], data["training"]) == (DEFAULT_COMMENT, True)
    assert data["requested_by"] == ADMIN_USER
    assert datetime.fromisoformat(data["requested_at"]).utcoffset() == timedelta(0)
    # What the POST said, and the approvals, go to stderr: stdout is the one object.
    assert f"Awaiting approval: {waiting}." in as_json.stderr
    assert_clean(as_json)


def test_a_running_publish_is_reported_and_never_posted_over(
    korebot: Korebot, fake: FakeKore
) -> None:
    ids = bots("waits", "once", "json")
    for bot in ids.values():
        fake.start_publish_elsewhere(bot, PublishScript(running_polls=2))
    env = env_for(fake, KOREBOT_BOTS=",".join(f"{alias}={bot}" for alias, bot in ids.items()))
    waits, once, as_json = korebot.all(
        [
            (["publish", "waits", "--wait", *FAST], env),
            (["publish", "once"], env),
            (["publish", "json", "--json"], env),
        ]
    )
    assert fake.publish_posts == []
    assert fake.count(kind="publish") == 0

    assert waits.returncode == 0, waits.stderr
    lines = waits.stdout.splitlines()
    assert lines[0] == (
        f"A publish of waits ({ids['waits']}) is already running: not publishing again, "
        "waiting for it instead."
    )
    assert lines[1] == "✔ waits published"
    assert row(waits, "By") == BUILDER_USER
    assert fake.count(ids["waits"], kind="publish-status") == 3

    assert once.returncode == 3, once.stderr
    assert once.stdout.splitlines()[:2] == [
        f"A publish of once ({ids['once']}) is already running: not publishing again.",
        "… Publishing once is still running (33 % complete)",
    ]
    assert fake.count(ids["once"], kind="publish-status") == 1

    assert as_json.returncode == 3, as_json.stderr
    data = json.loads(as_json.stdout)
    assert (data["posted"], data["joined"], data["sent"], data["comment"]) == (
        False,
        True,
        None,
        None,
    )
    assert data["verdict"] == "running"
    assert data["requested_by"] == BUILDER_USER
    assert "already running: not publishing again." in as_json.stderr
    for result in (waits, once, as_json):
        assert_clean(result)


def test_a_post_without_an_answer_is_never_sent_again(
    korebot: Korebot, fake: FakeKore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A 5xx to the POST: the status says whether it started (a publish not older than the
    POST, less the clock skew, and not the one seen before it); either way one POST."""
    ids = bots("lost", "seen", "old")
    for bot in ids.values():
        fake.on_publish(bot, PublishScript(post=Fail(503)))
    # "old": a publish that ended a moment ago, before the POST (within the clock skew):
    # seen by the read before the POST, so never taken for the POST's.
    fake.start_publish_elsewhere(ids["old"], PublishScript(running_polls=0))
    # "seen": Kore.ai started the publish, but a gateway in front of it answered 502.
    fake.on_publish(ids["seen"], PublishScript(post=Fail(502)))
    refusal = fake_publish.refusal

    def started_anyway(step: Fail, now: float) -> Answer:
        if step.http_status == 502:  # the fake answers under its (reentrant) lock
            fake.start_publish_elsewhere(ids["seen"], PublishScript(running_polls=1))
        return refusal(step, now)

    monkeypatch.setattr(fake_publish, "refusal", started_anyway)
    env = env_for(fake, KOREBOT_BOTS=",".join(f"{alias}={bot}" for alias, bot in ids.items()))
    lost, seen, old = korebot.all(
        [
            (["publish", "lost", "--wait", *FAST], env),
            (["publish", "seen", "--json", "--wait", *FAST], env),
            (["publish", "old"], env),
        ]
    )
    assert sorted(post.http_status for post in fake.publish_posts) == [502, 503, 503]
    for bot in ids.values():
        assert fake.count(bot, kind="publish") == 1

    for result in (lost, old):
        assert result.returncode == 4, result.stderr
        assert result.stdout == ""
        assert result.stderr.startswith("korebot: Kore.ai did not answer the request to publish ")
        assert result.stderr.endswith(
            "and no publish newer than it shows: it was not sent again; run the command again "
            "if you want.\n"
        )
    # The status before the POST and after it; no more.
    assert fake.count(ids["lost"], kind="publish-status") == 2
    assert fake.count(ids["old"], kind="publish-status") == 2

    assert seen.returncode == 0, seen.stderr
    data = json.loads(seen.stdout)
    assert data["job_id"] is not None
    assert (data["verdict"], data["posted"], data["exit_code"]) == ("published", True, 0)
    assert data["answer_lost"].startswith("Kore.ai")
    assert "but a publish newer than it shows: it started (the request was not sent again)." in (
        seen.stderr
    )
    for result in (lost, seen, old):
        assert_clean(result)


def test_a_refused_post_exits_4_and_is_not_retried(korebot: Korebot, fake: FakeKore) -> None:
    fake.on_publish(
        BOT, PublishScript(post=Fail(400, body='{"errors": [{"msg": "No channel is enabled"}]}'))
    )
    result = korebot(["publish", "support", "--wait", *FAST], env_for(fake))
    assert result.returncode == 4, result.stderr
    assert result.stdout == ""
    assert result.stderr.startswith("korebot: support was not published: ")
    assert "No channel is enabled" in result.stderr
    assert [post.http_status for post in fake.publish_posts] == [400]
    assert fake.count(kind="publish-status") == 1  # the read before it only
    assert_clean(result)


def test_publish_usage_errors_exit_2_and_send_nothing(korebot: Korebot, fake: FakeKore) -> None:
    env = env_for(fake)
    no_admin = env_for(fake, KORE_ADMIN_CLIENT_ID="", KORE_ADMIN_CLIENT_SECRET="")
    cases = [
        (["publish", "support"], no_admin, HINT),
        (
            ["publish", "support", "--comment", "  "],
            env,
            "korebot: --comment: A publish needs a version comment.",
        ),
        (["publish", "support", "--comment", "x" * 501], env, "at most 500 characters"),
        (["publish", "support", "--comment", "a\u200bb"], env, "control or invisible characters"),
        (["publish", "nosuch"], env, "korebot: No bot called 'nosuch'. Known bots: support."),
        (["publish", "support", "--interval", "0"], env, "--interval"),
    ]
    results = korebot.all([(args, env) for args, env, _ in cases])
    for (args, _, message), result in zip(cases, results, strict=True):
        assert result.returncode == 2, (args, result.stdout, result.stderr)
        assert message in result.stderr, (args, result.stderr)
        assert result.stdout == ""
        assert_clean(result)
    assert results[0].stderr.startswith("korebot: Publishing support needs an Admin Console app")
    assert fake.requests == []


def test_publish_spends_the_bots_budget(korebot: Korebot, fake: FakeKore) -> None:
    """Two calls a minute (each process counts alone: no database): the read first and the
    POST; the read after it finds the budget spent. The publish is reported as started,
    and --wait waits for the budget, past its timeout."""
    ids = bots("waits", "once")
    for bot in ids.values():
        fake.on_publish(bot, PublishScript(running_polls=0))
    env = env_for(
        fake,
        KOREBOT_KORE_CALLS_PER_MINUTE="2",
        KOREBOT_BOTS=",".join(f"{alias}={bot}" for alias, bot in ids.items()),
    )
    began = time.monotonic()
    waits, once = korebot.all(
        [
            (["publish", "waits", "--wait", "--timeout", "1", *FAST], env),
            (["publish", "once", "--timeout", "1"], env),
        ]
    )
    assert time.monotonic() - began < 20  # never the minute the budget asks for
    spent = "korebot: could not read the publish's status yet: korebot's share of Kore.ai's"
    for result in (waits, once):
        assert result.returncode == 3, result.stderr
        assert result.stderr.startswith(spent), result.stderr
        assert_clean(result)
    assert "Gave up waiting after 0m01s; last status: waiting for Kore.ai to show the publish." in (
        waits.stderr
    ), waits.stderr
    assert waits.stdout.startswith("Publishing waits (")
    assert len(waits.stdout.splitlines()) == 1
    assert once.stdout.splitlines()[1:4] == [
        "… Publishing once is still running",
        f"Bot          once ({ids['once']})",
        "State        started; Kore.ai does not show it yet",
    ]
    for bot in ids.values():
        assert [r.method for r in fake.requests if bot in r.path] == ["GET", "POST"]
