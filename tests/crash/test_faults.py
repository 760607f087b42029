"""Fault injection, end to end: the real app process between a fake Kore.ai and a fake Slack.

Every fault is injected on loopback: scripted answers of the fake Kore.ai (timeouts, dropped
connections, 5xx, 429 and rate-limit bodies, revoked credentials, odd bodies), scripted
errors of the fake Slack Web API, and TCP gates in front of Kore.ai, Slack and PostgreSQL
that refuse connections for a while (a closed port) and cut the open ones.

What is checked: a watch rides out transient faults (it keeps watching; its message says
"Kore.ai unreachable since ..." and goes back when Kore.ai does), ends with one clear thread
message on permanent ones; a result that cannot reach its channel goes to the askers by
direct message; a dead Slack token stops its workspace's watches; a database outage loses
no watch. The number of faults injected, by kind, is printed at the end of the module.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import re
import socket
import string
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from support.postgres import PostgresServer
from support.slack_app import (
    BOT,
    SIGNING_SECRET,
    Harness,
    alltext,
    app_env,
    has_buttons,
    new_channel,
    wait_until,
)

from korebot.testing.app_process import AppProcess
from korebot.testing.fake_kore import Delay, Drop, Fail, FakeKore, Status, Step
from korebot.testing.fake_slack import FakeSlack, SlackSender
from korebot.watch.store.tables import Watch

KORE_TIMEOUT = 0.5
RATE_LIMIT_BODY = json.dumps(
    {"errors": [{"msg": "Rate limit for this API has been reached", "code": 429}]}
)
UNREACHABLE = "Kore.ai unreachable since"
_users = itertools.count(1)
_languages = ("q" + a + b for a, b in itertools.product(string.ascii_lowercase, repeat=2))


def new_language() -> str:
    """A language code no other test of this module uses (one watch target each)."""
    return next(_languages)


# A TCP gate: the fault "the server is unreachable" -----------------------------------


class Gate:
    """A loopback TCP forwarder that can refuse connections for a while.

    ``close()`` closes the listening socket (new connections are refused, as by a closed
    port) and cuts every open connection; ``open()`` listens again on the same port.
    """

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.port = 0
        self._listener: socket.socket | None = None
        self._open: set[socket.socket] = set()
        self._lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def open(self) -> Gate:
        if self._listener is not None:
            return self
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(128)
        listener.settimeout(0.05)
        self.port = listener.getsockname()[1]
        with self._lock:
            self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()
        return self

    def close(self) -> None:
        with self._lock:
            listener, self._listener = self._listener, None
            cut, self._open = self._open, set()
        if listener is not None:
            listener.close()
        for sock in cut:
            _shut(sock)

    def _accept(self, listener: socket.socket) -> None:
        while self._listener is listener:
            try:
                client, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            try:
                upstream = socket.create_connection(("127.0.0.1", self.upstream_port))
            except OSError:
                _shut(client)
                continue
            client.settimeout(None)
            with self._lock:
                if self._listener is not listener:
                    _shut(client)
                    _shut(upstream)
                    return
                self._open |= {client, upstream}
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        with self._lock:
            self._open -= {source, sink}
        _shut(source)
        _shut(sink)


def _shut(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    sock.close()


# Fixtures ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def faults(request: pytest.FixtureRequest) -> Iterator[Counter[str]]:
    """Faults injected, by kind; printed when the module ends."""
    tally: Counter[str] = Counter()
    yield tally
    lines = [f"  {count:4d}  {kind}" for kind, count in sorted(tally.items())]
    summary = f"\n[faults injected: {sum(tally.values())}]\n" + "\n".join(lines)
    # Past pytest's capture, so that CI logs show the figures when the tests pass too.
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    with capture.global_and_fixture_disabled() if capture else contextlib.nullcontext():
        print(summary)


@pytest.fixture(scope="module")
def kore_gate(kore: FakeKore) -> Iterator[Gate]:
    gate = Gate(int(kore.url.rsplit(":", 1)[1])).open()
    yield gate
    gate.close()


@pytest.fixture(scope="module")
def slack_gate(slack: FakeSlack) -> Iterator[Gate]:
    gate = Gate(int(slack.base_url.rsplit(":", 1)[1])).open()
    yield gate
    gate.close()


def fault_env(kore: FakeKore, slack: FakeSlack, database: str, **extra: str) -> dict[str, str]:
    return {
        **app_env(kore, slack, Path("unused.db")),
        "DATABASE_URL": database,
        "KORE_TIMEOUT": str(KORE_TIMEOUT),
        # Kore.ai's real limits are the fake's concern here, not the app's budget.
        "KOREBOT_KORE_CALLS_PER_MINUTE": "100000",
        "KOREBOT_KORE_CALLS_PER_HOUR": "1000000",
        "KOREBOT_DELIVERY_LEASE": "2",
        **extra,
    }


@pytest.fixture(scope="module")
def h(
    kore: FakeKore,
    slack: FakeSlack,
    kore_gate: Gate,
    slack_gate: Gate,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Harness]:
    """One app process for the module, reaching Kore.ai and Slack through the gates."""
    db = tmp_path_factory.mktemp("faults") / "korebot.db"
    env = fault_env(
        kore,
        slack,
        f"sqlite:///{db}",
        KORE_HOST=kore_gate.url,
        SLACK_API_URL=slack_gate.url + "/api/",
    )
    with AppProcess(env) as app:
        yield Harness(kore, slack, app)
        logs = "\n".join(app.logs)
    for secret in (SIGNING_SECRET, kore.client_secret, slack.token):
        assert secret not in logs, "a secret leaked into the app's logs"
    assert slack.block_errors == []


# Helpers ----------------------------------------------------------------------------


def rescript(kore: FakeKore, language: str, *steps: Step) -> int:
    """Replace the target's script; return how many answers the replaced one gave."""
    return inject(kore, language, *steps)[0]


