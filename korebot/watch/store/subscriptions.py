"""``korebot_subscriptions``: channels that hear of every run of a training, unasked.

``Subscriptions`` answers the contract's port of that name (korebot.watch.store.abc).
Subscribing while a run is in progress (as the polls know it) arms the subscription at
once: the channel gets that run's result too; unsubscribing stops the subscription's
own watches, not those someone also asked for. The functions below are what the other
tables' transactions do to subscriptions: a poll's news (``heard``), a bot failing for
good (``pause``), Slack refusing a workspace or a channel (``refused``).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from korebot.errors import Undeliverable
from korebot.kore import Kind, State
from korebot.registry import JobKey
from korebot.watch.store import abc, targets, watches
from korebot.watch.store.database import Database
from korebot.watch.store.tables import Subscription, Target, Watch, get_or_insert
from korebot.watch.types import Ended, RunEvent, Subscribed, SubscriptionView, Via, WatchView


def view(sub: Subscription) -> SubscriptionView:
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
        kind=Kind(target.kind),
        subject=target.subject,
    )


def heard(
    session: Session,
    policy: abc.Policy,
    target: Target,
    event: RunEvent,
    outcome: str | None,
    moment: datetime,
) -> None:
    """A poll's news for the target's live subscriptions: the first poll after subscribing
    arms one; a run's start or end gives each channel a watch (with ``outcome`` when the
    run ended), unless the channel already has one."""
    live = list(
        session.scalars(
            select(Subscription).where(
                Subscription.target_id == target.id, Subscription.paused.is_(None)
            )
        )
    )
    # Channels with any unfinished watch, including one whose result is still being
    # posted: a second active watch there would break the one-per-channel rule.
    watching: set[str] = set()
    if event is not RunEvent.SAME and live:
        watching = set(
            session.scalars(
                select(Watch.channel_id).where(Watch.target_id == target.id, Watch.active)
            )
        )
    for sub in live:
        if not sub.armed:
            _arm(session, policy, target, sub, moment)
        elif event is not RunEvent.SAME and sub.channel_id not in watching:
            _follow(session, policy, target, sub, moment, outcome)


def _arm(
    session: Session, policy: abc.Policy, target: Target, sub: Subscription, moment: datetime
) -> None:
    """Start a subscription from the target's current state.

    A run that ended before is not news; one in progress gets the channel's watch, so that
    its end is reported as that of a run the subscription saw start.
    """
    sub.armed = True
    if targets.was_running(target):
        _follow(session, policy, target, sub, moment)


def _follow(
    session: Session,
    policy: abc.Policy,
    target: Target,
    sub: Subscription,
    moment: datetime,
    outcome: str | None = None,
) -> None:
    """The subscribed channel's watch of the target's run, unless the channel has one."""
    watches.insert(
        session,
        policy,
        target,
        sub.team_id,
        sub.channel_id,
        Via.SUBSCRIPTION,
        moment,
        outcome=outcome,
    )


def pause(session: Session, target: Target, error: str) -> list[SubscriptionView]:
    """Pause the target's live subscriptions (the bot fails for good); those paused now."""
    paused = []
    for sub in session.scalars(
        select(Subscription).where(
            Subscription.target_id == target.id, Subscription.paused.is_(None)
        )
    ):
        sub.paused = error
        paused.append(view(sub))
    return paused


def refused(session: Session, team_id: str, channel_id: str, error: Undeliverable) -> None:
    """What Slack's refusal (``error.scope``) costs subscriptions: the workspace's pause,
    or the channel's are deleted."""
    if error.scope == "workspace":
        for sub in session.scalars(select(Subscription).where(Subscription.team_id == team_id)):
            sub.paused = f"Slack refused the app's token ({error.code})"
    elif error.scope == "channel":
        for sub in session.scalars(
            select(Subscription).where(Subscription.channel_id == channel_id)
        ):
            session.delete(sub)


class Subscriptions(abc.Subscriptions):
    def __init__(self, db: Database) -> None:
        self.db = db

    def subscribe(
        self, team_id: str, channel_id: str, user_id: str, key: JobKey, bot_name: str
    ) -> tuple[SubscriptionView, Subscribed]:
        policy = self.db.policy
        moment = policy.clock()
        with self.db.begin() as session:
            target = targets.target_for(session, key, bot_name)
            sub, created = get_or_insert(
                session,
                Subscription,
                {"target_id": target.id, "channel_id": channel_id},
                team_id=team_id,
                created_by=user_id,
                created_at=moment,
            )
            if created:
                how = Subscribed.CREATED
            elif sub.paused is not None:
                sub.paused, sub.armed, how = None, False, Subscribed.RESUMED
            else:
                how = Subscribed.ALREADY
            running = False
            if not sub.armed:
                session.flush()
                # As the polls know it, not while one records an answer (it locks the row).
                session.refresh(target, with_for_update={"key_share": True})
                running = targets.running_now(policy, target, moment)
                if running:  # the channel gets this run's result too
                    _arm(session, policy, target, sub, moment)
                    targets.schedule(session, policy, target, moment)
                elif target.next_poll_at is None or target.next_poll_at > moment:
                    target.next_poll_at = moment  # the first poll records the current state
            session.flush()
            return replace(view(sub), running=running), how

    def unsubscribe(
        self, channel_id: str, key: JobKey
    ) -> tuple[SubscriptionView, list[WatchView]] | None:
        moment = self.db.policy.clock()
        with self.db.begin() as session:
            sub = session.scalars(
                select(Subscription)
                .join(Target)
                .where(Target.key == str(key), Subscription.channel_id == channel_id)
            ).first()
            if sub is None:
                return None
            found = view(sub)
            session.delete(sub)
            stopped = list(
                session.scalars(
                    select(Watch).where(
                        Watch.target_id == sub.target_id,
                        Watch.channel_id == channel_id,
                        Watch.via == Via.SUBSCRIPTION.value,
                        Watch.waiting,
                        # Someone also asked for it (and is mentioned in its result): it goes on.
                        ~Watch.askers.any(),
                    )
                )
            )
            for watch in stopped:
                watch.end(Ended.STOPPED, moment)
            # If nothing else follows the target, stop polling now, not after one more poll.
            target = session.get_one(Target, sub.target_id)
            targets.schedule(session, self.db.policy, target, moment)
            return found, [watches.view(watch) for watch in stopped]

    def subscriptions_in(self, channel_id: str) -> list[SubscriptionView]:
        with self.db.begin() as session:
            subs = session.scalars(
                select(Subscription)
                .where(Subscription.channel_id == channel_id)
                .order_by(Subscription.id)
            )
            return [view(sub) for sub in subs]
