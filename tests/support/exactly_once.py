"""Exactly-once checks shared by the crash tests (tests/crash/): the app's fast settings, the
watches in the database, and what Slack got for each of them."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select

from korebot.watch.store import Store
from korebot.watch.store.tables import Watch
from support.chaos import HookedSlack, Tally
from support.slack_app import has_buttons

POLL_INTERVAL = 0.2
# Short intervals for quick recovery; limits (tested elsewhere) out of the way.
FAST = {
    "KOREBOT_POLL_INTERVAL": str(POLL_INTERVAL),
    "KOREBOT_DELIVERY_LEASE": "1",
    "KOREBOT_KORE_CALLS_PER_MINUTE": "100000",
    "KOREBOT_KORE_CALLS_PER_HOUR": "1000000",
    "KOREBOT_COMMANDS_PER_USER_PER_MINUTE": "100000",
    "LOG_LEVEL": "INFO",
}


@dataclass
class Row:
    id: int
    channel: str
    language: str
    thread_ts: str | None
    ended: str | None


def watches(store: Store) -> list[Row]:
    with store.session() as session:
        return [
            Row(w.id, w.channel_id, w.target.language, w.thread_ts, w.ended)
            for w in session.scalars(select(Watch).order_by(Watch.id))
        ]


def check_exactly_once(
    slack: HookedSlack, store: Store, channels: list[str]
) -> tuple[list[str], Tally, list[Row]]:
    """Problems with the delivery of every watch in the database, as readable lines."""
    rows = watches(store)
    tally = Tally.of(slack, channels)
    problems = []
    for row in rows:
        finals = tally.finals.get(row.id, [])
        if row.ended != "delivered":
            problems.append(f"watch {row.id} in {row.channel} ended {row.ended!r}")
        if len(finals) != 1:
            problems.append(f"watch {row.id} in {row.channel}: {len(finals)} final messages")
        elif finals[0] != row.thread_ts:
            problems.append(f"watch {row.id}: final in {finals[0]}, thread is {row.thread_ts}")
        announced = tally.announcements.get(row.id, [])
        if announced != [row.thread_ts]:
            problems.append(f"watch {row.id}: announced {announced}, thread is {row.thread_ts}")
        for parent in tally.parents.get(row.id, []):
            if has_buttons(parent) or not any(
                word in parent["text"] for word in ("succeeded", "failed")
            ):
                problems.append(f"watch {row.id}: parent not updated: {parent['text']!r}")
    for watch_id, ts in tally.threads_without_final():
        problems.append(f"thread {ts} of watch {watch_id} has no final message")
    return problems, tally, rows
