"""The watching engine: polls Kore.ai on a schedule until each watched training ends.

It knows nothing of Slack: it tells a ``Notifier`` what happened and records the
outcome. One poll job per (host, bot, language, state) serves every channel
watching that training. Jobs are rebuilt from the database on start, so a
restart resumes every unfinished watch.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from apscheduler.jobstores.base import JobLookupError
from apscheduler.schedulers.background import BackgroundScheduler
from sqlalchemy import select
from sqlalchemy.orm import Session

from korebot.kore import InvalidInput, KoreError, State, Status, TrainingStatus
from korebot.registry import Bot, BotRegistry
from korebot.watch.store import Asker, Store, Training, Watch, now

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class WatchView:
    """A read-only snapshot of one channel's watch, for the notifier to render."""

    watch_id: int
    bot_name: str
    bot_id: str
    language: str
    state: State
    team_id: str
    channel_id: str
    thread_channel: str | None
    thread_ts: str | None
    askers: tuple[str, ...]
    started_at: datetime
    last_status: str | None
    last_error: str | None


class Undeliverable(Exception):
    """A message can never reach its channel or its askers (e.g. token revoked)."""


class Notifier(Protocol):
    """What the engine needs from the chat side. Transient failures raise any other error."""

    def announce(self, watch: WatchView, status: TrainingStatus) -> tuple[str, str]:
        """Post the 'watching' message; return (channel, ts) of the thread it starts."""

    def finish(self, watch: WatchView, result: TrainingStatus) -> None:
        """Reply with the final result in the watch's thread and update its message."""

    def give_up(self, watch: WatchView, reason: str) -> None:
        """Say in the thread that watching stopped without a result, and why."""

    def stopped(self, watch: WatchView, user_id: str) -> None:
        """Update the watch's message after a user stopped it."""


@dataclass(frozen=True)
class WatchRequest:
    team_id: str
    channel_id: str
    user_id: str
    bot: Bot
    language: str
    state: State


@dataclass(frozen=True)
class Started:
    """The answer to ``WatchEngine.watch``: the watch, and whether it already existed."""

    watch: WatchView
    existing: bool


def _key(host: str, bot_id: str, language: str, state: str) -> str:
    return f"{host}|{bot_id}|{language}|{state}"


