"""Helpers for the reliability tests: fakes that can kill the app at a chosen moment.

``Killer`` holds the app process under test and one armed *trigger*. The fakes call it
from their request handlers, so a kill keyed to an event happens before the fake answers:
``HookedSlack`` fires on arrival ("before": nothing stored) and after a call was stored but
before the app hears the answer ("after": the message exists, the app never learns its ts);
``HookedKore`` fires when a request arrives, once the fake has decided (and recorded) its
answer but before sending it, and knows how long that answer will take (a ``Delay`` step),
so a kill can land mid-poll; a batch test or publish request is seen as its kind
("batch-run", "batch-status", "batch-suites", "publish", "publish-status"), a train POST
as "train", and a training's status as "status".
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from korebot.testing import fake_batch, fake_publish, fake_slack
from korebot.testing.app_process import AppProcess
from korebot.testing.fake_kore import FakeKore
from korebot.testing.fake_slack import FakeSlack

WATCH_TAG = "korebot_watch"
OUTCOME_TAG = "korebot_outcome"


@dataclass(frozen=True)
class Seen:
    """One request seen by a fake: where, when in its handling, and what."""

    source: str  # "slack" or "kore"
    phase: str  # "before" (nothing done yet) or "after" (done, answer not sent)
    method: str  # Web API method; Kore.ai: "status", "train", or the request's kind
    args: dict[str, Any]
    delay: float = 0.0  # Kore.ai: how long the fake will wait before answering

    @property
    def tag(self) -> str | None:
        metadata = self.args.get("metadata")
        return metadata.get("event_type") if isinstance(metadata, dict) else None

    @property
    def language(self) -> str | None:
        return self.args.get("language")


@dataclass
class Trigger:
    name: str
    matches: Callable[[Seen], bool]
    #: Seconds after the matching event to kill (drawn by the caller); 0: at once.
    after: Callable[[Seen], float] = lambda seen: 0.0


@dataclass
class Killer:
    """Kills the current app process with SIGKILL when the armed trigger matches."""

    app: AppProcess | None = None
    kills: list[str] = field(default_factory=list)
    _trigger: Trigger | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _fired: threading.Event = field(default_factory=threading.Event)

    def arm(self, trigger: Trigger) -> None:
        with self._lock:
            self._trigger = trigger
            self._fired.clear()

    def disarm(self) -> None:
        with self._lock:
            self._trigger = None

    def wait(self, timeout: float) -> bool:
        """Whether the armed trigger fired (and the process was killed) within timeout."""
        return self._fired.wait(timeout)

    def see(self, seen: Seen) -> bool:
        """Called by the fakes; True if this event killed the app (synchronously)."""
        with self._lock:
            trigger = self._trigger
            if trigger is None or not trigger.matches(seen):
                return False
            self._trigger = None
            target = self.app
        delay = trigger.after(seen)
        if delay > 0:
            # Only the process that saw the event: a late timer must not kill a later one.
            threading.Timer(delay, self.kill, args=(trigger.name, target)).start()
            return False
        self.kill(trigger.name)
        return True

    def kill(self, why: str, only: AppProcess | None = None) -> None:
        """SIGKILL the app now (from any thread); recorded once per process."""
        with self._lock:
            app = self.app
            if only is not None and app is not only:
                return
            self.app = None
            self._trigger = None
        if app is not None and app.returncode is None:
            os.kill(app.pid, signal.SIGKILL)
            self.kills.append(why)
        self._fired.set()


class HookedSlack(FakeSlack):
    """FakeSlack that shows every Web API call to a Killer, before and after handling it."""

    def __init__(self, killer: Killer, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.killer = killer
        #: Seconds to sleep before answering, per Web API method (a slow Slack).
        self.slow: dict[str, float] = {}

    def _handle_api(self, method: str, args: dict[str, Any], bearer: str | None) -> Any:
        if self.killer.see(Seen("slack", "before", method, args)):
            # The app is dead: the call never reached Slack.
            return fake_slack._Answer.json({"ok": False, "error": "fatal_error"})
        answer = super()._handle_api(method, args, bearer)
        self.killer.see(Seen("slack", "after", method, args))
        pause = self.slow.get(method, 0.0)
        if pause:
            time.sleep(pause)
        return answer


@dataclass(frozen=True)
class Poll:
    """A status request as FakeKore's handler saw it arrive."""

    language: str
    at: float  # time.monotonic() on arrival
    delay: float  # how long the answer was held back (Delay steps)


