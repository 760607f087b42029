"""What every scenario needs: the fakes with timing, the real app process, senders, /proc stats.

Everything binds or connects to 127.0.0.1 only. The app is ``korebot.server.serve`` run by
``korebot.testing.app_process.AppProcess`` exactly as the tests and the demo run it.
"""

from __future__ import annotations

import contextlib
import http.client
import itertools
import os
import random
import re
import secrets
import statistics
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
from slack_sdk.signature import SignatureVerifier

from korebot.config import Settings
from korebot.testing import fake_batch
from korebot.testing.app_process import AppProcess
from korebot.testing.fake_kore import FakeKore, KoreRequest, Status
from korebot.testing.fake_slack import FakeSlack, SlackCall

LOOPBACK = "127.0.0.1"
SIGNING_SECRET = "bench-signing-secret-" + secrets.token_hex(8)
#: Kore.ai's answer time in the fake, seconds (uniform); real Kore.ai answers in about this.
KORE_LATENCY = (0.15, 0.30)
_STATUS_PATH = re.compile(r"/api/public/bot/(st-[0-9a-f-]{36})/faqs/train/status")
_PROXY_VARS = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy")


def clean_environment() -> None:
    """Drop proxies and the user's own korebot settings from this process (and its children).

    Everything talks to 127.0.0.1; a proxy or an inherited KOREBOT_CONFIG/SLACK_APP_TOKEN would
    change what is measured.
    """
    names = {name.upper() for name in Settings.model_fields}
    for key in list(os.environ):
        if key.upper() in names or key in _PROXY_VARS:
            del os.environ[key]
    os.environ["NO_PROXY"] = os.environ["no_proxy"] = f"{LOOPBACK},localhost"


def bot_id(group: int, index: int) -> str:
    """A valid, lower-case Kore.ai bot ID, distinct per (group, index)."""
    return f"st-{group:08x}-0000-4000-8000-{index:012x}"


# -- the fakes, with timing ------------------------------------------------------------------


class BenchKore(FakeKore):
    """FakeKore whose latency is drawn per request from a range (real Kore.ai varies)."""

    def __init__(self, *, latency: tuple[float, float] = KORE_LATENCY, **kwargs: Any) -> None:
        self._latency_range = latency
        super().__init__(**kwargs)

    @property
    def _latency(self) -> float:  # read once per request by the fake's handler
        low, high = self._latency_range
        return random.uniform(low, high) if high > 0 else 0.0

    @_latency.setter
    def _latency(self, value: float) -> None:
        """FakeKore.__init__ sets a fixed latency; the range above replaces it."""

    def flip(self, bot: str, language: str, status: str) -> float:
        """Make the fake answer ``status`` from now on; returns the moment (time.time())."""
        self.script(bot, language, Status(status))
        return time.time()

    def end_batch_runs(self, bot: str) -> float:
        """End the bot's batch test runs now: each run's next status poll answers its final
        status (a `BatchScript`'s end is a number of polls; this makes it a moment instead).
        Returns the moment (time.time())."""
        with self._cond:
            for run in self._runs.values():
                if run.bot_id == bot:
                    run.script = replace(run.script, running_polls=run.polls)
            for key, script in self._batch_scripts.items():  # and any run started later
                if key[0] == bot:
                    self._batch_scripts[key] = replace(script, running_polls=0)
            return time.time()


def status_calls(
    requests: Iterable[KoreRequest], since: float = 0.0
) -> tuple[Counter[tuple[str, str]], Counter[tuple[str, str]]]:
    """Status calls and 429 answers per (bot, language) at or after ``since``."""
    calls: Counter[tuple[str, str]] = Counter()
    limited: Counter[tuple[str, str]] = Counter()
    for request in requests:
        match = _STATUS_PATH.fullmatch(request.path)
        if request.at < since or not match or request.method != "GET":
            continue
        key = (match.group(1), request.query.get("language", ""))
        calls[key] += 1
        if request.http_status == 429:
            limited[key] += 1
    return calls, limited