class WatchEngine:
    def __init__(
        self,
        store: Store,
        registry: BotRegistry,
        notifier: Notifier,
        *,
        poll_interval: float,
        watch_timeout: float,
        clock: Callable[[], datetime] = now,
    ) -> None:
        self.store = store
        self.registry = registry
        self.notifier = notifier
        self.poll_interval = poll_interval
        self.watch_timeout = watch_timeout
        self.clock = clock
        self.scheduler = BackgroundScheduler(
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
        )
        # Serialises creating watches, so two quick asks in one channel share one thread.
        self._lock = threading.Lock()
        self._idle = threading.Condition()
        self._polling = 0

    @property
    def running(self) -> bool:
        return bool(self.scheduler.running)

    def start(self) -> None:
        """Start polling, resuming every unfinished watch found in the database."""
        self.scheduler.start()
        trainings = self.store.active_trainings()
        for training in trainings:
            self._announce_pending(training.id)
            self._schedule(training.id, first=self.clock())
        if trainings:
            log.info("Resumed %d watched training(s)", len(trainings))

    def shutdown(self, wait: bool = True, timeout: float = 8.0) -> None:
        """Stop scheduling; with ``wait``, let polls already running finish first.

        APScheduler's own ``shutdown(wait=True)`` holds its job-store lock while it
        waits, so a finishing poll that removes its job would deadlock; hence the
        pause and our own count of polls in flight.
        """
        if not self.scheduler.running:
            return
        self.scheduler.pause()
        if wait:
            with self._idle:
                if not self._idle.wait_for(lambda: self._polling == 0, timeout=timeout):
                    log.warning("Stopping with %d poll(s) still running", self._polling)
        self.scheduler.shutdown(wait=False)

    # Commands ---------------------------------------------------------------------

    def watch(self, request: WatchRequest, status: TrainingStatus) -> Started:
        """Watch a training for a channel, or add the asker to the channel's existing watch."""
        bot = request.bot
        key = _key(bot.host, bot.bot_id, request.language, request.state.value)
        with self._lock:
            with self.store.session.begin() as session:
                training = session.scalars(
                    select(Training).where(Training.active_key == key)
                ).first()
                new_training = training is None
                if training is None:
                    started = self.clock()
                    training = Training(
                        active_key=key,
                        host=bot.host,
                        bot_id=bot.bot_id,
                        bot_name=bot.name,
                        language=request.language,
                        state=request.state.value,
                        started_at=started,
                        deadline=started + timedelta(seconds=self.watch_timeout),
                        last_status=status.raw_status,
                        last_message=status.message,
                        last_checked_at=started,
                    )
                    session.add(training)
                    session.flush()
                watch = session.scalars(
                    select(Watch).where(
                        Watch.training_id == training.id,
                        Watch.channel_id == request.channel_id,
                        Watch.ended.is_(None),
                    )
                ).first()
                existing = watch is not None and watch.thread_ts is not None
                if watch is None:
                    watch = Watch(
                        training=training,
                        team_id=request.team_id,
                        channel_id=request.channel_id,
                        created_at=self.clock(),
                    )
                    session.add(watch)
                if request.user_id not in {asker.user_id for asker in watch.askers}:
                    watch.askers.append(Asker(user_id=request.user_id))
                session.flush()
                view = _view(watch)
                training_id = training.id
            if not existing:
                view = self._announce(view, status)
        if new_training:
            self._schedule(training_id, first=self.clock() + timedelta(seconds=self.poll_interval))
        return Started(view, existing)

    def stop(
        self, channel_id: str, bot: Bot, language: str, state: State, user_id: str
    ) -> WatchView | None:
        """Stop the channel's watch of this training; None if there was none."""
        key = _key(bot.host, bot.bot_id, language, state.value)
        with self.store.session() as session:
            watch_id = session.scalars(
                select(Watch.id)
                .join(Training)
                .where(
                    Training.active_key == key,
                    Watch.channel_id == channel_id,
                    Watch.ended.is_(None),
                )
            ).first()
        return None if watch_id is None else self.stop_by_id(watch_id, channel_id, user_id)

    def stop_by_id(self, watch_id: int, channel_id: str, user_id: str) -> WatchView | None:
        """Stop a watch by ID (the button), only from the channel it belongs to."""
        with self.store.session.begin() as session:
            watch = session.get(Watch, watch_id)
            if (
                watch is None
                or watch.ended is not None
                or channel_id
                not in (
                    watch.channel_id,
                    watch.thread_channel,
                )
            ):
                return None
            self._end_watch(session, watch, "stopped")
            view = _view(watch)
        self._tell(self.notifier.stopped, view, user_id)
        return view

    def watches_in(self, channel_id: str) -> list[WatchView]:
        with self.store.session() as session:
            watches = session.scalars(
                select(Watch)
                .where(Watch.channel_id == channel_id, Watch.ended.is_(None))
                .order_by(Watch.id)
            )
            return [_view(watch) for watch in watches]

    def active_count(self) -> int:
        return len(self.store.active_trainings())

    # Polling ----------------------------------------------------------------------

    def poll(self, training_id: int) -> None:
        """One scheduled check of a training; delivers the result when it has ended."""
        with self._idle:
            self._polling += 1
        try:
            self._poll(training_id)
        finally:
            with self._idle:
                self._polling -= 1
                self._idle.notify_all()

    def _poll(self, training_id: int) -> None:
        with self.store.session() as session:
            training = session.get(Training, training_id)
            if training is None or training.active_key is None:
                self._unschedule(training_id)
                return
            name, language, state = training.bot_name, training.language, State(training.state)
        try:
            bot = self.registry.resolve(name, allow_raw_id=True)
            result = self.registry.client(bot).training_status(bot.bot_id, language, state)
        except InvalidInput as error:
            self._end_training(training_id, f"the bot is no longer configured ({error})", "error")
            return
        except KoreError as error:
            if error.transient:
                self._record(training_id, error=str(error))
            else:
                self._end_training(training_id, f"Kore.ai answered: {error}", "error")
            return
        if result.status.is_final:
            self._deliver(training_id, result)
        else:
            self._record(training_id, result=result)

    def _record(
        self, training_id: int, *, result: TrainingStatus | None = None, error: str | None = None
    ) -> None:
        with self.store.session.begin() as session:
            training = session.get(Training, training_id)
            if training is None or training.active_key is None:
                return
            if result is not None:
                training.last_status = result.raw_status
                training.last_message = result.message
                training.last_checked_at = self.clock()
                training.last_error = None
            if error is not None:
                log.warning(
                    "Watch of %s (%s) could not poll: %s",
                    training.bot_name,
                    training.language,
                    error,
                )
                training.last_error = error
            expired = self.clock() >= training.deadline
            last = training.last_status or "unknown"
            waited = _duration(self.watch_timeout)
        if expired:
            self._end_training(
                training_id,
                f"I stopped watching after {waited} without a final result; "
                f"the last status was *{last}*.",
                "timeout",
            )

    def _deliver(self, training_id: int, result: TrainingStatus) -> None:
        for watch_id, view in self._active_views(training_id):
            try:
                self.notifier.finish(view, result)
            except Undeliverable as error:
                log.error("Result for watch %d could not be delivered: %s", watch_id, error)
                self._close_watch(watch_id, "undeliverable")
            except Exception:
                # Transient (Slack down, rate limited past retries): the next poll retries.
                log.exception("Result for watch %d not delivered yet; will retry", watch_id)
            else:
                self._close_watch(watch_id, "delivered")
        self._finish_training_if_done(training_id, result.status.value)

    def _end_training(self, training_id: int, reason: str, outcome: str) -> None:
        for watch_id, view in self._active_views(training_id):
            if self._tell(self.notifier.give_up, view, reason):
                self._close_watch(watch_id, "delivered")
        self._finish_training_if_done(training_id, outcome, force=True)

    def _finish_training_if_done(self, training_id: int, outcome: str, force: bool = False) -> None:
        with self.store.session.begin() as session:
            training = session.get(Training, training_id)
            if training is None or training.active_key is None:
                return
            if any(w.ended is None for w in training.watches) and not force:
                return
            for watch in training.watches:
                if watch.ended is None:
                    watch.ended, watch.ended_at = "undeliverable", self.clock()
            training.active_key = None
            training.ended_at = self.clock()
            training.outcome = outcome
        self._unschedule(training_id)

    def _active_views(self, training_id: int) -> list[tuple[int, WatchView]]:
        with self.store.session() as session:
            watches = session.scalars(
                select(Watch).where(Watch.training_id == training_id, Watch.ended.is_(None))
            )
            return [(watch.id, _view(watch)) for watch in watches]

    def _close_watch(self, watch_id: int, how: str) -> None:
        with self.store.session.begin() as session:
            watch = session.get(Watch, watch_id)
            if watch is not None and watch.ended is None:
                watch.ended, watch.ended_at = how, self.clock()

    def _end_watch(self, session: Session, watch: Watch, how: str) -> None:
        watch.ended, watch.ended_at = how, self.clock()
        training = watch.training
        if training.active_key is not None and all(w.ended for w in training.watches):
            training.active_key = None
            training.ended_at = self.clock()
            training.outcome = how
            self._unschedule(training.id)

    # Announcing ------------------------------------------------------------------

    def _announce(self, view: WatchView, status: TrainingStatus) -> WatchView:
        try:
            channel, ts = self.notifier.announce(view, status)
        except Exception:
            with self.store.session.begin() as session:
                watch = session.get(Watch, view.watch_id)
                if watch is not None:
                    self._end_watch(session, watch, "undeliverable")
            raise
        with self.store.session.begin() as session:
            watch = session.get(Watch, view.watch_id)
            assert watch is not None
            watch.thread_channel, watch.thread_ts = channel, ts
            view = _view(watch)
        log.info(
            "Watching %s (%s, %s) for %s in thread %s/%s",
            view.bot_name,
            view.language,
            view.state.value,
            view.channel_id,
            channel,
            ts,
        )
        return view

    def _announce_pending(self, training_id: int) -> None:
        """After a restart: post the message of any watch that crashed before posting it."""
        with self.store.session() as session:
            training = session.get(Training, training_id)
            assert training is not None
            pending = [_view(w) for w in training.watches if w.ended is None and not w.thread_ts]
            status = TrainingStatus(
                status=Status.from_raw(training.last_status or ""),
                raw_status=training.last_status or "in-progress",
                message=training.last_message or "",
                training_id=None,
                modified_on=None,
                modified_by=None,
            )
        for view in pending:
            try:
                self._announce(view, status)
            except Exception:
                log.exception("Could not announce watch %d after restart", view.watch_id)

    def _tell(self, say: Callable[[WatchView, str], None], view: WatchView, what: str) -> bool:
        try:
            say(view, what)
        except Exception:
            log.exception("Could not update watch %d", view.watch_id)
            return False
        return True

    # Scheduling ------------------------------------------------------------------

    def _schedule(self, training_id: int, first: datetime) -> None:
        self.scheduler.add_job(
            self.poll,
            "interval",
            seconds=self.poll_interval,
            args=[training_id],
            id=f"training-{training_id}",
            replace_existing=True,
            next_run_time=first,
        )

    def _unschedule(self, training_id: int) -> None:
        with contextlib.suppress(JobLookupError):
            self.scheduler.remove_job(f"training-{training_id}")


def _view(watch: Watch) -> WatchView:
    training = watch.training
    return WatchView(
        watch_id=watch.id,
        bot_name=training.bot_name,
        bot_id=training.bot_id,
        language=training.language,
        state=State(training.state),
        team_id=watch.team_id,
        channel_id=watch.channel_id,
        thread_channel=watch.thread_channel,
        thread_ts=watch.thread_ts,
        askers=tuple(asker.user_id for asker in watch.askers),
        started_at=training.started_at,
        last_status=training.last_status,
        last_error=training.last_error,
    )


def _duration(seconds: float) -> str:
    minutes = round(seconds / 60)
    if seconds < 90:
        return f"{seconds:g} s"
    if minutes < 90:
        return f"{minutes} min"
    return f"{minutes / 60:.1f} h".replace(".0 h", " h")
