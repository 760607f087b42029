"""The watching engine: polls Kore.ai until watched trainings end, and follows subscriptions.

It knows nothing of Slack: it tells a ``Notifier`` what to say and records what
was said. The database is the queue: a target is due when its ``next_poll_at``
has passed, and a periodic *tick* claims due targets and pending messages. So a
restart resumes everything, and several processes sharing PostgreSQL split the
work (``FOR UPDATE SKIP LOCKED`` claims, leases on watches being posted). Leases
say when a dead process's work is due again (seconds); advisory locks held while a
poll or post runs (``Store.exclusive``) keep a live but slow one from being done
twice at once.

Delivery is at-least-once made exactly-once: the final word is recorded on the
watch before it is posted, the attempt is counted, and a retry after a crash
first asks the notifier whether the message is already there.
"""

from __future__ import annotations

import json
import logging
import random
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import Any, Literal

from apscheduler.schedulers.background import BackgroundScheduler
from sqlalchemy import and_, case, func, or_, select, update
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from korebot.gateway import BudgetExhausted, Fetched, StatusGateway
from korebot.kore import (
    InvalidInput,
    KoreError,
    RateLimited,
    State,
    Status,
    TrainingStatus,
    UnreadableResponse,
)
from korebot.registry import Bot
from korebot.watch.model import (
    LimitReached,
    Notifier,
    Outcome,
    Started,
    SubscriptionView,
    Undeliverable,
    WatchRequest,
    WatchView,
)
from korebot.watch.store import (
    POLLING,
    POSTING,
    Asker,
    Store,
    Subscription,
    Target,
    Watch,
    get_or_insert,
    insert_missing,
    now,
)

log = logging.getLogger(__name__)

#: Posts of one watch that may fail (backing off up to 5 min apart, about 2 h in all)
#: before its message is given up as undeliverable.
MAX_DELIVERY_ATTEMPTS = 30


@dataclass
class _Claim:
    """A watch this process may post for now, as it was when its lease was taken."""

    view: WatchView
    outcome: Outcome | None
    #: Attempts before this one: non-zero means a post may already be there (look first).
    announce_attempts: int
    outcome_attempts: int
    last_status: str | None
    #: Set once the watch is closed, which also releases its lease.
    closed: bool = False


def poll_interval(
    running_for: float,
    first: float,
    ceiling: float,
    jitter: Callable[[], float] = lambda: random.uniform(0.9, 1.0),  # noqa: S311
) -> float:
    """Seconds to the next poll of a training running for ``running_for`` seconds.

    ``first`` at first (a training is often short), doubling after every ten
    intervals up to ``ceiling``; jitter (up to 10 % shorter) keeps many watches from
    polling in step. A result is still seen within one current interval.
    """
    steps = min(int(running_for / (10 * first)), 16)
    return min(first * float(2**steps), ceiling) * jitter()


def target_key(host: str, bot_id: str, language: str, state: str) -> str:
    return f"{host}|{bot_id}|{language}|{state}"


