"""``korebot demo``: the real app, run against the built-in fakes, as a chat transcript.

Nothing here stands in for the app: it is started as a child process exactly as
``python app.py`` starts it, pointed at a local FakeKore and FakeSlack, and sent a
signed ``/faq-status`` command, then an ``/ml-status`` one (one training of each kind),
then a ``/batch-test`` of a suite, then a ``/publish-status publish`` whose confirmation
it clicks, then a ``/publish-status release`` (train, gate, publish, live) whose
confirmation it clicks. What it then sends to Slack is printed as it arrives.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import signal
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from korebot.config import Settings
from korebot.kore import TRAININGS, Kind
from korebot.slack.kinds import command
from korebot.slack.notifier import RELEASED
from korebot.slack.publish_messages import PUBLISH_ACTION
from korebot.slack.release_messages import RELEASE_ACTION
from korebot.testing.app_process import AppProcess
from korebot.testing.fake_kore import (
    BatchScript,
    BatchSuite,
    FakeKore,
    MlStatus,
    PastRun,
    PublishScript,
    Status,
)
from korebot.testing.fake_slack import FakeSlack, SlackCall, SlackSender

__all__ = ["DEMO_BOT_ID", "run_demo"]

DEMO_BOT_ID = "st-00000000-0000-4000-8000-00000000de30"
ALIAS = "demo"
LANGUAGE = "en"
ASKER = "U0ASKER"
CHANNEL = "C0GENERAL"
SUITE = "Smoke tests"
COMMENT = "Demo release"

#: Exit codes of run_demo.
OK, FAILED, INTERRUPTED = 0, 1, 130

SAYS = "\u203a"  # "›" between a speaker and the message  # noqa: RUF003
_START_TIMEOUT = 30.0
_STOP_TIMEOUT = 10.0
_SLICE = 1.0  # how often a wait for Slack calls also checks that the app is still alive
_LOG_LINES = 20
#: Calls that are plumbing, not conversation.
_QUIET = frozenset(
    {
        "auth.test",
        "chat.getPermalink",
        "conversations.open",
        "conversations.replies",
        "conversations.history",
    }
)
#: Proxies are for the outside world; everything here talks to 127.0.0.1, and slack_sdk
#: ignores NO_PROXY, so an inherited HTTPS_PROXY would send the app's Slack calls away.
_PROXY_VARS = frozenset({"HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"})
_DEAD_TOKEN = frozenset({"invalid_auth", "not_authed", "token_revoked", "account_inactive"})
_MARKUP = re.compile(r"<([^<>|]*)(?:\|([^<>]*))?>")
_EMOJI_CODE = re.compile(r":([a-z0-9_+-]+):")
_EMOJI = {
    "white_check_mark": "✅",
    "x": "❌",
    "hourglass_flowing_sand": "⏳",
    "grey_question": "❔",
    "warning": "⚠️",
    "information_source": "ℹ️",  # noqa: RUF001  (the emoji itself)
    "octagonal_sign": "🛑",
    "rocket": "🚀",
    "white_circle": "⚪",
    "heavy_minus_sign": "➖",  # noqa: RUF001  (the emoji itself)
    "hourglass": "⌛",
}

Echo = Callable[[str], None]


class _DemoFailed(Exception):
    """The demo cannot go on; the message says why, for the user."""


def run_demo(
    *, steps: int = 3, interval: float = 1.0, echo: Echo, error: Echo | None = None
) -> int:
    """Run the app against the fakes and print the conversation; return an exit code.

    ``steps`` is how many status checks find the training in progress before it
    succeeds; ``interval`` is the app's poll interval in seconds. ``echo`` gets the
    transcript line by line, ``error`` (default: ``echo``) the reason of a failure.
    Returns 0 when the conversation completed, 1 when it did not, 130 on Ctrl-C.
    """
    if steps < 0:
        raise ValueError("steps must not be negative")
    if interval <= 0:
        raise ValueError("interval must be positive")
    complain = echo if error is None else error
    _intro(echo, steps, interval)
    app: AppProcess | None = None
    try:
        with contextlib.ExitStack() as stack:
            # Unwound in reverse: the app stops first, then the fakes, then the files go.
            workdir = stack.enter_context(
                tempfile.TemporaryDirectory(prefix="korebot-demo-", ignore_cleanup_errors=True)
            )
            kore = stack.enter_context(FakeKore(bots=[DEMO_BOT_ID]))
            kore.script(DEMO_BOT_ID, LANGUAGE, *[Status("in-progress")] * steps, Status("success"))
            running = [MlStatus("Inprogress")] * steps
            kore.script(DEMO_BOT_ID, LANGUAGE, *running, MlStatus("Finished"), kind="ml")
            kore.batch_suites(DEMO_BOT_ID, BatchSuite(SUITE, results=(PastRun("0.89"),)))
            kore.on_batch_run(DEMO_BOT_ID, SUITE, BatchScript(running_polls=steps, f1="0.91"))
            kore.on_publish(DEMO_BOT_ID, PublishScript(running_polls=steps, awaiting=("Greeting",)))
            slack = stack.enter_context(FakeSlack())
            signing_secret = secrets.token_hex(32)
            app = AppProcess(_app_env(kore, slack, Path(workdir), interval, signing_secret))
            stack.callback(_stop, app, complain)
            with _without_inherited_settings():
                try:
                    app.start(timeout=_START_TIMEOUT)
                except RuntimeError:
                    raise _DemoFailed("the app did not start") from None
                sender = stack.enter_context(SlackSender(app.events_url, signing_secret))
            seen = 0
            asks = [(command(kind), f"{ALIAS} {LANGUAGE}") for kind in TRAININGS]
            asks.append((command(Kind.BATCH), f'{ALIAS} {LANGUAGE} "{SUITE}"'))
            asks.append((command(Kind.PUBLISH), f'publish {ALIAS} "{COMMENT}"'))
            asks.append((command(Kind.PUBLISH), f'release {ALIAS} {LANGUAGE} "{SUITE}"'))
            for name, text in asks:  # one training of each kind, a suite, a publish, a release
                if text.startswith("release"):  # approved by now: the release goes live
                    kore.on_publish(DEMO_BOT_ID, PublishScript(running_polls=steps))
                echo("")
                deadline = 30.0 + (steps + 1) * interval
                seen = _converse(echo, app, slack, sender, name, text, seen, deadline=deadline)
        echo("")
        _outro(echo, steps, interval)
        return OK
    except KeyboardInterrupt:
        complain("korebot demo: interrupted; the app and the fakes are stopped.")
        return INTERRUPTED
    except _DemoFailed as failure:
        complain(f"korebot demo: {failure}.")
        _show_logs(complain, app)
        return FAILED


def _intro(echo: Echo, steps: int, interval: float) -> None:
    echo("korebot demo: the real Slack app, run against stand-ins for Slack and Kore.ai.")
    echo("No accounts needed; everything stays on 127.0.0.1 and is gone when it ends.")
    if steps:
        script = f"in progress for the next {steps} status check(s), then success"
    else:
        script = "already succeeded"
    echo(f'Fake Kore.ai: bot "{ALIAS}" ({DEMO_BOT_ID}), FAQ and ML training each {script},')
    echo(f'a batch test suite "{SUITE}" whose runs score F1 0.91 (0.89 the time before),')
    echo("publishing, where one dialog waits for an admin's approval the first time,")
    echo("and a release of the bot from its trainings to live.")
    echo(f"Starting the app (it checks running trainings every {interval:g} s)…")


def _outro(echo: Echo, steps: int, interval: float) -> None:
    if steps:
        echo(
            "What happened: for each command the app verified the signature, found the "
            "training in progress, posted in the channel, checked Kore.ai every "
            f"{interval:g} s, replied in the thread when the training succeeded and "
            "updated its first message; then it ran the suite once and posted its scores "
            "against the previous run in the same way; then, after your click on Publish, "
            "it published the bot once and followed the publish to its end; then, after "
            "your click on Release, it trained FAQ and ML, ran the suite as the gate, "
            "published and followed the published trainings, one checklist line per step."
        )
    else:
        echo(
            "What happened: the app verified the signed commands, asked Kore.ai and answered "
            "in the channel; run `korebot demo --steps 3` to see it watch running trainings."
        )
    echo(
        "To run it for real: create the Slack app from manifest.yml, set the environment "
        "variables (see the README's Setup section), check them with `korebot doctor`, "
        "then start `python app.py`."
    )


def _app_env(
    kore: FakeKore, slack: FakeSlack, workdir: Path, interval: float, signing_secret: str
) -> dict[str, str]:
    return {
        "KORE_HOST": kore.url,
        "KORE_CLIENT_ID": kore.client_id,
        "KORE_CLIENT_SECRET": kore.client_secret,
        "KOREBOT_BOTS": f"{ALIAS}={DEMO_BOT_ID}",
        "KORE_ADMIN_CLIENT_ID": kore.admin_client_id,
        "KORE_ADMIN_CLIENT_SECRET": kore.admin_client_secret,
        "KOREBOT_PUBLISHERS": ASKER,
        "KOREBOT_TRAINERS": ASKER,
        "SLACK_BOT_TOKEN": slack.token,
        "SLACK_SIGNING_SECRET": signing_secret,
        "SLACK_API_URL": slack.api_url,
        "DATABASE_URL": f"sqlite:///{(workdir / 'korebot.db').as_posix()}",
        "KOREBOT_POLL_INTERVAL": repr(interval),
        # The log is kept in memory and shown only when the demo fails.
        "LOG_LEVEL": "INFO",
    }


@contextlib.contextmanager
def _without_inherited_settings() -> Iterator[None]:
    """Hide the user's own korebot settings and proxies while the app process starts.

    AppProcess passes this process's environment on, under the demo's variables; a
    configured KOREBOT_CONFIG or SLACK_APP_TOKEN (Socket Mode) must not leak into the demo.
    """
    hidden = {name.upper() for name in Settings.model_fields} | _PROXY_VARS
    saved = {key: os.environ.pop(key) for key in list(os.environ) if key.upper() in hidden}
    try:
        yield
    finally:
        os.environ.update(saved)


def _converse(
    echo: Echo,
    app: AppProcess,
    slack: FakeSlack,
    sender: SlackSender,
    name: str,
    text: str,
    seen: int,
    *,
    deadline: float,
) -> int:
    """Send the command and print what the app says after the first ``seen`` Slack calls,
    until the conversation is complete; return how many calls there were by then."""
    echo(f"you {SAYS} {name} {text}")
    response = sender.command(
        text,
        user_id=ASKER,
        channel_id=CHANNEL,
        response_url=slack.response_url(f"demo{name}"),
        command=name,
    )
    if response.status_code != 200:
        raise _DemoFailed(f"the app refused the slash command with HTTP {response.status_code}")
    if response.text:
        # Slack shows the body of the acknowledgement to the asker alone.
        echo(f"korebot {SAYS} (only you can see this) {readable(response.text)}")
        if response.text.startswith(":warning:"):
            raise _DemoFailed("the app answered with a problem instead of a status")
    give_up_at = time.monotonic() + deadline
    replied = updated = answered = False
    while not (answered or (replied and updated)):
        calls = _calls_after(slack, app, seen, give_up_at, deadline)
        for call in calls[seen:]:
            line = _transcript_line(call)
            if line is not None:
                echo(line)
            if not call.ok:
                if call.error in _DEAD_TOKEN:
                    raise _DemoFailed(f"Slack refused the app's token ({call.error})")
                continue
            text = str(call.args.get("text") or "")
            if call.method == "response_url":
                button = _confirmation(call)
                if button is not None:  # a confirmation: the demo's user clicks
                    action, label, token = button
                    echo(f"you {SAYS} [ {label} ]")
                    clicked = sender.action(
                        action,
                        token,
                        user_id=ASKER,
                        channel_id=CHANNEL,
                        response_url=slack.response_url(f"demo-{action}"),
                    )
                    if clicked.status_code != 200:
                        raise _DemoFailed(f"the app refused the click with {clicked.status_code}")
                elif call.args.get("response_type") == "in_channel":
                    answered = True  # a final status at once: nothing to watch
                elif text.startswith(":warning:"):
                    raise _DemoFailed("the app answered with a problem instead of a status")
            elif call.method == "chat.postMessage" and call.args.get("thread_ts"):
                line = _release_line(call)
                if line is not None:  # a release's thread: a line per step, then its end
                    answered = line == "end"
                    continue
                if ":warning:" in text:
                    raise _DemoFailed("the app stopped watching without a result")
                replied = True
            elif call.method == "chat.update":
                updated = True
        seen = len(calls)
    return seen


#: The confirmations the demo's user clicks, by their first button.
_CLICKS = {PUBLISH_ACTION: "Publish", RELEASE_ACTION: "Release"}


def _confirmation(call: SlackCall) -> tuple[str, str, str] | None:
    """The answer's button to click (action, label, value), if it is a confirmation."""
    for block in call.args.get("blocks") or []:
        for element in block.get("elements") or [] if block.get("type") == "actions" else []:
            action = str(element.get("action_id"))
            if action in _CLICKS:
                return action, _CLICKS[action], str(element.get("value"))
    return None