def inject(kore: FakeKore, language: str, *steps: Step) -> tuple[int, float]:
    """Replace the target's script; return the replaced one's answers and the fake's time."""
    # Under the fake's lock, so that no answer falls between the count and the change.
    with kore._cond:
        old = kore._scripts.get(("faq", BOT, language, "configured"))
        kore.script(BOT, language, *steps)
        return (old.taken if old else 0), kore._clock()


def answered(kore: FakeKore, language: str) -> int:
    """How many answers the target's current script gave so far."""
    with kore._cond:
        script = kore._scripts.get(("faq", BOT, language, "configured"))
        return script.taken if script else 0


def wait_answered(kore: FakeKore, language: str, n: int, timeout: float = 15.0) -> None:
    """Wait until the current script gave `n` answers (checked whenever the fake answers)."""
    with kore._cond:
        if not kore._cond.wait_for(lambda: answered(kore, language) >= n, timeout):
            raise AssertionError(f"{language}: {answered(kore, language)} answers, not {n}")


def start_watch(h: Harness, language: str, channel: str, user: str = "U0ASKER") -> str:
    """Ask about an in-progress training; return the ts of the watch's message."""
    h.kore.script(BOT, language, Status("in-progress"))
    h.ask(f"support {language}", channel, user=user)
    return str(h.parent(channel)["ts"])


def updates(slack: FakeSlack, channel: str, ts: str) -> list[str]:
    """Texts the app set on a message with chat.update (successful ones), in order."""
    return [
        alltext(call.args)
        for call in slack.calls_to("chat.update")
        if call.ok and call.args.get("channel") == channel and call.args.get("ts") == ts
    ]


def wait_updates(
    slack: FakeSlack, channel: str, ts: str, check: Callable[[list[str]], bool], what: str
) -> None:
    slack.wait_for(lambda s: check(updates(s, channel, ts)), 15, what)


def thread_posts(slack: FakeSlack, channel: str, ts: str) -> list[Any]:
    """Every chat.postMessage attempt into a thread, failed ones too."""
    return [
        call
        for call in slack.calls_to("chat.postMessage")
        if call.args.get("channel") == channel and call.args.get("thread_ts") == ts
    ]


def log_count(app: AppProcess, pattern: str) -> int:
    regex = re.compile(pattern)
    return sum(1 for line in list(app.logs) if regex.search(line))