class HookedKore(FakeKore):
    """FakeKore that shows every request to a Killer on arrival, and logs arrivals."""

    def __init__(self, killer: Killer, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.killer = killer
        self.polls: list[Poll] = []
        self._polls_lock = threading.Lock()

    def _decide(self, incoming: Any) -> Any:
        verdict = super()._decide(incoming)
        delay = float(verdict.answer.delay)
        language = str(verdict.query.get("language", ""))
        with self._polls_lock:
            self.polls.append(Poll(language, time.monotonic(), delay))
        routed = fake_batch.route(incoming.method, verdict.path) or fake_publish.route(
            incoming.method, verdict.path
        )
        if routed is not None:
            method = routed[0]
        else:  # a training's: its status, or a train POST
            method = "train" if incoming.method == "POST" else "status"
        self.killer.see(Seen("kore", "before", method, dict(verdict.query), delay))
        return verdict

    def polls_of(self, language: str) -> list[Poll]:
        with self._polls_lock:
            return [p for p in self.polls if p.language == language]


def connections_to(port: int, pids: list[int]) -> set[tuple[int, str]]:
    """(pid, socket inode) of each established TCP connection from these processes to port."""
    inodes: set[str] = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        remote, state, inode = fields[2], fields[3], fields[9]
        if state == "01" and int(remote.split(":")[1], 16) == port:
            inodes.add(inode)
    found = set()
    for candidate in pids:
        try:
            links = [os.readlink(fd) for fd in Path(f"/proc/{candidate}/fd").iterdir()]
        except OSError:
            continue
        for link in links:
            if link.startswith("socket:[") and link[8:-1] in inodes:
                found.add((candidate, link[8:-1]))
    return found


def tagged(message: dict[str, Any], kind: str) -> int | None:
    """The watch ID a message of korebot's is tagged with (metadata), if of this kind."""
    metadata = message.get("metadata") or {}
    if metadata.get("event_type") != kind:
        return None
    watch_id = (metadata.get("event_payload") or {}).get("watch_id")
    return int(watch_id) if watch_id is not None else None


@dataclass
class Tally:
    """What Slack holds for each watch: its announcements and its final messages."""

    announcements: dict[int, list[str]] = field(default_factory=dict)  # watch -> parent ts
    finals: dict[int, list[str | None]] = field(default_factory=dict)  # watch -> thread ts
    parents: dict[int, list[dict[str, Any]]] = field(default_factory=dict)

    @classmethod
    def of(cls, slack: FakeSlack, channels: list[str]) -> Tally:
        tally = cls()
        for channel in channels:
            for top in slack.messages(channel):
                watch = tagged(top, WATCH_TAG)
                if watch is not None:
                    tally.announcements.setdefault(watch, []).append(top["ts"])
                    tally.parents.setdefault(watch, []).append(top)
                watch = tagged(top, OUTCOME_TAG)
                if watch is not None:
                    tally.finals.setdefault(watch, []).append(None)  # top level
                for reply in top["replies"]:
                    watch = tagged(reply, OUTCOME_TAG)
                    if watch is not None:
                        tally.finals.setdefault(watch, []).append(top["ts"])
        return tally

    def duplicates(self) -> int:
        return sum(len(v) - 1 for v in self.finals.values() if len(v) > 1)

    def announcement_duplicates(self) -> int:
        return sum(len(v) - 1 for v in self.announcements.values() if len(v) > 1)

    def threads_without_final(self) -> list[tuple[int, str]]:
        """Every watch message (thread) in Slack that has no final reply in it."""
        missing = []
        for watch, stamps in self.announcements.items():
            for ts in stamps:
                if ts not in (self.finals.get(watch) or []):
                    missing.append((watch, ts))
        return missing
