"""Hostile input and access control, through the real app: nothing typed can misbehave it."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support.slack_app import BOT, OTHER_BOT, Harness, alltext, app_env, check_clean, new_channel

from korebot.testing.app_process import AppProcess
from korebot.testing.fake_kore import FakeKore, Status
from korebot.testing.fake_slack import FakeSlack

ALLOWED_PATH = re.compile(
    r"/api/public/bot/st-[0-9a-f]{8}(?:-[0-9a-f]{4}){3}-[0-9a-f]{12}/"
    r"(?:(?:faqs|ml)/train/status|testsuite|publish/status)"
)
# The only Slack markup korebot itself writes: the asker, dates, channels, its own links.
ALLOWED_MARKUP = re.compile(
    r"<(?:@U0[A-Z0-9]+|!date\^[^>]*|#C[0-9A-Z]+|https://fake\.slack\.test/[^>]*)>"
)
# Every answer is acked within a deadline: the module runs in the `timing` pass.
pytestmark = pytest.mark.timing
ACK_DEADLINE = 3.0
inputs_tried = 0


@pytest.fixture(scope="module")
def h(
    kore: FakeKore, slack: FakeSlack, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Harness]:
    db = tmp_path_factory.mktemp("db") / "korebot.db"
    with AppProcess(app_env(kore, slack, db)) as app:
        yield Harness(kore, slack, app)
        health = httpx.get(app.url + "/healthz").text
    check_clean(app, kore, slack, extra=health)
    for request in kore.requests:
        assert ALLOWED_PATH.fullmatch(request.path), request.path


def check_answer(h: Harness, text: str, command: str = "/faq-status") -> str:
    """Send `text` with `command`; it must be acked in time and get exactly one safe answer."""
    global inputs_tried
    inputs_tried += 1
    channel = new_channel()
    url = h.slack.response_url()
    started = time.monotonic()
    response = h.sender.command(text, channel_id=channel, response_url=url, command=command)
    assert response.status_code == 200
    assert time.monotonic() - started < ACK_DEADLINE
    answer = h.answer(url)
    shown = alltext(answer)
    for markup in re.findall(r"<[^>]*>", shown):
        assert ALLOWED_MARKUP.fullmatch(markup), f"{markup!r} in the answer to {text!r}"
    for char in shown:
        assert char in "\n" or char.isprintable(), f"{char!r} echoed back for {text!r}"
    return shown


@pytest.mark.parametrize(
    "text",
    [
        "<!channel> en",
        "<!here>",
        "<!everyone> en",
        "<@U0VICTIM> en",
        "support <@U0VICTIM>",
        "<https://evil.example|click here> en",
        "support & en",
        "&lt;!channel&gt; en",
        "x" * 5000,
        "support " + "e" * 5000,
        "sup\x00port\x07 en\x1b[31m",
        "\u202esupport en",
        "support\u200f en",
        "support en\n<!channel>",
        "../../etc/passwd en",
        "st-1a2b3c4d-0000-4e6f-8a9b-0c1d2e3f4a5b/../x en",
        "support en?x=1#y",
        "support %2e%2e",
        # Bolt reads a form body with the word "payload" in it as an empty request.
        "payload",
        "support payload",
        "payload=%7B%7D en",
    ],
    # No "@" in the IDs: xdist's loadgroup reads the group after the first "@" of a test's ID.
    ids=lambda text: str(text).replace("@", "(at)"),
)
@pytest.mark.parametrize("command", ["/faq-status", "/ml-status", "/batch-test", "/publish-status"])
def test_hostile_text_is_answered_safely(h: Harness, text: str, command: str) -> None:
    check_answer(h, text, command)


#: Arbitrary texts hypothesis tries in one run.
EXAMPLES = 150


def test_any_text_gets_a_safe_answer(h: Harness) -> None:
    before = inputs_tried

    @settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(
        text=st.one_of(
            st.text(max_size=120),
            st.builds(
                lambda head, rest: f"{head} {rest}",
                st.sampled_from(["support", "sales", "stop support", "subscribe", "list", "help"]),
                st.text(max_size=60),
            ),
        )
    )
    def any_text(text: str) -> None:
        check_answer(h, text)

    any_text()
    # Printed for the README's Reliability figures (pytest -s shows it): every input tried
    # in this process so far, the hostile ones before this test included.
    print(f"hostile inputs tried: {inputs_tried}")
    assert inputs_tried - before >= EXAMPLES


# Access control and limits (own app processes) -----------------------------------


def test_access_rules_from_the_config_file(
    kore: FakeKore, slack: FakeSlack, tmp_path: Path
) -> None:
    config = tmp_path / "korebot.toml"
    config.write_text(
        f'[bots.secret]\nid = "{OTHER_BOT}"\nchannels = ["C0ALLOWED"]\nusers = ["U0BOSS"]\n'
    )
    env = app_env(kore, slack, tmp_path / "k.db", KOREBOT_CONFIG=str(config))
    env["KOREBOT_BOTS"] = f"support={BOT}"
    kore.script(OTHER_BOT, "en", Status("success"))
    with AppProcess(env) as app:
        h = Harness(kore, slack, app)
        before = kore.count(OTHER_BOT)
        elsewhere = alltext(h.answer(h.ask("secret en", "C0ELSEWHERE", user="U0BOSS")))
        assert "can't be asked about in this channel" in elsewhere
        stranger = alltext(h.answer(h.ask("secret en", "C0ALLOWED", user="U0STRANGER")))
        assert "not on the list" in stranger
        assert kore.count(OTHER_BOT) == before
        boss = h.answer(h.ask("secret en", "C0ALLOWED", user="U0BOSS"))
        assert boss["response_type"] == "in_channel"
        raw = alltext(h.answer(h.ask(f"{OTHER_BOT} en", "C0ALLOWED", user="U0BOSS")))
        assert boss["response_type"] == "in_channel"
        assert "secret" in raw  # a raw ID of a configured bot resolves to it, rules included


def test_limits_refuse_politely(kore: FakeKore, slack: FakeSlack, tmp_path: Path) -> None:
    env = app_env(
        kore,
        slack,
        tmp_path / "k.db",
        KOREBOT_MAX_WATCHES_PER_CHANNEL="1",
        KOREBOT_COMMANDS_PER_USER_PER_MINUTE="4",
    )
    kore.script(BOT, "it", Status("in-progress"))
    kore.script(BOT, "nl", Status("in-progress"))
    channel = new_channel()
    with AppProcess(env) as app:
        h = Harness(kore, slack, app)
        h.ask("support it", channel, user="U0ONE")
        h.parent(channel)
        second = alltext(h.answer(h.ask("support nl", channel, user="U0ONE")))
        assert "already has 1 active watches" in second
        assert len(h.posts(channel)) == 1
        h.ask("help", channel, user="U0ONE")
        h.ask("help", channel, user="U0ONE")
        flood = alltext(h.answer(h.ask("help", channel, user="U0ONE")))
        assert "a lot of commands" in flood
        other = alltext(h.answer(h.ask("help", channel, user="U0TWO")))
        assert "/faq-status support en" in other