def _release_line(call: SlackCall) -> str | None:
    """Which line of a release's thread the post is, if it is one."""
    metadata = call.args.get("metadata") or {}
    if metadata.get("event_type") != RELEASED:
        return None
    return str((metadata.get("event_payload") or {}).get("line"))


def _calls_after(
    slack: FakeSlack, app: AppProcess, seen: int, give_up_at: float, deadline: float
) -> list[SlackCall]:
    """Block until FakeSlack has recorded more than ``seen`` calls; return them all."""
    while True:
        remaining = give_up_at - time.monotonic()
        if remaining <= 0:
            raise _DemoFailed(f"no complete answer from the app within {deadline:g} s")
        try:
            slack.wait_for(lambda fake: len(fake.calls) > seen, timeout=min(remaining, _SLICE))
        except AssertionError:
            if app.returncode is not None:
                raise _DemoFailed(f"the app exited early, with code {app.returncode}") from None
        else:
            return slack.calls


def _transcript_line(call: SlackCall) -> str | None:
    """One call as a line of chat, or None for plumbing."""
    if not call.ok:
        return f"  (Slack refused {call.method}: {call.error})"
    if call.method in _QUIET:
        return None
    text = readable(str(call.args.get("text") or ""))
    if call.method == "response_url":
        if call.args.get("response_type") == "in_channel":
            return f"korebot {SAYS} {text}"
        return f"korebot {SAYS} (only you can see this) {text}"
    if call.method == "chat.postEphemeral":
        return f"korebot {SAYS} (only you can see this) {text}"
    if call.method == "chat.postMessage":
        if call.args.get("thread_ts"):
            return f"  └ korebot (in thread) {SAYS} {text}"
        return f"korebot {SAYS} {text}"
    if call.method == "chat.update":
        return f"korebot ✎ updated its message: {text}"
    return f"  (korebot called {call.method})"


