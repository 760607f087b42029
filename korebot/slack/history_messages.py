"""The messages of the run history: how long a training usually takes (on a watch's
message), how long a run took against that (in its thread), and ``history``'s list.

The lengths come with the views (``WatchView.usual_seconds``, ``Outcome.took``,
``RunView``), computed by the store (korebot.watch.store.runs); nothing here reads the database.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

from slack_sdk.models.blocks import SectionBlock

from korebot.kore import Kind, State, Status
from korebot.slack.kinds import label
from korebot.slack.messages import EMOJI, Message, duration, escape, slack_date
from korebot.watch.types import Outcome, RunStart, RunView, WatchView


def _length(seconds: float) -> str:
    return duration(round(seconds))


def usual_note(watch: WatchView) -> str | None:
    """When the run should end ("Usually takes about 4 min (last 10 runs); expected around
    …"), flagged first when it is far longer than that; None until the usual is known."""
    if watch.usual_seconds is None:
        return None
    # The run's start (exact if started from Slack, else first seen; the ask's if no poll
    # has seen it yet).
    start = watch.run_started_at or watch.started_at
    expected = start + timedelta(seconds=watch.usual_seconds)
    runs = "run" if watch.usual_runs == 1 else "runs"
    note = (
        f"Usually takes about {_length(watch.usual_seconds)} (last {watch.usual_runs} {runs}); "
        f"expected around {slack_date(expected)}"
    )
    if watch.overdue:
        note = f":snail: *Running longer than usual* · {note}"
    return note


def took_note(outcome: Outcome) -> str | None:
    """How long the run took against the usual ("took 6 min, usually 4 min"); None unless
    both are known (the usual needs three runs; `history` has the lengths before that)."""
    if outcome.took is None or outcome.usual is None:
        return None
    return f"took {_length(outcome.took)}, usually {_length(outcome.usual)}"


def _run_line(run: RunView) -> str:
    if run.outcome is None:
        since = f" since {slack_date(run.started_at)}" if run.started_at else ""
        line = f"{EMOJI[Status.IN_PROGRESS]} running{since}"
    elif run.outcome is Status.UNKNOWN:
        seen = f" · last seen {slack_date(run.ended_at)}" if run.ended_at else ""
        line = f"{EMOJI[Status.UNKNOWN]} end not seen (nothing watched it){seen}"
    else:
        if run.duration is None:
            took = "unknown start"
        elif run.start is RunStart.FIRST_SEEN:
            took = f"at least {_length(run.duration)}"  # it began before a poll saw it
        else:
            took = _length(run.duration)
        when = f" · ended {slack_date(run.ended_at)}" if run.ended_at else ""
        line = f"{EMOJI[run.outcome]} {run.outcome.value} · {took}{when}"
    if run.started_by:
        line += f" · started by <@{run.started_by}>"
    return f"• {line}"


def history(
    kind: Kind, bot_name: str, language: str, state: State, runs: Sequence[RunView]
) -> Message:
    """The last runs of a training, newest first, for the asker only."""
    training = f"{label(kind)} training for {escape(bot_name)} ({escape(language)}, {state.value})"
    if not runs:
        text = (
            f"No runs of {training} are recorded yet: I record the runs I see while a "
            "channel watches it or is subscribed to it."
        )
        return Message(text=text, blocks=(SectionBlock(text=text),))
    last = "The last run" if len(runs) == 1 else f"Last {len(runs)} runs"
    text = f"*{last} of {training}, newest first:*\n" + "\n".join(map(_run_line, runs))
    return Message(text=text, blocks=(SectionBlock(text=text),))