def wait_logs(app: AppProcess, pattern: str, n: int, timeout: float = 15.0) -> None:
    """Wait until `n` lines of the app's log match `pattern` (to count faults it rode out)."""
    wait_until(lambda: log_count(app, pattern) >= n, timeout, f"{n} log lines like {pattern!r}")


def wait_final(h: Harness, channel: str, word: str, timeout: float = 15.0) -> dict[str, Any]:
    """The watch's message once it has a reply and says `word` (its final update)."""

    def done(slack: FakeSlack) -> bool:
        top = slack.messages(channel)
        return bool(top) and bool(top[0]["replies"]) and word in top[0]["text"]

    h.slack.wait_for(done, timeout, f"the final reply and update in {channel}")
    return h.slack.messages(channel)[0]


def finish(h: Harness, language: str, channel: str) -> dict[str, Any]:
    """Let the training succeed; return the watch's message once its result is posted."""
    rescript(h.kore, language, Status("success"))
    return wait_final(h, channel, "succeeded")


def let_ticks_pass(h: Harness) -> None:
    """Run a short watch to its end: proof that the engine ticked several times since."""
    language, channel = new_language(), new_channel()
    h.kore.script(BOT, language, Status("in-progress"), Status("in-progress"), Status("success"))
    h.ask(f"support {language}", channel)
    h.wait_reply(channel)


# Kore.ai faults during a watch ---------------------------------------------------------

TRANSIENT: list[tuple[str, tuple[Step, ...], float | None]] = [
    # (kind, the fault's answer (repeated while it lasts), Retry-After the app must honour)
    ("Kore timeout", (Delay(KORE_TIMEOUT * 2), Status("in-progress")), None),
    ("Kore connection dropped", (Drop(),), None),
    ("Kore HTTP 500", (Fail(500),), None),
    (
        "Kore HTTP 502",
        (Fail(502, body="<html>Bad Gateway</html>", content_type="text/html"),),
        None,
    ),
    ("Kore HTTP 503", (Fail(503),), None),
    ("Kore HTTP 429 with Retry-After", (Fail(429, body=RATE_LIMIT_BODY, retry_after=1),), 1.0),
    ("Kore HTTP 429 without Retry-After", (Fail(429, body=RATE_LIMIT_BODY),), None),
    ("Kore HTTP 200 rate-limit body", (Fail(200, body=RATE_LIMIT_BODY),), None),
    (
        "Kore HTTP 200 rate-limit body with Retry-After",
        (Fail(200, body=RATE_LIMIT_BODY, retry_after=1),),
        1.0,
    ),
    ("Kore HTTP 400 rate-limit body", (Fail(400, body=RATE_LIMIT_BODY),), None),
    (
        "Kore non-JSON body",
        (Fail(200, body="<html>Down for maintenance</html>", content_type="text/html"),),
        None,
    ),
    ("Kore oddly shaped body", (Fail(200, body='{"status": 3, "_id": []}'),), None),
    ("Kore JSON array body", (Fail(200, body="[]"),), None),
]


@pytest.mark.parametrize(
    ("kind", "fault", "retry_after"), TRANSIENT, ids=[kind for kind, _, _ in TRANSIENT]
)
def test_watch_rides_out_a_transient_kore_fault(
    h: Harness,
    faults: Counter[str],
    kind: str,
    fault: tuple[Step, ...],
    retry_after: float | None,
) -> None:
    language, channel = new_language(), new_channel()
    ts = start_watch(h, language, channel)
    _, since = inject(h.kore, language, *fault)
    # The message says so while Kore.ai fails, and the watch keeps polling.
    wait_updates(h.slack, channel, ts, lambda texts: any(UNREACHABLE in t for t in texts), kind)
    # Three answers: two polls at least (each tries twice), a retry within a poll and between.
    wait_answered(h.kore, language, 3)
    injected, until = inject(h.kore, language, Status("in-progress"))
    faults[kind] += injected
    if retry_after is not None:
        # Kore.ai asked to wait: no request came sooner, from the client or the engine.
        times = [
            r.at
            for r in h.kore.requests
            if r.query.get("language") == language and since <= r.at < until
        ]
        gaps = [later - earlier for earlier, later in itertools.pairwise(sorted(times))]
        assert len(gaps) >= 2, times
        assert min(gaps) >= retry_after - 0.1, gaps
    # Kore.ai answers again: the warning goes.
    wait_updates(
        h.slack,
        channel,
        ts,
        lambda texts: any(UNREACHABLE in t for t in texts) and UNREACHABLE not in texts[-1],
        f"the warning to go after {kind}",
    )
    assert h.slack.thread(channel, ts) == []  # no give-up message while it failed
    final = finish(h, language, channel)
    (reply,) = final["replies"]
    assert "succeeded" in reply["text"]
    assert "succeeded" in final["text"]
    assert UNREACHABLE not in alltext(final)