class WatchEngine:
    def __init__(
        self,
        store: Store,
        gateway: StatusGateway,
        notifier: Notifier,
        *,
        poll_interval: float,
        watch_timeout: float,
        max_poll_interval: float | None = None,
        subscription_interval: float = 60.0,
        clock: Callable[[], datetime] = now,
        workers: int = 8,
        posters: int = 8,
        delivery_lease: float = 30.0,
        max_watches_per_channel: int = 20,
        max_watches_per_workspace: int = 500,
    ) -> None:
        self.store = store
        self.gateway = gateway
        self.notifier = notifier
        self.poll_interval = poll_interval
        self.max_poll_interval = max(max_poll_interval or poll_interval * 4, poll_interval)
        self.watch_timeout = watch_timeout
        self.subscription_interval = subscription_interval
        # How soon another process takes over a poll whose process died: seconds, whatever
        # the interval. A poll that outlives it is not done twice: `poll` skips a target
        # a live process is polling (Store.exclusive).
        self.poll_lease = timedelta(seconds=5.0)
        # How long a process may hold a watch while posting for it; after a crash, how
        # soon its message is retried (after checking Slack for it).
        self.delivery_lease = timedelta(seconds=delivery_lease)
        self.max_watches_per_channel = max_watches_per_channel
        self.max_watches_per_workspace = max_watches_per_workspace
        self.clock = clock
        self.scheduler = BackgroundScheduler(
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
        )
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="korebot-poll")
        # Posts have their own pool: one ending fans out to every watching channel at once
        # (Slack's limit is per channel), and a slow Slack does not hold up the polls.
        self._posts = ThreadPoolExecutor(max_workers=posters, thread_name_prefix="korebot-post")
        self._stopping = threading.Event()
        # Watches this process has queued or is posting for. A post can outlast its lease
        # (slack_sdk's retries, Retry-After): this process must not post it alongside.
        self._posting: dict[int, Future[None] | None] = {}
        self._posting_lock = threading.Lock()

    @property
    def running(self) -> bool:
        return bool(self.scheduler.running) and not self._stopping.is_set()

    def start(self) -> None:
        """Start ticking; unfinished work in the database is picked up by the first tick."""
        tick = min(self.poll_interval, 1.0)
        self.scheduler.add_job(
            self.tick, "interval", seconds=tick, id="tick", next_run_time=self.clock()
        )
        self.scheduler.start()

    def shutdown(self) -> None:
        """Stop ticking and let polls and posts in flight finish."""
        self._stopping.set()
        if self.scheduler.running:
            self.scheduler.shutdown(wait=True)
        self._pool.shutdown(wait=True, cancel_futures=True)
        # Queued posts stay owed in the database: the next process makes them.
        self._posts.shutdown(wait=True, cancel_futures=True)

    def drain(self) -> None:
        """Wait for the posts queued so far (for tests: the tick does not wait for them)."""
        with self._posting_lock:
            queued = [job for job in self._posting.values() if job is not None]
        wait(queued)

    # Commands ---------------------------------------------------------------------

    def watch(self, request: WatchRequest, status: TrainingStatus) -> Started:
        """Watch a training for a channel, or add the asker to the channel's existing watch."""
        bot, moment = request.bot, self.clock()
        with self.store.session.begin() as session:
            target = self._target(session, bot, request.language, request.state)
            if target.last_checked_at is None:
                _observe_status(target, status, moment)
            active = select(Watch).filter_by(active_key=_active_key(target.id, request.channel_id))
            watch = session.scalars(active).first()
            created = False
            if watch is None:
                self._check_limits(session, request.team_id, request.channel_id)
                # False if a concurrent ask created it since the select: then this one joins it.
                created = self._new_watch(
                    session,
                    target,
                    request.team_id,
                    request.channel_id,
                    "ask",
                    moment,
                    lease_until=moment + self.delivery_lease,
                    announce_attempts=1,
                )
                watch = session.scalars(active).one()
            insert_missing(session, Asker, {"watch_id": watch.id, "user_id": request.user_id})
            self._schedule(target, moment)
            session.flush()
            view = _view(watch)
        if not created:
            return Started(view, True)
        return Started(self._post_announcement(view, status), False)

    def watched_status(self, bot: Bot, language: str, state: State) -> Fetched | None:
        """The last poll's answer while the training runs and its next poll is on time.

        A watch posts a change within one interval, so asking Kore.ai in between would
        tell nothing more and spend the bot's budget: asks ride on the polls, and many
        channels asking about one training cost no more calls than one. A poll just due
        (waiting for the tick, or under way) still counts as on time. None otherwise.
        """
        key = target_key(bot.host, bot.bot_id, language, state.value)
        moment = self.clock()
        with self.store.session() as session:
            target = session.scalars(select(Target).where(Target.key == key)).first()
        if (
            target is None
            or target.next_poll_at is None
            or moment > target.next_poll_at + self.poll_lease
            or target.last_status != Status.IN_PROGRESS.value
            or target.failing_since is not None
            or target.last_result is None
            or target.last_checked_at is None
        ):
            return None
        status = TrainingStatus.from_json(json.loads(target.last_result))
        return Fetched(status, (moment - target.last_checked_at).total_seconds())

    def _check_limits(self, session: Session, team_id: str, channel_id: str) -> None:
        for column, value, limit, where in (
            (Watch.channel_id, channel_id, self.max_watches_per_channel, "this channel"),
            (Watch.team_id, team_id, self.max_watches_per_workspace, "this workspace"),
        ):
            active = session.scalar(
                select(func.count(Watch.id)).where(column == value, Watch.ended.is_(None))
            )
            if (active or 0) >= limit:
                raise LimitReached(
                    f"{where.capitalize()} already has {limit} active watches, the most I keep. "
                    "Stop one with `/faq-status stop BOT LANG` (see `/faq-status list`)."
                )

    def stop(
        self, channel_id: str, bot: Bot, language: str, state: State, user_id: str
    ) -> WatchView | None:
        """Stop the channel's watch of this training; None if there was none."""
        key = target_key(bot.host, bot.bot_id, language, state.value)
        with self.store.session() as session:
            watch_id = session.scalars(
                select(Watch.id)
                .join(Target)
                .where(Target.key == key, Watch.channel_id == channel_id, Watch.ended.is_(None))
            ).first()
        return None if watch_id is None else self.stop_by_id(watch_id, channel_id, user_id)

    def stop_by_id(self, watch_id: int, channel_id: str, user_id: str) -> WatchView | None:
        """Stop a watch by ID (the button), only from the channel it belongs to."""
        with self.store.session.begin() as session:
            watch = session.get(Watch, watch_id)
            if watch is None or watch.ended is not None or watch.outcome is not None:
                return None
            if channel_id not in (watch.channel_id, watch.thread_channel):
                return None
            _end(watch, "stopped", self.clock())
            view = _view(watch)
        self._quietly(partial(self.notifier.stopped, view, user_id), view)
        return view

    def watches_in(self, channel_id: str) -> list[WatchView]:
        with self.store.session() as session:
            watches = session.scalars(
                select(Watch)
                .where(Watch.channel_id == channel_id, Watch.ended.is_(None))
                .order_by(Watch.id)
            )
            return [_view(watch) for watch in watches]

    def subscribe(
        self, team_id: str, channel_id: str, user_id: str, bot: Bot, language: str, state: State
    ) -> tuple[SubscriptionView, Literal["created", "resumed", "already"]]:
        moment = self.clock()
        with self.store.session.begin() as session:
            target = self._target(session, bot, language, state)
            sub, created = get_or_insert(
                session,
                Subscription,
                {"target_id": target.id, "channel_id": channel_id},
                team_id=team_id,
                created_by=user_id,
                created_at=moment,
            )
            if created:
                how: Literal["created", "resumed", "already"] = "created"
            elif sub.paused is not None:
                sub.paused, sub.armed, how = None, False, "resumed"
            else:
                how = "already"
            if not sub.armed and (target.next_poll_at is None or target.next_poll_at > moment):
                target.next_poll_at = moment  # the first poll records the current state
            session.flush()
            return _sub_view(sub), how

    def unsubscribe(
        self, channel_id: str, bot: Bot, language: str, state: State, user_id: str
    ) -> SubscriptionView | None:
        key = target_key(bot.host, bot.bot_id, language, state.value)
        with self.store.session.begin() as session:
            sub = session.scalars(
                select(Subscription)
                .join(Target)
                .where(Target.key == key, Subscription.channel_id == channel_id)
            ).first()
            if sub is None:
                return None
            view = _sub_view(sub)
            session.delete(sub)
            stopped = [
                _view(w)
                for w in session.scalars(
                    select(Watch).where(
                        Watch.target_id == sub.target_id,
                        Watch.channel_id == channel_id,
                        Watch.via == "subscription",
                        Watch.ended.is_(None),
                        Watch.outcome.is_(None),
                    )
                )
            ]
            for watch_view in stopped:
                _end(session.get_one(Watch, watch_view.watch_id), "stopped", self.clock())
            # If nothing else follows the target, stop polling now, not after one more poll.
            self._schedule(session.get_one(Target, sub.target_id), self.clock())
        for watch_view in stopped:
            self._quietly(partial(self.notifier.stopped, watch_view, user_id), watch_view)
        return view

    def subscriptions_in(self, channel_id: str) -> list[SubscriptionView]:
        with self.store.session() as session:
            subs = session.scalars(
                select(Subscription)
                .where(Subscription.channel_id == channel_id)
                .order_by(Subscription.id)
            )
            return [_sub_view(sub) for sub in subs]

    def active_count(self) -> int:
        """Targets being polled (one per watched or subscribed training)."""
        with self.store.session() as session:
            return len(
                session.scalars(select(Target.id).where(Target.next_poll_at.is_not(None))).all()
            )

    # The tick ---------------------------------------------------------------------

    def tick(self) -> None:
        """Claim due polls and pending messages, and run them on the worker pool."""
        if self._stopping.is_set():
            return
        try:
            targets = self._claim_due_targets()
            pending = self._pending_watches()
        except OperationalError as error:
            log.warning("Database unavailable, will retry: %s", error.orig)
            return
        for watch_id in pending:
            self._queue(watch_id)
        jobs = [self._pool.submit(self._guarded, self.poll, t) for t in targets]
        for job in jobs:
            job.result()

    def _guarded(self, work: Callable[[int], None], item: int) -> None:
        try:
            work(item)
        except OperationalError as error:
            log.warning("Database unavailable during %s(%d): %s", work.__name__, item, error.orig)
        except Exception:
            log.exception("%s(%d) failed; it will be retried", work.__name__, item)

    def _claim_due_targets(self, batch: int = 100) -> list[int]:
        moment = self.clock()
        with self.store.session.begin() as session:
            due = session.scalars(
                select(Target)
                .where(Target.next_poll_at <= moment)
                .order_by(Target.next_poll_at)
                .limit(batch)
                .with_for_update(skip_locked=True)
            ).all()
            for target in due:
                # A lease: if this process dies mid-poll, another process polls after it.
                target.next_poll_at = moment + self.poll_lease
            return [target.id for target in due]

    def _pending_watches(self) -> list[int]:
        """Watches with an unposted message whose lease has expired (or was never taken)."""
        moment = self.clock()
        with self.store.session() as session:
            return list(
                session.scalars(
                    select(Watch.id).where(
                        Watch.ended.is_(None),
                        or_(Watch.outcome.is_not(None), Watch.thread_ts.is_(None)),
                        or_(Watch.lease_until.is_(None), Watch.lease_until < moment),
                    )
                )
            )

    # Polling ----------------------------------------------------------------------

    def poll(self, target_id: int) -> None:
        """Ask Kore.ai about one target and act on the answer, unless a live process is.

        The claim's lease only says when a dead process's poll is due again; a poll
        that outlives it (Kore.ai slow, retries) must not be done alongside.
        """
        with self.store.exclusive(POLLING, target_id) as mine:
            if mine:
                self._poll(target_id)

    def _poll(self, target_id: int) -> None:
        with self.store.session() as session:
            target = session.get(Target, target_id)
            if target is None:
                return
            name, language, state = target.bot_name, target.language, State(target.state)
        try:
            bot = self.gateway.registry.resolve(name, allow_raw_id=True)
            result = self.gateway.status(bot, language, state, "poll").status
        except BudgetExhausted as error:
            self._defer(target_id, error.retry_after)
        except InvalidInput as error:
            self._failed(target_id, f"the bot is no longer configured ({error})", permanent=True)
        except KoreError as error:
            # A body Kore.ai should not send (an HTML error page, an odd shape) is a passing
            # fault for a watch: it keeps trying, until its deadline at worst.
            passing = error.transient or isinstance(error, UnreadableResponse)
            wait = error.retry_after if isinstance(error, RateLimited) else None
            self._failed(target_id, str(error), permanent=not passing, retry_after=wait)
        else:
            self._observed(target_id, result)

    def _defer(self, target_id: int, seconds: float) -> None:
        """The bot's rate budget is spent: poll again when it allows."""
        with self.store.session.begin() as session:
            target = session.get_one(Target, target_id)
            target.next_poll_at = self.clock() + timedelta(seconds=seconds)

    def _observed(self, target_id: int, result: TrainingStatus) -> None:
        moment = self.clock()
        with self.store.session.begin() as session:
            target = session.get_one(Target, target_id)
            recovered = target.failing_since is not None
            event = _observe_status(target, result, moment)
            # Most polls change no watch: load only those that end now (or all of them, to
            # tell them Kore.ai is back), not a popular training's thousands every time.
            everyone = result.status.is_final or recovered
            watches = _active_watches(session, target_id, None if everyone else moment)
            for watch in watches:
                if result.status.is_final:
                    watch.outcome = Outcome(result=result).dumps()
                elif watch.deadline <= moment:
                    watch.outcome = Outcome(reason=self._timeout_reason(result)).dumps()
            subscriptions = _live_subscriptions(session, target_id)
            # Channels with any unfinished watch, including one whose result is still being
            # posted: a second active watch there would break the one-per-channel rule.
            watching: set[str] = set()
            if event != "same" and subscriptions:
                watching = set(
                    session.scalars(
                        select(Watch.channel_id).where(
                            Watch.target_id == target_id, Watch.ended.is_(None)
                        )
                    )
                )
            for sub in subscriptions:
                if not sub.armed:
                    sub.armed = True  # the first poll only records the current state
                elif event != "same" and sub.channel_id not in watching:
                    # Skipped if an ask created the channel's watch since `watching` was read.
                    self._new_watch(
                        session,
                        target,
                        sub.team_id,
                        sub.channel_id,
                        "subscription",
                        moment,
                        outcome=Outcome(result=result).dumps() if result.status.is_final else None,
                    )
            self._schedule(target, moment, polled=True)
            back = [_view(w) for w in watches if w.outcome is None] if recovered else []
        for view in back:
            self._quietly(partial(self.notifier.unreachable, view, None, ""), view)
        for watch_id in self._pending_for(target_id):
            self._queue(watch_id)

    def _failed(
        self, target_id: int, error: str, *, permanent: bool, retry_after: float | None = None
    ) -> None:
        moment = self.clock()
        with self.store.session.begin() as session:
            target = session.get_one(Target, target_id)
            target.last_error, target.last_checked_at = error, moment
            newly_failing = target.failing_since is None
            if newly_failing:
                target.failing_since = moment
            everyone = permanent or newly_failing
            watches = _active_watches(session, target_id, None if everyone else moment)
            paused: list[SubscriptionView] = []
            if permanent:
                log.error(
                    "Watching %s (%s) failed for good: %s", target.bot_name, target.language, error
                )
                for watch in watches:
                    watch.outcome = Outcome(reason=f"Kore.ai answered: {error}").dumps()
                for sub in _live_subscriptions(session, target_id):
                    sub.paused = error
                    paused.append(_sub_view(sub))
            else:
                log.warning("Could not poll %s (%s): %s", target.bot_name, target.language, error)
                for watch in watches:
                    if watch.deadline <= moment:
                        reason = self._timeout_reason(None, target.last_status, error)
                        watch.outcome = Outcome(reason=reason).dumps()
            self._schedule(target, moment, polled=True)
            if retry_after and target.next_poll_at is not None:
                # Kore.ai said when to ask again (Retry-After): not sooner.
                later = moment + timedelta(seconds=retry_after)
                target.next_poll_at = max(target.next_poll_at, later)
            since = target.failing_since
            failing = [_view(w) for w in watches if w.outcome is None] if newly_failing else []
        for view in failing:
            self._quietly(partial(self.notifier.unreachable, view, since, error), view)
        for sub_view in paused:
            try:
                self.notifier.paused(sub_view, error)
            except Exception:
                log.exception(
                    "Could not tell %s that its subscription is paused", sub_view.channel_id
                )
        for watch_id in self._pending_for(target_id):
            self._queue(watch_id)

    def _timeout_reason(
        self, result: TrainingStatus | None, last: str | None = None, error: str | None = None
    ) -> str:
        seen = result.raw_status if result else (last or "unknown")
        reason = (
            f"I stopped watching after {_duration(self.watch_timeout)} without a final "
            f"result; the last status was *{seen}*."
        )
        return reason + (f" Kore.ai is failing: {error}" if error else "")

    def _interval(self, target: Target, moment: datetime, *, watched: bool) -> float:
        if target.running_since is None and not watched:
            return self.subscription_interval
        running_for = (moment - (target.running_since or moment)).total_seconds()
        return poll_interval(running_for, self.poll_interval, self.max_poll_interval)

    def _schedule(self, target: Target, moment: datetime, *, polled: bool = False) -> None:
        """Set when the target is next due, or None when nothing needs it any more.

        Right after a poll, one interval from now: that replaces the claim's short lease.
        Otherwise only ever sooner, so that a new watch cannot postpone a due poll.
        """
        session = Session.object_session(target)
        assert session is not None
        session.flush()
        active = (
            session.scalars(
                select(Watch.id).where(
                    Watch.target_id == target.id, Watch.ended.is_(None), Watch.outcome.is_(None)
                )
            ).first()
            is not None
        )
        subscribed = (
            session.scalars(
                select(Subscription.id).where(
                    Subscription.target_id == target.id, Subscription.paused.is_(None)
                )
            ).first()
            is not None
        )
        if not (active or subscribed):
            target.next_poll_at = None
            return
        due = moment + timedelta(seconds=self._interval(target, moment, watched=active))
        if polled or target.next_poll_at is None or target.next_poll_at > due:
            target.next_poll_at = due

    # Delivery ---------------------------------------------------------------------

    def _pending_for(self, target_id: int) -> list[int]:
        with self.store.session() as session:
            return list(
                session.scalars(
                    select(Watch.id).where(
                        Watch.target_id == target_id,
                        Watch.ended.is_(None),
                        or_(Watch.outcome.is_not(None), Watch.thread_ts.is_(None)),
                    )
                )
            )

    def _queue(self, watch_id: int) -> None:
        """Have a watch's posts made on the posting pool, unless this process has them."""
        with self._posting_lock:
            if watch_id in self._posting:
                return
            self._posting[watch_id] = self._posts.submit(self._deliver_queued, watch_id)

    def _deliver_queued(self, watch_id: int) -> None:
        try:
            self._guarded(self.deliver, watch_id)
        finally:
            self._unmark(watch_id)

    def deliver(self, watch_id: int) -> None:
        """Post whatever a watch still owes: its message, then its outcome."""
        with self._lease(watch_id) as claim:
            if claim is None:
                return
            view, outcome = claim.view, claim.outcome
            if view.thread_ts is None and outcome is None:
                status = TrainingStatus.placeholder(claim.last_status)
                found = self.notifier.find_announcement(view) if claim.announce_attempts else None
                where = found or self.notifier.announce(view, status)
                self._record_thread(watch_id, where)
                return
            if outcome is None:
                return
            if view.thread_ts is None and claim.announce_attempts:
                found = self.notifier.find_announcement(view)
                if found:
                    view = self._record_thread(watch_id, found)
            posted = bool(claim.outcome_attempts) and self.notifier.find_outcome(view)
            self.notifier.finish(view, outcome, posted=posted)
            self._close(watch_id, "delivered")
            claim.closed = True

    @contextmanager
    def _lease(self, watch_id: int) -> Iterator[_Claim | None]:
        """The watch's delivery lease (this process has marked it as its own)."""
        with self.store.exclusive(POSTING, watch_id) as mine:
            if not mine:  # another process is posting it (and outlived the lease)
                yield None
                return
            with self._db_lease(watch_id) as claimed:
                yield claimed

    def _mark(self, watch_id: int) -> bool:
        with self._posting_lock:
            if watch_id in self._posting:
                return False
            self._posting[watch_id] = None
            return True

    def _unmark(self, watch_id: int) -> None:
        with self._posting_lock:
            self._posting.pop(watch_id, None)

    @contextmanager
    def _db_lease(self, watch_id: int) -> Iterator[_Claim | None]:
        moment = self.clock()
        owes_outcome = Watch.outcome.is_not(None)
        owes_announcement = and_(Watch.outcome.is_(None), Watch.thread_ts.is_(None))
        with self.store.session.begin() as session:
            taken = session.execute(
                update(Watch)
                .where(
                    Watch.id == watch_id,
                    Watch.ended.is_(None),
                    or_(Watch.lease_until.is_(None), Watch.lease_until < moment),
                )
                .values(
                    lease_until=moment + self.delivery_lease,
                    # The attempt is counted before the post: after a crash, it says "look".
                    announce_attempts=Watch.announce_attempts
                    + case((owes_announcement, 1), else_=0),
                    outcome_attempts=Watch.outcome_attempts + case((owes_outcome, 1), else_=0),
                )
                .execution_options(synchronize_session=False)
            ).rowcount  # type: ignore[attr-defined]
            if taken:  # read in the same transaction: what was owed is what was counted
                watch = session.get_one(Watch, watch_id)
                outcome = Outcome.loads(watch.outcome) if watch.outcome else None
                announcing = outcome is None and watch.thread_ts is None
                claim = _Claim(
                    _view(watch),
                    outcome,
                    watch.announce_attempts - announcing,
                    watch.outcome_attempts - (outcome is not None),
                    watch.target.last_status,
                )
        if not taken:
            yield None
            return
        retry_in: float | None = None
        try:
            attempts = claim.announce_attempts + claim.outcome_attempts
            if attempts >= MAX_DELIVERY_ATTEMPTS:
                self._undeliverable(
                    watch_id, Undeliverable(f"gave up after {attempts} attempts", "user")
                )
                yield None
                return
            try:
                yield claim
            except Undeliverable as error:
                self._undeliverable(watch_id, error)
            except Exception:
                # Slack is failing: back off (2, 4, … 300 s) instead of retrying every tick.
                retry_in = min(2.0 ** max(attempts, 1), 300.0)
                raise
        finally:
            if not claim.closed:  # closing released it already
                release = None if retry_in is None else self.clock() + timedelta(seconds=retry_in)
                with self.store.session.begin() as session:
                    session.execute(
                        update(Watch).where(Watch.id == watch_id).values(lease_until=release)
                    )

    def _post_announcement(self, view: WatchView, status: TrainingStatus) -> WatchView:
        """Post a new watch's message right away (the asker is waiting), holding its lease."""
        self._mark(view.watch_id)
        # Held, like the lease, for as long as the post takes (which may outlast the lease);
        # nobody else can hold it yet: the watch was created a moment ago.
        with self.store.exclusive(POSTING, view.watch_id):
            try:
                try:
                    where = self.notifier.announce(view, status)
                except Exception:
                    with self.store.session.begin() as session:
                        watch = session.get_one(Watch, view.watch_id)
                        _end(watch, "undeliverable", self.clock())
                    raise
                return self._record_thread(view.watch_id, where, release=True)
            finally:
                self._unmark(view.watch_id)

    def _record_thread(
        self, watch_id: int, where: tuple[str, str], *, release: bool = False
    ) -> WatchView:
        channel, ts = where
        with self.store.session.begin() as session:
            watch = session.get_one(Watch, watch_id)
            watch.thread_channel, watch.thread_ts = channel, ts
            if release:
                watch.lease_until = None
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

    def _close(self, watch_id: int, how: str) -> None:
        # The target was rescheduled when the outcome was recorded: only the watch changes.
        with self.store.session.begin() as session:
            session.execute(
                update(Watch)
                .where(Watch.id == watch_id, Watch.ended.is_(None))
                .values(ended=how, ended_at=self.clock(), active_key=None, lease_until=None)
            )

    def _undeliverable(self, watch_id: int, error: Undeliverable) -> None:
        moment = self.clock()
        with self.store.session.begin() as session:
            watch = session.get_one(Watch, watch_id)
            team, channel = watch.team_id, watch.channel_id
            _end(watch, "undeliverable", moment)
            if error.scope == "workspace":
                for other in session.scalars(
                    select(Watch).where(Watch.team_id == team, Watch.ended.is_(None))
                ):
                    _end(other, "undeliverable", moment)
                subscriptions = select(Subscription).where(Subscription.team_id == team)
                for sub in session.scalars(subscriptions):
                    sub.paused = f"Slack refused the app's token ({error.code})"
            elif error.scope == "channel":
                for sub in session.scalars(
                    select(Subscription).where(Subscription.channel_id == channel)
                ):
                    session.delete(sub)
            self._schedule(watch.target, moment)
        # Logged once it is recorded: what the log says is what the database holds.
        if error.scope == "workspace":
            log.error(
                "Slack refused the token of workspace %s (%s); stopped its watches "
                "and subscriptions",
                team,
                error.code,
            )
        elif error.scope == "channel":
            log.warning("Cannot post in %s (%s); dropped its subscriptions", channel, error.code)
        else:
            log.error("Watch %d could not be delivered to anyone: %s", watch_id, error.code)

    def _quietly(self, say: Callable[[], None], view: WatchView) -> None:
        try:
            say()
        except Exception:
            log.exception("Could not update the message of watch %d", view.watch_id)

    # Rows ------------------------------------------------------------------------

    # Get-or-creates are INSERT … ON CONFLICT DO NOTHING (store.insert_missing): concurrent
    # commands and polls creating the same row neither fail nor create it twice.

    def _target(self, session: Session, bot: Bot, language: str, state: State) -> Target:
        key = target_key(bot.host, bot.bot_id, language, state.value)
        target, _ = get_or_insert(
            session,
            Target,
            {"key": key},
            host=bot.host,
            bot_id=bot.bot_id,
            bot_name=bot.name,
            language=language,
            state=state.value,
        )
        return target

    def _new_watch(
        self,
        session: Session,
        target: Target,
        team_id: str,
        channel_id: str,
        via: str,
        moment: datetime,
        **values: Any,
    ) -> bool:
        """Create the channel's active watch of the target; False if it has one already."""
        return insert_missing(
            session,
            Watch,
            {"active_key": _active_key(target.id, channel_id)},
            target_id=target.id,
            via=via,
            team_id=team_id,
            channel_id=channel_id,
            created_at=moment,
            deadline=moment + timedelta(seconds=self.watch_timeout),
            **values,
        )


