"""Reliability: exactly-once results across SIGKILL, graceful stop, several processes.

The real app runs as a child process against fakes that can kill it at a chosen moment
(tests/chaos.py): when a poll reaches Kore.ai, in the middle of a slow poll, right before
or right after Slack stores the result (so the app never learns its ts), around the
parent's update, the announcement, or the look-ups a restarted process does. Each test
then counts, in the fake Slack, the final messages of every watch.

Figures are printed (also when the tests pass) for the README's Reliability section.
Reproduce a crash run with KOREBOT_CRASH_SEED=<seed printed>.
"""

from __future__ import annotations

import itertools
import os
import random
import signal
import string
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from sqlalchemy import update
from support.chaos import (
    OUTCOME_TAG,
    WATCH_TAG,
    HookedKore,
    HookedSlack,
    Killer,
    Poll,
    Seen,
    Trigger,
    connections_to,
)
from support.exactly_once import FAST, POLL_INTERVAL, check_exactly_once, watches
from support.slack_app import BOT, SIGNING_SECRET, app_env, new_channel, wait_until
from support.store import open_store

from korebot.testing.app_process import AppProcess
from korebot.testing.fake_kore import Delay, MlStatus, Status
from korebot.testing.fake_slack import SlackSender
from korebot.watch.store.tables import Target
from korebot.watch.types import now

FINALS = ("success", "failure")


@pytest.fixture
def killer() -> Killer:
    return Killer()


@pytest.fixture
def kore(killer: Killer) -> Iterator[HookedKore]:
    with HookedKore(killer, rate_limit=None) as fake:
        yield fake


@pytest.fixture
def slack(killer: Killer) -> Iterator[HookedSlack]:
    with HookedSlack(killer) as fake:
        yield fake


def languages(prefix: str) -> Iterator[str]:
    """Distinct language codes (one target each): prefix + two letters."""
    for a, b in itertools.product(string.ascii_lowercase, repeat=2):
        yield prefix + a + b


def report(capsys: pytest.CaptureFixture[str], title: str, figures: dict[str, object]) -> None:
    """Print figures past pytest's capture, so that CI logs show them."""
    with capsys.disabled():
        print(f"\n[{title}] " + ", ".join(f"{key}={value}" for key, value in figures.items()))


def ask(
    app: AppProcess, slack: HookedSlack, channel: str, text: str, command: str = "/faq-status"
) -> bool:
    """Send a signed /faq-status (or `command`); False if the app was not there to take it."""
    with SlackSender(app.events_url, SIGNING_SECRET) as sender:
        try:
            response = sender.command(
                text, channel_id=channel, response_url=slack.response_url(), command=command
            )
        except httpx.HTTPError:
            return False
    assert response.status_code == 200, response.text
    return True


# 1. Exactly once across SIGKILL ---------------------------------------------------------

KILLS = int(os.environ.get("KOREBOT_CRASH_KILLS", "50"))
OPEN_WATCHES = 4  # watches kept in progress at any time
EVENT_WAIT = 2.0  # seconds to wait for a keyed moment before killing on a timer
# Kill moments, with weights: most are keyed to what the fakes see.
MODES = {
    "timer": 3,
    "poll-arrives": 2,
    "mid-poll": 3,
    "result-before-post": 2,
    "result-after-post": 4,
    "parent-update": 2,
    "announce-after-post": 2,
    "recovery-lookup": 1,
}


@dataclass
class Tracked:
    channel: str
    language: str
    final: str | None = None  # the end scripted at Kore.ai, once chosen