def test_unknown_status_value_keeps_the_watch_going(h: Harness, faults: Counter[str]) -> None:
    language, channel = new_language(), new_channel()
    ts = start_watch(h, language, channel)
    rescript(h.kore, language, Status("queued-for-review"))
    wait_answered(h.kore, language, 3)
    faults["Kore unknown status value"] += rescript(h.kore, language, Status("in-progress"))
    assert h.slack.thread(channel, ts) == []
    assert not any(UNREACHABLE in t for t in updates(h.slack, channel, ts))
    (reply,) = finish(h, language, channel)["replies"]
    assert "succeeded" in reply["text"]


def test_kore_connection_refused_is_ridden_out(
    h: Harness, faults: Counter[str], kore_gate: Gate
) -> None:
    language, channel = new_language(), new_channel()
    ts = start_watch(h, language, channel)
    refused = r"Could not reach Kore.ai at .*\(ConnectError\)"
    before = log_count(h.app, refused)
    kore_gate.close()
    try:
        wait_updates(
            h.slack, channel, ts, lambda texts: any(UNREACHABLE in t for t in texts), "warning"
        )
        wait_logs(h.app, rf"Could not poll support \({language}\)", 2)
    finally:
        kore_gate.open()
    faults["Kore connection refused"] += log_count(h.app, refused) - before
    wait_updates(
        h.slack,
        channel,
        ts,
        lambda texts: UNREACHABLE not in texts[-1],
        "the warning to go once Kore.ai is back",
    )
    (reply,) = finish(h, language, channel)["replies"]
    assert "succeeded" in reply["text"]


PERMANENT = [
    ("Kore HTTP 401 (credentials revoked)", Fail(401), "rejected the credentials"),
    ("Kore HTTP 403 (scope removed)", Fail(403), "rejected the credentials"),
    ("Kore HTTP 404 (bot deleted)", Fail(404), "does not know bot"),
]


@pytest.mark.parametrize(("kind", "fault", "said"), PERMANENT, ids=[k for k, _, _ in PERMANENT])
def test_permanent_kore_fault_ends_the_watch_with_one_clear_message(
    h: Harness, faults: Counter[str], kind: str, fault: Fail, said: str
) -> None:
    language, channel = new_language(), new_channel()
    ts = start_watch(h, language, channel)
    rescript(h.kore, language, fault)
    final = wait_final(h, channel, "No longer watching")
    (reply,) = final["replies"]
    assert "<@U0ASKER>" in reply["text"]
    assert "ended" in reply["text"]
    assert said in reply["text"]
    assert "No longer watching" in final["text"]
    assert not has_buttons(final)
    let_ticks_pass(h)
    # Asked once (not retried: it will not get better), then never again.
    injected = rescript(h.kore, language, Status("success"))
    assert injected == 1
    faults[kind] += injected
    assert len(h.slack.thread(channel, ts)) == 1


# Slack Web API faults -------------------------------------------------------------------

RIDDEN_OUT = [
    # (kind, error, times, HTTP status): the reply is posted after the fault.
    ("Slack ratelimited (429, Retry-After)", "ratelimited", 1, 200),
    ("Slack ratelimited beyond the client's retries", "ratelimited", 3, 200),
    ("Slack HTTP 500", "internal_error", 1, 500),
    ("Slack HTTP 503 twice", "service_unavailable", 2, 503),
    ("Slack HTTP 502", "bad_gateway", 1, 502),
    ("Slack fatal_error", "fatal_error", 1, 200),
]


