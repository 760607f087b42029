"""The store's subscription transactions: subscribe, unsubscribe, a channel's list.

``SubscriptionLog`` is the part of ``korebot.watch.store.Store`` that answers the
contract's subscription methods (korebot.watch.contract). Subscribing while a run is in
progress (as the polls know it) arms the subscription at once: the channel gets that
run's result too; unsubscribing stops the subscription's own watches, not those someone
also asked for.
"""

from __future__ import annotations

from dataclasses import replace

from sqlalchemy import select

from korebot.registry import TrainingKey
from korebot.watch import observations
from korebot.watch.model import Ended, Subscribed, SubscriptionView, Via, WatchView
from korebot.watch.rows import end, schedule, sub_view, view
from korebot.watch.rows import target_for as _target_for
from korebot.watch.store_part import StorePart
from korebot.watch.tables import Subscription, Target, Watch, get_or_insert


class SubscriptionLog(StorePart):
    def subscribe(
        self, team_id: str, channel_id: str, user_id: str, key: TrainingKey, bot_name: str
    ) -> tuple[SubscriptionView, Subscribed]:
        moment = self.policy.clock()
        with self._begin() as session:
            target = _target_for(session, key, bot_name)
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
                running = observations.running_now(self.policy, target, moment)
                if running:  # the channel gets this run's result too
                    observations.arm(session, self.policy, target, sub, moment)
                    schedule(session, self.policy, target, moment)
                elif target.next_poll_at is None or target.next_poll_at > moment:
                    target.next_poll_at = moment  # the first poll records the current state
            session.flush()
            return replace(sub_view(sub), running=running), how

    def unsubscribe(
        self, channel_id: str, key: TrainingKey
    ) -> tuple[SubscriptionView, list[WatchView]] | None:
        moment = self.policy.clock()
        with self._begin() as session:
            sub = session.scalars(
                select(Subscription)
                .join(Target)
                .where(Target.key == str(key), Subscription.channel_id == channel_id)
            ).first()
            if sub is None:
                return None
            found = sub_view(sub)
            session.delete(sub)
            stopped = list(
                session.scalars(
                    select(Watch).where(
                        Watch.target_id == sub.target_id,
                        Watch.channel_id == channel_id,
                        Watch.via == Via.SUBSCRIPTION.value,
                        Watch.ended.is_(None),
                        Watch.outcome.is_(None),
                        # Someone also asked for it (and is mentioned in its result): it goes on.
                        ~Watch.askers.any(),
                    )
                )
            )
            for watch in stopped:
                end(watch, Ended.STOPPED, moment)
            # If nothing else follows the target, stop polling now, not after one more poll.
            schedule(session, self.policy, session.get_one(Target, sub.target_id), moment)
            return found, [view(watch) for watch in stopped]

    def subscriptions_in(self, channel_id: str) -> list[SubscriptionView]:
        with self._begin() as session:
            subs = session.scalars(
                select(Subscription)
                .where(Subscription.channel_id == channel_id)
                .order_by(Subscription.id)
            )
            return [sub_view(sub) for sub in subs]