def batch_calls(
    requests: Iterable[KoreRequest], since: float = 0.0
) -> tuple[Counter[tuple[str, str]], Counter[tuple[str, str]]]:
    """Batch test calls and 429 answers per (bot, kind) at or after ``since``; kinds as
    ``FakeKore.count`` names them: "batch-run" (run POSTs), "batch-status", "batch-suites"."""
    calls: Counter[tuple[str, str]] = Counter()
    limited: Counter[tuple[str, str]] = Counter()
    for request in requests:
        routed = fake_batch.route(request.method, request.path)
        if request.at < since or routed is None or routed[1] is None:
            continue
        key = (routed[1], routed[0])
        calls[key] += 1
        if request.http_status == 429:
            limited[key] += 1
    return calls, limited


@dataclass(frozen=True)
class Post:
    """One Web API call or response_url post seen by the fake Slack, with its arrival time."""

    at: float
    method: str
    channel: str
    thread_ts: str | None
    ok: bool
    url: str
    #: The new message's ts (from the answer) and the start of its text.
    ts: str | None = None
    text: str = ""


class TimedSlack(FakeSlack):
    """FakeSlack that also stamps every call with its arrival time and counts them cheaply."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.posts: list[Post] = []
        self.counts: Counter[str] = Counter()
        self._changed = threading.Condition()

    def _record(self, method: str, args: dict[str, Any], result: dict[str, Any]) -> None:
        super()._record(method, args, result)
        thread_ts = args.get("thread_ts")
        post = Post(
            at=time.time(),
            method=method,
            channel=str(args.get("channel") or ""),
            thread_ts=str(thread_ts) if thread_ts else None,
            ok=bool(result.get("ok")),
            url=str(args.get("_url") or ""),
            ts=str(result["ts"]) if result.get("ts") else None,
            text=str(args.get("text") or "")[:300],
        )
        with self._changed:
            self.posts.append(post)
            self.counts[method] += 1
            if method == "chat.postMessage" and post.ok:
                self.counts["thread reply" if post.thread_ts else "announcement"] += 1
            self._changed.notify_all()

    def wait_until(self, predicate: Callable[[TimedSlack], bool], timeout: float) -> bool:
        """Wait until ``predicate`` (reading ``counts``/``posts``) holds; False on timeout."""
        with self._changed:
            return self._changed.wait_for(lambda: predicate(self), timeout=timeout)

    def snapshot(self) -> list[Post]:
        with self._changed:
            return list(self.posts)


# -- the app ---------------------------------------------------------------------------------


def app_env(
    kore: FakeKore, slack: FakeSlack, db: Path, bots: Mapping[str, str], **extra: str
) -> dict[str, str]:
    """The app's environment: production defaults except where a scenario says otherwise."""
    return {
        "KORE_HOST": kore.url,
        "KORE_CLIENT_ID": kore.client_id,
        "KORE_CLIENT_SECRET": kore.client_secret,
        "KOREBOT_BOTS": ",".join(f"{alias}={bid}" for alias, bid in bots.items()),
        "SLACK_BOT_TOKEN": slack.token,
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "SLACK_API_URL": slack.api_url,
        "DATABASE_URL": f"sqlite:///{db.as_posix()}",
        # INFO, the production default: the app's logging is part of what is measured.
        "LOG_LEVEL": "INFO",
        **extra,
    }