@pytest.mark.parametrize(
    ("kind", "error", "times", "status"), RIDDEN_OUT, ids=[k for k, *_ in RIDDEN_OUT]
)
def test_final_reply_survives_slack_errors(
    h: Harness, faults: Counter[str], kind: str, error: str, times: int, status: int
) -> None:
    language, channel = new_language(), new_channel()
    ts = start_watch(h, language, channel)
    h.slack.fail("chat.postMessage", error, times=times, http_status=status)
    final = finish(h, language, channel)
    (reply,) = final["replies"]
    assert "succeeded" in reply["text"]
    failed = [c for c in thread_posts(h.slack, channel, ts) if not c.ok]
    assert [c.error for c in failed] == [error] * times
    faults[kind] += len(failed)


def test_slack_unreachable_for_a_moment(h: Harness, faults: Counter[str], slack_gate: Gate) -> None:
    language, channel = new_language(), new_channel()
    ts = start_watch(h, language, channel)
    refused = "Failed to send a request to Slack API server"
    before = log_count(h.app, refused)
    given_up = log_count(h.app, r"deliver\(\d+\) failed; it will be retried")
    slack_gate.close()
    try:
        rescript(h.kore, language, Status("success"))
        # slack_sdk's retry handler tries 3 times, then the engine keeps the result for later.
        wait_logs(h.app, r"deliver\(\d+\) failed; it will be retried", given_up + 1)
    finally:
        slack_gate.open()
    faults["Slack connection refused"] += log_count(h.app, refused) - before
    final = wait_final(h, channel, "succeeded")
    (reply,) = final["replies"]
    assert "succeeded" in reply["text"]
    assert len([c for c in thread_posts(h.slack, channel, ts) if c.ok]) == 1


def test_a_fresh_process_answers_while_slack_is_unreachable(
    kore: FakeKore, slack: FakeSlack, tmp_path: Path, faults: Counter[str]
) -> None:
    # Bolt's default authorization would call auth.test at the first request and, Slack
    # unreachable, turn the command away; answers go to response_url and need no Web API.
    closed = Gate(int(slack.base_url.rsplit(":", 1)[1])).open()
    closed.close()
    env = fault_env(
        kore, slack, f"sqlite:///{tmp_path / 'k.db'}", SLACK_API_URL=closed.url + "/api/"
    )
    with AppProcess(env) as app:
        h = Harness(kore, slack, app)
        language = new_language()
        kore.script(BOT, language, Status("success"))
        answer = h.answer(h.ask(f"support {language}", new_channel()))
        assert answer["response_type"] == "in_channel"
        assert "succeeded" in alltext(answer)
        assert "/faq-status support en" in alltext(h.answer(h.ask("help", new_channel())))
    faults["Slack unreachable from the start"] += 1


@pytest.mark.parametrize("how", ["connection refused", "HTTP 503 beyond the client's retries"])
def test_slack_failing_when_a_watch_starts_is_told_to_the_asker(
    h: Harness, faults: Counter[str], slack_gate: Gate, how: str
) -> None:
    language, channel = new_language(), new_channel()
    h.kore.script(BOT, language, Status("in-progress"))
    refused = "Failed to send a request to Slack API server"
    before = log_count(h.app, refused)
    if how == "connection refused":
        slack_gate.close()
    else:
        h.slack.fail("chat.postMessage", "service_unavailable", times=3, http_status=503)
    try:
        url = h.ask(f"support {language}", channel)
        h.slack.wait_for(lambda s: len(h.answers(url)) >= 2, 15, "two answers")
    finally:
        slack_gate.open()
    status, why = h.answers(url)
    assert status["response_type"] == "in_channel"
    assert "in progress" in alltext(status)
    assert why.get("response_type", "ephemeral") == "ephemeral"
    assert "not watching" in alltext(why)
    assert h.posts(channel) == [] or all(not c.ok for c in h.posts(channel))
    assert "Nothing is watched" in alltext(h.answer(h.ask("list", channel)))
    if how == "connection refused":
        faults["Slack connection refused"] += log_count(h.app, refused) - before
    else:
        faults["Slack HTTP 503 on the announcement"] += 3