class CrashRun:
    """Rounds of: start the app, give it work, kill it at a chosen moment."""

    def __init__(
        self, kore: HookedKore, slack: HookedSlack, killer: Killer, db: Path, seed: int
    ) -> None:
        self.kore, self.slack, self.killer = kore, slack, killer
        self.rng = random.Random(seed)
        self.env = app_env(kore, slack, db, **FAST)
        self.store = open_store(f"sqlite:///{db}")
        self.languages = languages("x")
        self.tracked: list[Tracked] = []
        self.logs: list[str] = []
        self.starts = 0
        self.app: AppProcess | None = None

    # The app ------------------------------------------------------------------------

    def start(self) -> AppProcess | None:
        """Start the app; None if a trigger armed beforehand killed it while starting."""
        app = AppProcess(self.env)
        self.killer.app = app
        self.starts += 1
        kills = len(self.killer.kills)
        try:
            app.start()
        except RuntimeError:
            if len(self.killer.kills) == kills:
                raise
            self.logs += app.logs
            return None
        self.app = app
        return app

    def reap(self) -> None:
        if self.app is not None:
            self.app.stop()
            self.logs += self.app.logs
            self.app = None

    # Work ---------------------------------------------------------------------------

    def open(self) -> list[Tracked]:
        return [t for t in self.tracked if t.final is None]

    def top_up(self, app: AppProcess) -> None:
        """Ask for new watches until OPEN_WATCHES are in progress; wait until recorded."""
        new = []
        while len(self.open()) < OPEN_WATCHES:
            new.append(self.ask(app))
        wait_until(
            lambda: self.recorded(new), 10, f"watches recorded for {[t.channel for t in new]}"
        )

    def ask(self, app: AppProcess, channel: str | None = None) -> Tracked:
        opened = self.open()
        if opened and self.rng.random() < 0.25:
            language = self.rng.choice(opened).language  # a second channel, same training
        else:
            language = next(self.languages)
            self.kore.script(BOT, language, Status("in-progress"))
        tracked = Tracked(channel or new_channel(), language)
        self.tracked.append(tracked)
        ask(app, self.slack, tracked.channel, f"support {language}")
        return tracked

    def recorded(self, tracked: list[Tracked]) -> bool:
        channels = {row.channel for row in watches(self.store) if row.thread_ts}
        return all(t.channel in channels for t in tracked)

    def finish(self, *steps: Delay) -> str | None:
        """Script the end of one open training; returns its language."""
        opened = self.open()
        if not opened:
            return None
        language = self.rng.choice(opened).language
        final = self.rng.choice(FINALS)
        for t in self.tracked:
            if t.language == language:
                t.final = final
        # A Delay is taken with the step after it, and the last step repeats: end on a
        # plain one, so that only the first poll of the end is slow.
        self.kore.script(BOT, language, *steps, Status(final), Status(final))
        return language

    # Kill moments ---------------------------------------------------------------------

    def trigger(self, mode: str) -> Trigger | None:
        rng = self.rng
        if mode == "timer":
            return None
        if mode == "poll-arrives":
            if rng.random() < 0.5:
                self.finish()
            return Trigger(mode, lambda s: s.source == "kore")
        if mode == "mid-poll":
            delay, share = rng.uniform(0.3, 1.0), rng.uniform(0.05, 0.95)
            if rng.random() < 0.6:
                self.finish(Delay(delay))
            elif self.open():
                language = rng.choice(self.open()).language
                slow = (Delay(delay), Status("in-progress"), Status("in-progress"))
                self.kore.script(BOT, language, *slow)
            return Trigger(
                mode, lambda s: s.source == "kore" and s.delay > 0, lambda s: share * s.delay
            )
        if mode.startswith("result-"):
            self.finish()
            phase = "before" if mode == "result-before-post" else "after"
            return Trigger(mode, _slack(phase, "chat.postMessage", OUTCOME_TAG))
        if mode == "parent-update":
            self.finish()
            return Trigger(mode, _slack(rng.choice(("before", "after")), "chat.update"))
        if mode == "announce-after-post":
            return Trigger(mode, _slack("after", "chat.postMessage", WATCH_TAG))
        if mode == "recovery-lookup":
            return Trigger(
                mode,
                lambda s: (
                    s.source == "slack"
                    and s.method in ("conversations.replies", "conversations.history")
                ),
            )
        raise AssertionError(mode)

    def round(self) -> None:
        mode = self.rng.choices(list(MODES), weights=list(MODES.values()))[0]
        # Some kills are armed before the start, to land in the first ticks of a restart,
        # which deliver what the previous process left half done.
        early = mode not in ("timer", "announce-after-post") and self.rng.random() < 0.35
        if mode == "recovery-lookup":
            early = True
        trigger = self.trigger(mode) if early else None
        if trigger is not None:
            self.killer.arm(trigger)
        app = self.start()
        if app is None:  # killed while starting
            return
        if not early:
            self.top_up(app)
            trigger = self.trigger(mode)
            if trigger is None:
                time.sleep(self.rng.uniform(0.05, 1.0))
                self.killer.kill("timer")
            elif mode == "announce-after-post":
                # The announcement of a new ask: its watch is recorded, its thread not yet.
                channel = new_channel()
                announced = trigger.matches
                self.killer.arm(
                    Trigger(mode, lambda s: announced(s) and s.args.get("channel") == channel)
                )
                self.ask(app, channel)
            else:
                self.killer.arm(trigger)
        if not self.killer.wait(EVENT_WAIT):
            self.killer.kill(f"{mode} (no such moment: timer)")
        self.reap()

    def drain(self) -> None:
        """No more kills: finish every training and let one process deliver everything."""
        self.killer.disarm()
        while self.open():
            self.finish()
        app = self.start()
        assert app is not None
        wait_until(
            lambda: all(row.ended for row in watches(self.store)),
            60,
            "every watch to end",
        )
        assert app.stop() == 0
        self.logs += app.logs