@dataclass
class Stack:
    """A fake Kore.ai, a fake Slack and the real app wired to them, in a scratch directory."""

    kore: BenchKore
    slack: TimedSlack
    app: AppProcess
    http: httpx.Client
    workdir: Path
    bots: dict[str, str]
    started_in: float = 0.0

    @property
    def pid(self) -> int:
        return self.app.pid

    def command(self, ask: Ask) -> tuple[int, float]:
        """Send one signed slash command; returns (HTTP status, seconds to the ack)."""
        body, stamp = signed_command(ask, self.slack.response_url())
        timestamp, signature = stamp.split("|", 1)
        headers = {
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Slack-Request-Timestamp": timestamp,
            "X-Slack-Signature": signature,
        }
        start = time.perf_counter()
        try:
            status = self.http.post(self.app.events_url, content=body, headers=headers).status_code
        except httpx.HTTPError:
            status = 0
        return status, time.perf_counter() - start

    def commands(self, asks: Sequence[Ask], concurrency: int = 16) -> list[tuple[int, float]]:
        """Send asks, ``concurrency`` at a time, each as soon as the previous one is acked."""
        with ThreadPoolExecutor(concurrency, thread_name_prefix="bench-send") as pool:
            return list(pool.map(self.command, asks))

    def responses(self) -> int:
        return self.slack.counts["response_url"]


@contextlib.contextmanager
def stack(
    bots: Mapping[str, str],
    *,
    env: Mapping[str, str] | None = None,
    latency: tuple[float, float] = KORE_LATENCY,
    rate_limit: tuple[int, int] | None = (60, 1800),
    initial: str = "in-progress",
    languages: Sequence[str] = ("en",),
) -> Iterator[Stack]:
    """Start the fakes and the app; every bot's training in ``languages`` starts as ``initial``."""
    with contextlib.ExitStack() as exits:
        workdir = Path(
            exits.enter_context(
                tempfile.TemporaryDirectory(prefix="korebot-bench-", ignore_cleanup_errors=True)
            )
        )
        kore = BenchKore(latency=latency, rate_limit=rate_limit, bots=bots.values())
        exits.enter_context(kore)
        for bid in bots.values():
            for language in languages:
                kore.script(bid, language, Status(initial))
        slack = TimedSlack()
        exits.enter_context(slack)
        app = AppProcess(app_env(kore, slack, workdir / "korebot.db", bots, **(env or {})))
        start = time.perf_counter()
        app.start(timeout=90)
        exits.callback(app.stop, timeout=30)
        started_in = time.perf_counter() - start
        limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
        http = exits.enter_context(httpx.Client(timeout=30, limits=limits, trust_env=False))
        yield Stack(kore, slack, app, http, workdir, dict(bots), started_in)


# -- raw, concurrent signed requests (the ack burst) ------------------------------------------


@dataclass(frozen=True)
class Ask:
    """One slash command (/faq-status unless ``command`` says otherwise) typed by ``user`` in
    ``channel`` of workspace ``team``."""

    text: str
    channel: str
    user: str
    team: str = "T0BENCH"
    command: str = "/faq-status"


_users = itertools.count(1)


def user() -> str:
    """A fresh Slack user ID (korebot limits commands per user per minute)."""
    return f"U{next(_users):08d}"


def signed_command(ask: Ask, response_url: str) -> tuple[bytes, str]:
    """A slash command body and ``timestamp|signature``, as Slack signs it."""
    fields = {
        "token": "bench",
        "team_id": ask.team,
        "team_domain": ask.team.lower(),
        "channel_id": ask.channel,
        "channel_name": "general",
        "user_id": ask.user,
        "user_name": ask.user.lower(),
        "command": ask.command,
        "text": ask.text,
        "api_app_id": "A0KOREBOT",
        "is_enterprise_install": "false",
        "response_url": response_url,
        "trigger_id": f"{int(time.time())}.{random.getrandbits(40)}",
    }
    body = urlencode(fields)
    timestamp = str(int(time.time()))
    signature = SignatureVerifier(SIGNING_SECRET).generate_signature(timestamp=timestamp, body=body)
    return body.encode(), f"{timestamp}|{signature}"