@pytest.mark.parametrize(
    ("error", "channel_state"),
    [
        ("not_in_channel", {"member": False}),
        ("channel_not_found", {"exists": False}),
        ("is_archived", {"archived": True}),
    ],
)
def test_result_goes_to_the_askers_by_dm_when_the_channel_is_gone(
    h: Harness, faults: Counter[str], error: str, channel_state: dict[str, bool]
) -> None:
    language, channel = new_language(), new_channel()
    first, second = f"U0DM{next(_users)}", f"U0DM{next(_users)}"
    ts = start_watch(h, language, channel, user=first)
    joined = h.answer(h.ask(f"support {language}", channel, user=second))
    assert "already being watched" in alltext(joined)
    h.slack.set_channel(channel, **channel_state)
    rescript(h.kore, language, Status("success"))
    for user in (first, second):
        h.slack.wait_for(lambda s, u=user: bool(s.messages(u)), 15, f"a DM to {user}")
        (dm,) = h.slack.messages(user)
        assert "succeeded" in dm["text"]
        assert f"<@{user}>" in dm["text"]
    assert h.slack.thread(channel, ts) == []
    failed = [c for c in thread_posts(h.slack, channel, ts) if not c.ok]
    assert [c.error for c in failed] == [error]
    # The message's last update is tried too (and fails but for not_in_channel).
    h.slack.wait_for(
        lambda s: any(c.args.get("ts") == ts for c in s.calls_to("chat.update")), 15, "update"
    )
    faults[f"Slack {error} on the final reply"] += len(failed)


def test_message_not_found_on_update_still_lands_the_reply(
    h: Harness, faults: Counter[str]
) -> None:
    language, channel = new_language(), new_channel()
    ts = start_watch(h, language, channel)
    h.slack.fail("chat.update", "message_not_found")
    rescript(h.kore, language, Status("success"))
    h.slack.wait_for(lambda s: bool(s.thread(channel, ts)), 15, "the reply")
    (reply,) = h.slack.thread(channel, ts)
    assert "succeeded" in reply["text"]

    def failed() -> list[str | None]:
        calls = h.slack.calls_to("chat.update")
        return [c.error for c in calls if c.args.get("ts") == ts and not c.ok]

    h.slack.wait_for(lambda s: bool(failed()), 15, "the refused update")
    assert failed() == ["message_not_found"]
    faults["Slack message_not_found on chat.update"] += 1


@pytest.mark.parametrize("error", ["invalid_auth", "token_revoked", "account_inactive"])
def test_dead_token_stops_the_workspace_watches(
    h: Harness, faults: Counter[str], error: str
) -> None:
    # Two watches in the workspace, one in another workspace.
    first, second = new_language(), new_language()
    one, two, elsewhere = new_channel(), new_channel(), new_channel()
    one_ts = start_watch(h, first, one)
    two_ts = start_watch(h, second, two)
    other_team = f"T0{error[:5].upper()}"
    other = new_language()
    h.kore.script(BOT, other, Status("in-progress"))
    with SlackSender(h.app.events_url, SIGNING_SECRET, team_id=other_team) as sender:
        sender.command(
            f"support {other}", channel_id=elsewhere, response_url=h.slack.response_url()
        )
    h.parent(elsewhere)
    h.slack.fail("chat.postMessage", error)
    rescript(h.kore, first, Status("success"))
    # The workspace's watches end (recorded before anything else is posted).
    stopped = select(Watch.ended).where(Watch.channel_id.in_([one, two]))
    wait_until(lambda: all(ended for (ended,) in h.rows(stopped)), 15, "the watches stopped")
    # The token works again (or not): the stopped watches stay stopped.
    rescript(h.kore, second, Status("success"))
    rescript(h.kore, other, Status("success"))
    h.wait_reply(elsewhere)  # the other workspace is unaffected (and time has passed)
    let_ticks_pass(h)
    assert [c.error for c in thread_posts(h.slack, one, one_ts)] == [error]  # tried once
    assert thread_posts(h.slack, two, two_ts) == []
    assert "Nothing is watched" in alltext(h.answer(h.ask("list", two)))
    faults[f"Slack {error}"] += 1


# The database briefly unreachable ------------------------------------------------------

ENGINE_RETRIES = r"Database unavailable(, will retry| during)"