def _observe_status(
    target: Target, result: TrainingStatus, moment: datetime
) -> Literal["started", "ended", "ran", "same"]:
    """Record a status on the target and say what happened since the previous one.

    A run is recognised by its status and ``modifiedOn``: in progress after a final
    status is a start; final after in progress is an end; final with a new
    ``modifiedOn`` after final is a whole run that fell between two polls.
    """
    run = result.modified_on.isoformat() if result.modified_on else result.training_id
    before, before_run = target.last_status, target.last_run
    running = result.status is Status.IN_PROGRESS
    was_running = before == Status.IN_PROGRESS.value
    event: Literal["started", "ended", "ran", "same"] = "same"
    if before is not None:
        if running and not was_running:
            event = "started"
        elif result.status.is_final and was_running:
            event = "ended"
        elif result.status.is_final and run != before_run:
            event = "ran"
    target.last_status, target.last_result = result.raw_status, json.dumps(result.as_json())
    target.last_run, target.last_checked_at = run, moment
    target.last_error, target.failing_since = None, None
    if running:
        target.running_since = target.running_since if was_running else moment
    else:
        target.running_since = None
    return event


def _active_key(target_id: int, channel_id: str) -> str:
    return f"{target_id}|{channel_id}"


def _active_watches(
    session: Session, target_id: int, due_by: datetime | None = None
) -> list[Watch]:
    """Watches still waiting for their outcome (only those past their deadline by ``due_by``)."""
    query = select(Watch).where(
        Watch.target_id == target_id, Watch.ended.is_(None), Watch.outcome.is_(None)
    )
    if due_by is not None:
        query = query.where(Watch.deadline <= due_by)
    return list(session.scalars(query))