def post_raw(port: int, body: bytes, stamp: str, timeout: float = 30.0) -> tuple[int, float]:
    """POST a signed command on a fresh connection; returns (status, seconds), 0 on failure."""
    timestamp, signature = stamp.split("|", 1)
    headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Slack-Request-Timestamp": timestamp,
        "X-Slack-Signature": signature,
        "Connection": "close",
    }
    start = time.perf_counter()
    connection = http.client.HTTPConnection(LOOPBACK, port, timeout=timeout)
    try:
        connection.request("POST", "/slack/events", body=body, headers=headers)
        response = connection.getresponse()
        response.read()
        status = response.status
    except OSError:
        status = 0
    finally:
        connection.close()
    return status, time.perf_counter() - start


def burst(port: int, requests: Sequence[tuple[bytes, str]]) -> list[tuple[int, float]]:
    """Fire every request at once, one thread and one connection each."""
    gate = threading.Barrier(len(requests))
    results: list[tuple[int, float]] = [(0, 0.0)] * len(requests)

    def fire(index: int) -> None:
        body, stamp = requests[index]
        gate.wait()
        results[index] = post_raw(port, body, stamp)

    threads = [
        threading.Thread(target=fire, args=(i,), name=f"burst-{i}", daemon=True)
        for i in range(len(requests))
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return results


# -- /proc --------------------------------------------------------------------------------------

_TICK = os.sysconf("SC_CLK_TCK")


def rss_mb(pid: int) -> float:
    """Resident memory (VmRSS) of a process, in MB (10^6 bytes)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024 / 1e6
    raise RuntimeError(f"no VmRSS for {pid}")


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process (all its threads), in seconds."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / _TICK  # fields 14 and 15 of proc(5)


@dataclass
class Usage:
    """CPU share of one core and peak RSS of a process over a window."""

    seconds: float
    cpu_share: float
    rss_peak_mb: float
    rss_end_mb: float
    samples: list[float] = field(default_factory=list)


def observe(pid: int, seconds: float, every: float = 1.0) -> Usage:
    """Sample a process for ``seconds``: CPU (share of one core) and RSS."""
    start_wall, start_cpu = time.perf_counter(), cpu_seconds(pid)
    samples = [rss_mb(pid)]
    deadline = start_wall + seconds
    while (left := deadline - time.perf_counter()) > 0:
        time.sleep(min(every, left))
        samples.append(rss_mb(pid))
    wall = time.perf_counter() - start_wall
    share = (cpu_seconds(pid) - start_cpu) / wall
    return Usage(wall, share, max(samples), samples[-1], samples)


class MachineLoad:
    """CPU time the rest of the machine used while a block ran (others' tests, say)."""

    def __init__(self) -> None:
        self.start = _busy_and_own()

    def others(self) -> tuple[float, float]:
        """(seconds, share of the whole machine) used by processes other than this suite."""
        (busy0, own0, wall0), (busy1, own1, wall1) = self.start, _busy_and_own()
        other = max(0.0, (busy1 - busy0) - (own1 - own0))
        capacity = (wall1 - wall0) * (os.cpu_count() or 1)
        return other, other / capacity if capacity > 0 else 0.0


def _busy_and_own() -> tuple[float, float, float]:
    """Busy CPU seconds of the machine and of this process and its reaped children; wall."""
    fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(x) for x in fields[:8])
    busy = (user + nice + system + irq + softirq + steal) / _TICK
    times = os.times()
    own = times.user + times.system + times.children_user + times.children_system
    return busy, own, time.monotonic()


# -- small helpers -------------------------------------------------------------------------------


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0-100), nearest-rank on the sorted values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(q / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


_channels = itertools.count(1)


def channels(n: int, prefix: str = "C") -> list[str]:
    """``n`` fresh Slack channel IDs."""
    return [f"{prefix}{next(_channels):08d}" for _ in range(n)]


def wait(predicate: Callable[[], bool], timeout: float, every: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while True:
        if predicate():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(every)


def slack_posts(slack: TimedSlack, method: str) -> list[Post]:
    return [post for post in slack.snapshot() if post.method == method]


def calls_of(slack: FakeSlack, method: str) -> list[SlackCall]:
    return slack.calls_to(method)