@pytest.mark.postgres
def test_database_outage_keeps_answering_and_loses_no_watch(
    postgres: PostgresServer,
    postgres_url: str,
    kore: FakeKore,
    slack: FakeSlack,
    faults: Counter[str],
) -> None:
    gate = Gate(postgres.port).open()
    url = postgres_url.replace(f":{postgres.port}/", f":{gate.port}/")
    try:
        with AppProcess(fault_env(kore, slack, url)) as app:
            h = Harness(kore, slack, app)
            watched, channel = new_language(), new_channel()
            ts = start_watch(h, watched, channel)
            finished, running = new_language(), new_language()
            kore.script(BOT, finished, Status("success"))
            kore.script(BOT, running, Status("in-progress"))
            gate.close()
            try:
                unavailable = log_count(app, ENGINE_RETRIES)
                # The training ends during the outage.
                rescript(kore, watched, Status("success"))
                health = httpx.get(app.url + "/healthz")
                assert health.status_code == 503
                assert health.json()["database"] == "unreachable"
                # Commands that need no database are answered as usual.
                assert "/faq-status support en" in alltext(h.answer(h.ask("help", new_channel())))
                done = h.answer(h.ask(f"support {finished}", new_channel()))
                assert done.get("response_type") == "in_channel", alltext(done)
                assert "succeeded" in alltext(done)
                # A running training: its status, and why it is not watched.
                where = new_channel()
                url_ = h.ask(f"support {running}", where)
                h.slack.wait_for(lambda s: len(h.answers(url_)) >= 2, 15, "two answers")
                status, why = h.answers(url_)
                assert status["response_type"] == "in_channel"
                assert "in progress" in alltext(status)
                assert why.get("response_type", "ephemeral") == "ephemeral"
                assert "database" in alltext(why)
                assert h.posts(where) == []
                listed = h.answer(h.ask("list", channel))
                assert "database" in alltext(listed)
                # The engine keeps trying.
                wait_logs(app, ENGINE_RETRIES, unavailable + 3)
                faults["database unreachable (engine retries seen)"] += (
                    log_count(app, ENGINE_RETRIES) - unavailable
                )
            finally:
                gate.open()
            final = h.wait_reply(channel, timeout=30)
            (reply,) = final["replies"]
            assert "succeeded" in reply["text"]
            assert httpx.get(app.url + "/healthz").json()["database"] == "ok"
            # And a new watch can be recorded again.
            again = new_channel()
            h.ask(f"support {running}", again)
            h.parent(again)
            assert len(h.slack.thread(channel, ts)) == 1
    finally:
        gate.close()


@pytest.mark.postgres
def test_stop_button_answers_the_clicker_while_the_database_is_down(
    postgres: PostgresServer,
    postgres_url: str,
    kore: FakeKore,
    slack: FakeSlack,
    faults: Counter[str],
) -> None:
    gate = Gate(postgres.port).open()
    url = postgres_url.replace(f":{postgres.port}/", f":{gate.port}/")
    try:
        with AppProcess(fault_env(kore, slack, url)) as app:
            h = Harness(kore, slack, app)
            channel = new_channel()
            ts = start_watch(h, new_language(), channel)
            (actions,) = [
                b for b in h.slack.messages(channel)[0]["blocks"] if b["type"] == "actions"
            ]
            button = actions["elements"][0]

            def click() -> str:
                answer_url = h.slack.response_url()
                response = h.sender.action(
                    button["action_id"],
                    button["value"],
                    channel_id=channel,
                    message_ts=ts,
                    response_url=answer_url,
                )
                assert response.status_code == 200
                return answer_url

            gate.close()
            try:
                answer = h.answer(click(), timeout=15)
                # Beside the watch's message, not over it, and only to the clicker.
                assert answer["replace_original"] is False
                assert answer.get("response_type", "ephemeral") == "ephemeral"
                assert "database is unavailable" in alltext(answer)
                assert "edited" not in h.slack.messages(channel)[0]
                faults["database unreachable (Stop watching clicked)"] += 1
            finally:
                gate.open()
            # The database back, the same button stops the watch.
            stopped = click()
            h.slack.wait_for(lambda s: "edited" in s.messages(channel)[0], 15, "parent updated")
            assert "stopped watching" in h.slack.messages(channel)[0]["text"]
            assert h.answers(stopped) == []
    finally:
        gate.close()