def _live_subscriptions(session: Session, target_id: int) -> list[Subscription]:
    return list(
        session.scalars(
            select(Subscription).where(
                Subscription.target_id == target_id, Subscription.paused.is_(None)
            )
        )
    )


def _end(watch: Watch, how: str, moment: datetime) -> None:
    watch.ended, watch.ended_at, watch.active_key = how, moment, None


def _view(watch: Watch) -> WatchView:
    target = watch.target
    return WatchView(
        watch_id=watch.id,
        via=watch.via,
        bot_name=target.bot_name,
        bot_id=target.bot_id,
        language=target.language,
        state=State(target.state),
        team_id=watch.team_id,
        channel_id=watch.channel_id,
        thread_channel=watch.thread_channel,
        thread_ts=watch.thread_ts,
        askers=tuple(asker.user_id for asker in watch.askers),
        started_at=watch.created_at,
        last_status=target.last_status,
        failing_since=target.failing_since,
    )


def _sub_view(sub: Subscription) -> SubscriptionView:
    target = sub.target
    return SubscriptionView(
        subscription_id=sub.id,
        bot_name=target.bot_name,
        bot_id=target.bot_id,
        language=target.language,
        state=State(target.state),
        team_id=sub.team_id,
        channel_id=sub.channel_id,
        paused=sub.paused,
        last_status=target.last_status,
    )


def _duration(seconds: float) -> str:
    minutes = round(seconds / 60)
    if seconds < 90:
        return f"{seconds:g} s"
    if minutes < 90:
        return f"{minutes} min"
    return f"{minutes / 60:.1f} h".replace(".0 h", " h")