def _slack(phase: str, method: str, tag: str | None = None) -> Callable[[Seen], bool]:
    def matches(seen: Seen) -> bool:
        return (
            seen.source == "slack"
            and seen.phase == phase
            and seen.method == method
            and (tag is None or seen.tag == tag)
        )

    return matches


def test_exactly_one_final_message_per_watch_across_sigkills(
    kore: HookedKore,
    slack: HookedSlack,
    killer: Killer,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    seed = int(os.environ.get("KOREBOT_CRASH_SEED") or random.randrange(2**32))
    began = time.monotonic()
    run = CrashRun(kore, slack, killer, tmp_path / "korebot.db", seed)
    try:
        while len(killer.kills) < KILLS:
            run.round()
        run.drain()
    except BaseException:
        print(f"crash test seed: KOREBOT_CRASH_SEED={seed}")
        print("\n".join(run.logs[-200:]))
        raise
    finally:
        run.reap()
    channels = [t.channel for t in run.tracked]
    problems, tally, rows = check_exactly_once(slack, run.store, channels)
    run.store.dispose()
    lost = sum(1 for row in rows if len(tally.finals.get(row.id, [])) == 0)
    figures: dict[str, object] = {
        "seed": seed,
        "kills": len(killer.kills),
        "starts": run.starts,
        "watches": len(rows),
        "targets": len({row.language for row in rows}),
        "final_messages": sum(len(v) for v in tally.finals.values()),
        "duplicated": tally.duplicates(),
        "lost": lost,
        "duplicate_announcements": tally.announcement_duplicates(),
        "seconds": round(time.monotonic() - began, 1),
    }
    report(capsys, "crash test", figures)
    report(capsys, "crash test kills by moment", dict(Counter(killer.kills).most_common()))
    tracebacks = [line for line in run.logs if "Traceback" in line]
    assert problems == [], f"seed {seed}: " + "\n".join(problems)
    assert len(rows) == len(run.tracked), f"seed {seed}: a command was lost"
    assert len(killer.kills) >= KILLS
    assert tracebacks == [], "\n".join(run.logs)


@pytest.mark.parametrize(
    ("lookup", "tag", "kind"),
    [
        ("conversations.replies", OUTCOME_TAG, "faq"),
        ("conversations.history", WATCH_TAG, "faq"),
        # An ML watch has the same guarantee (one kind more of the same engine: one case).
        ("conversations.replies", OUTCOME_TAG, "ml"),
    ],
)
def test_a_failed_look_up_after_a_crash_is_retried_not_taken_for_no(
    kore: HookedKore,
    slack: HookedSlack,
    killer: Killer,
    tmp_path: Path,
    lookup: str,
    tag: str,
    kind: str,
) -> None:
    """Slack briefly cannot answer the look-up: the app looks again later, it does not post."""
    db = tmp_path / "korebot.db"
    env = app_env(kore, slack, db, **FAST)
    store = open_store(f"sqlite:///{db}")
    language, channel = "xzz", new_channel()
    running, success = (
        (Status("in-progress"), Status("success"))
        if kind == "faq"
        else (MlStatus("Inprogress"), MlStatus("Finished"))
    )
    kore.script(BOT, language, running, kind=kind)
    app = AppProcess(env).start()
    killer.app = app
    # Killed right after Slack stored the announcement, or the result: the app never heard.
    killer.arm(Trigger("posted", _slack("after", "chat.postMessage", tag)))
    assert ask(app, slack, channel, f"support {language}", f"/{kind}-status")
    if tag == OUTCOME_TAG:
        wait_until(lambda: any(r.thread_ts for r in watches(store)), 10, "the watch")
        kore.script(BOT, language, success, kind=kind)
    assert killer.wait(10)
    app.stop()
    kore.script(BOT, language, success, kind=kind)
    # More failures than slack_sdk's retry handlers ride out.
    slack.fail(lookup, "internal_error", http_status=503, times=4)
    with AppProcess(env) as again:
        wait_until(lambda: all(row.ended for row in watches(store)), 20, "the watch to end")
        assert again.stop() == 0
    problems, _, rows = check_exactly_once(slack, store, [channel])
    store.dispose()
    assert len(rows) == 1
    assert problems == []


# 2. Graceful stop -----------------------------------------------------------------------


def sigterm(app: AppProcess, timeout: float = 20.0) -> tuple[int, float]:
    """Send SIGTERM once; return the exit code and the seconds until the process exited."""
    began = time.monotonic()
    os.kill(app.pid, signal.SIGTERM)
    wait_until(lambda: app.returncode is not None, timeout, "the app to exit")
    elapsed = time.monotonic() - began
    code = app.stop()  # reaps; the process has exited, so no signal is sent
    return code, elapsed


@pytest.mark.timing
def test_sigterm_finishes_in_flight_work_and_exits_within_10_s(
    kore: HookedKore, slack: HookedSlack, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "korebot.db"
    env = app_env(kore, slack, db, **FAST)
    store = open_store(f"sqlite:///{db}")
    slow, idle, asked = "yaa", "yab", "yac"
    channels = {language: new_channel() for language in (slow, idle, asked)}
    for language in (slow, idle):
        kore.script(BOT, language, Status("in-progress"))
    app = AppProcess(env).start()
    for language in (slow, idle):
        assert ask(app, slack, channels[language], f"support {language}")
    wait_until(lambda: len([r for r in watches(store) if r.thread_ts]) == 2, 10, "two watches")
    # In flight when SIGTERM comes: a slow poll whose answer is final (its result is then
    # posted to a slow Slack), and a command whose Kore.ai call is slow.
    kore.script(BOT, slow, Delay(1.5), Status("success"), Status("success"))
    kore.script(BOT, asked, Delay(3.0), Status("in-progress"), Status("in-progress"))
    assert ask(app, slack, channels[asked], f"support {asked}")
    wait_until(
        lambda: {p.language for p in kore.polls if p.delay} == {slow, asked}, 10, "slow calls"
    )
    slack.slow["chat.postMessage"] = 1.0
    began = time.monotonic()
    os.kill(app.pid, signal.SIGTERM)
    time.sleep(0.5)
    refused = not ask(app, slack, new_channel(), f"support {idle}")  # new work: refused
    wait_until(lambda: app.returncode is not None, 20, "the app to exit")
    elapsed = time.monotonic() - began
    code = app.stop()
    late = [p for p in kore.polls if p.at > began]
    logs = "\n".join(app.logs)
    assert code == 0, logs
    assert elapsed < 10, logs
    assert refused
    assert late == [], "a poll started after SIGTERM"
    rows = {row.language: row for row in watches(store)}
    assert rows[slow].ended == "delivered"  # the in-flight poll's result was posted
    assert rows[asked].thread_ts is not None  # the in-flight command was answered
    assert "Traceback" not in logs
    report(capsys, "graceful stop", {"exit_code": code, "seconds_to_exit": round(elapsed, 2)})
    # After a restart, nothing is lost and nothing is doubled.
    slack.slow.clear()
    for language in (idle, asked):
        kore.script(BOT, language, Status("failure"))
    with AppProcess(env) as again:
        wait_until(lambda: all(row.ended for row in watches(store)), 15, "every watch to end")
        assert again.stop() == 0
    problems, _, rows_after = check_exactly_once(slack, store, list(channels.values()))
    store.dispose()
    assert len(rows_after) == 3
    assert problems == []


@pytest.mark.timing
def test_sigterm_exits_within_10_s_even_when_kore_hangs(
    kore: HookedKore, slack: HookedSlack, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "korebot.db"
    env = app_env(kore, slack, db, **FAST)
    store = open_store(f"sqlite:///{db}")
    language, channel = "yba", new_channel()
    kore.script(BOT, language, Status("in-progress"))
    app = AppProcess(env).start()
    assert ask(app, slack, channel, f"support {language}")
    wait_until(lambda: any(r.thread_ts for r in watches(store)), 10, "the watch")
    # Longer than anyone waits; the polls after it are answered at once.
    kore.script(BOT, language, Delay(30), Status("success"), Status("success"))
    wait_until(lambda: any(p.delay for p in kore.polls), 10, "the hanging poll")
    code, elapsed = sigterm(app)
    logs = "\n".join(app.logs)
    assert code == 0, logs
    assert elapsed < 10, logs  # not the 30 s of the hanging poll: it was abandoned
    report(capsys, "graceful stop, Kore.ai hanging", {"seconds_to_exit": round(elapsed, 2)})
    # The abandoned poll is done again after the restart; the result comes once.
    with AppProcess(env) as again:
        wait_until(lambda: all(row.ended for row in watches(store)), 20, "the watch to end")
        assert again.stop() == 0
    problems, _, rows = check_exactly_once(slack, store, [channel])
    store.dispose()
    assert len(rows) == 1
    assert problems == []


# 3. Several processes on one PostgreSQL database ------------------------------------------


def overlaps(polls: list[Poll], gap: float) -> list[str]:
    """Polls of one target that came while another was in flight, or sooner than `gap` after."""
    found = []
    ordered = sorted(polls, key=lambda p: p.at)
    for before, after in itertools.pairwise(ordered):
        free = before.at + before.delay  # when the fake answered `before`
        if after.at < free + gap:
            found.append(
                f"{after.language}: a poll {after.at - before.at:.3f} s after the previous one "
                f"(which took {before.delay:.3f} s)"
            )
    return found


def start_all(env: dict[str, str], count: int) -> list[AppProcess]:
    first = AppProcess(env).start()  # creates the tables
    others = [AppProcess(env) for _ in range(count - 1)]
    threads = [threading.Thread(target=app.start) for app in others]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert all(app.port for app in others), "an app did not start"
    return [first, *others]


def the_poller(apps: list[AppProcess], kore_port: int) -> AppProcess:
    """The one app holding a connection to Kore.ai for a second (a slow poll)."""
    alive = {app.pid: app for app in apps if app.returncode is None}
    seen = []
    for _ in range(3):  # the same connection over 0.6 s: not one of the quick polls
        seen.append(connections_to(kore_port, list(alive)))
        time.sleep(0.3)
    lasting = set.intersection(*seen)
    pids = {owner for owner, _ in lasting}
    assert len(pids) == 1, f"expected one process in a slow poll, saw {seen}"
    return alive[pids.pop()]


@pytest.mark.postgres
def test_several_processes_poll_each_watch_one_at_a_time_and_take_over(
    kore: HookedKore,
    slack: HookedSlack,
    killer: Killer,
    postgres_url: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    env = app_env(kore, slack, tmp_path / "unused.db", **FAST, DATABASE_URL=postgres_url)
    store = open_store(postgres_url)
    apps = start_all(env, 3)
    targets = [f"z{a}" for a in "abcdef"]
    channels = {language: new_channel() for language in targets}
    try:
        # Every poll takes a little while, so that two at once would show.
        for language in targets:
            kore.script(BOT, language, Delay(0.05), Status("in-progress"))
        for index, language in enumerate(targets):  # commands reach any process
            assert ask(apps[index % 3], slack, channels[language], f"support {language}")
        wait_until(
            lambda: len([r for r in watches(store) if r.thread_ts]) == len(targets), 15, "watches"
        )
        time.sleep(3)  # all three processes polling the six targets

        # A poll longer than the claim's lease: nobody else polls that target meanwhile.
        slow = targets[0]
        kore.script(BOT, slow, Delay(7), Status("in-progress"), Delay(0.05), Status("in-progress"))
        wait_until(lambda: any(p.delay == 7 for p in kore.polls_of(slow)), 10, "the slow poll")
        time.sleep(7.5)

        # The process in a poll dies: another takes the target over, the result comes once.
        dying = targets[1]
        kore.script(BOT, dying, Delay(3), Status("success"), Status("success"))
        wait_until(lambda: any(p.delay == 3 for p in kore.polls_of(dying)), 10, "the last poll")
        poller = the_poller(apps, int(kore.url.rsplit(":", 1)[1]))
        killed_at = time.monotonic()
        poller.kill()
        wait_until(lambda: any(p.at > killed_at for p in kore.polls_of(dying)), 15, "a take-over")
        takeover = min(p.at for p in kore.polls_of(dying) if p.at > killed_at) - killed_at

        # The process posting a result dies before recording it: another finds it in Slack.
        posted = targets[2]
        alive = {app.pid: app for app in apps if app.returncode is None}
        slack_port = int(slack.base_url.rsplit(":", 1)[1])

        def poster(seen: Seen) -> bool:
            if not _slack("after", "chat.postMessage", OUTCOME_TAG)(seen):
                return False
            owners = {owner for owner, _ in connections_to(slack_port, list(alive))}
            if len(owners) != 1:
                return False
            killer.app = alive[owners.pop()]
            return True

        killer.arm(Trigger("result posted", poster))
        kore.script(BOT, posted, Status("failure"))
        assert killer.wait(15), "the result was not posted by one process"

        for language in targets:
            kore.script(BOT, language, Status("success"))
        wait_until(lambda: all(row.ended for row in watches(store)), 20, "every watch to end")
    finally:
        for app in apps:
            app.stop()
    logs = "\n".join(line for app in apps for line in app.logs)
    problems, tally, rows = check_exactly_once(slack, store, list(channels.values()))
    store.dispose()
    too_close = [
        line for t in targets for line in overlaps(kore.polls_of(t), 0.9 * POLL_INTERVAL - 0.03)
    ]
    report(
        capsys,
        "several processes",
        {
            "processes": len(apps),
            "watches": len(rows),
            "polls": len(kore.polls),
            "overlapping_polls": len(too_close),
            "kills": 2,
            "takeover_seconds": round(takeover, 2),
            "final_messages": sum(len(v) for v in tally.finals.values()),
            "duplicated": tally.duplicates(),
        },
    )
    assert too_close == []
    assert problems == []
    assert takeover < 10
    assert "Traceback" not in logs, logs


@pytest.mark.timing
@pytest.mark.postgres
def test_take_over_is_within_seconds_at_the_default_poll_interval(
    kore: HookedKore, slack: HookedSlack, postgres_url: str, tmp_path: Path
) -> None:
    env = app_env(kore, slack, tmp_path / "unused.db", **FAST, DATABASE_URL=postgres_url)
    env["KOREBOT_POLL_INTERVAL"] = "30"
    store = open_store(postgres_url)
    language, channel = "zza", new_channel()
    kore.script(BOT, language, Status("in-progress"))
    apps = start_all(env, 2)
    try:
        assert ask(apps[0], slack, channel, f"support {language}")
        wait_until(lambda: any(r.thread_ts for r in watches(store)), 10, "the watch")
        kore.script(BOT, language, Delay(3), Status("success"), Status("success"))
        with store.session.begin() as session:  # due now rather than in 30 s
            session.execute(update(Target).values(next_poll_at=now()))
        wait_until(lambda: any(p.delay for p in kore.polls_of(language)), 10, "the poll")
        poller = the_poller(apps, int(kore.url.rsplit(":", 1)[1]))
        killed_at = time.monotonic()
        poller.kill()
        wait_until(lambda: all(row.ended for row in watches(store)), 15, "the result")
        taken_over = min(p.at for p in kore.polls_of(language) if p.at > killed_at) - killed_at
    finally:
        for app in apps:
            app.stop()
    problems, _, _ = check_exactly_once(slack, store, [channel])
    store.dispose()
    assert taken_over < 10
    assert problems == []