def readable(text: str) -> str:
    """Slack message text as a terminal shows it: mentions, dates, links and emoji resolved."""

    def markup(match: re.Match[str]) -> str:
        target, label = match.group(1), match.group(2)
        if target == f"@{ASKER}":
            return "@you"
        if label:
            return label
        if target.startswith("!"):
            return "@" + target[1:]  # <!here>, <!channel>
        return target  # <@U123>, <#C123>, <https://…>

    text = _MARKUP.sub(markup, text)
    text = _EMOJI_CODE.sub(lambda match: _EMOJI.get(match.group(1), match.group(0)), text)
    text = text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
    return text.replace("\n", "\n    ")


def _stop(app: AppProcess, complain: Echo) -> None:
    code = app.stop(timeout=_STOP_TIMEOUT)
    if code == -signal.SIGKILL:
        complain(
            f"korebot demo: note: the app did not stop within {_STOP_TIMEOUT:g} s of SIGTERM "
            "and was killed."
        )


def _show_logs(complain: Echo, app: AppProcess | None) -> None:
    logs = app.logs[-_LOG_LINES:] if app is not None else []
    if not logs:
        complain("The app logged nothing.")
        return
    complain(f"Last {len(logs)} line(s) of the app's log:")
    for line in logs:
        complain(f"  {line}")
