"""Polling from the run history against today's adaptive polling, on the same scripted runs.

Two app processes run side by side, one with ``KOREBOT_POLL_FROM_HISTORY=false`` (today's
backoff) and one with ``true``, each against its own fake Kore.ai and fake Slack. One script
drives both fakes at the same moments: a mix of trainings that usually take a few minutes to
most of an hour, each subscribed from one channel, each running a few warm-up runs (so
that history exists) and then the measured runs. Everything is time-scaled (``scaled_env``),
Kore.ai's latency too, and reported in unscaled seconds.
"""

from __future__ import annotations

import contextlib
import random
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from benchmarks.harness import (
    KORE_LATENCY,
    Ask,
    Post,
    Stack,
    bot_id,
    channels,
    median,
    percentile,
    stack,
    user,
)
from benchmarks.scenarios import Context, Outcome, Row, _ask_all, scaled_env, secs
from korebot.testing.fake_kore import KoreRequest, Status

#: The two policies, in the order they are reported: (label, KOREBOT_POLL_FROM_HISTORY).
POLICIES = (("adaptive", "false"), ("from history", "true"))
#: Unscaled seconds between one run's end and the next one's start (idle: subscription polls).
IDLE = 180.0


@dataclass(frozen=True)
class Run:
    """One scripted run of a target: unscaled duration, and whether it is measured."""

    duration: float
    measured: bool


@dataclass(frozen=True)
class Target:
    alias: str
    bot: str
    usual: float  # unscaled seconds
    channel: str
    runs: tuple[Run, ...]


@dataclass(frozen=True)
class Sample:
    """A measured run as one policy's app saw it (unscaled)."""

    usual: float
    calls: int
    delay: float
    #: From the end to the first status call after it (the polling's part of the delay).
    seen: float


def script(ctx: Context) -> list[Target]:
    """The same runs for both policies: ``hist_targets`` targets per usual duration, each
    with its warm-up and measured runs, durations spread uniformly around the usual one."""
    plan = ctx.plan
    rng = random.Random(14)
    targets: list[Target] = []
    for minutes in plan.hist_minutes:
        for _ in range(plan.hist_targets):
            n = len(targets)
            runs = tuple(
                Run(
                    minutes * 60.0 * rng.uniform(1 - plan.hist_spread, 1 + plan.hist_spread),
                    k >= plan.hist_warmups,
                )
                for k in range(plan.hist_warmups + plan.hist_runs)
            )
            targets.append(Target(f"h{n}", bot_id(14, n), minutes * 60.0, channels(1)[0], runs))
    return targets


def history(ctx: Context) -> Outcome:
    plan = ctx.plan
    scale = plan.hist_scale
    targets = script(ctx)
    bots = {t.alias: t.bot for t in targets}
    latency = (KORE_LATENCY[0] / scale, KORE_LATENCY[1] / scale)
    limit = (round(60 * scale), round(1800 * scale))
    # Crash recovery is not measured here: a delivery lease of milliseconds would only
    # have posts retried while they are being made.
    env = {**scaled_env(scale), "KOREBOT_DELIVERY_LEASE": "30"}
    with contextlib.ExitStack() as exits:
        stacks = [
            exits.enter_context(
                stack(
                    bots,
                    env={**env, "KOREBOT_POLL_FROM_HISTORY": flag},
                    latency=latency,
                    rate_limit=limit,
                    initial="success",
                )
            )
            for _, flag in POLICIES
        ]
        for s in stacks:
            for t in targets:
                _flip(s, t.bot, "success")
            asks = [Ask(f"subscribe {t.alias} en", t.channel, user(), "THIST") for t in targets]
            _, answered = _ask_all(s, asks, timeout=60)
            if not answered:
                raise RuntimeError("not every subscribe command was answered within 60 s")
        # Both apps' subscriptions take their first (idle) look before the first run.
        time.sleep(3 * float(env["KOREBOT_SUBSCRIPTION_INTERVAL"]))
        ctx.log(f"  history: {len(targets)} trainings subscribed in both apps; playing the runs")
        moments = _play(targets, stacks, scale)
        ctx.log("  history: runs played; waiting for the last thread messages")
        runs = sum(len(t.runs) for t in targets)
        for s in stacks:
            s.slack.wait_until(lambda sl: sl.counts["thread reply"] >= runs, timeout=60)
        seen = [(s.slack.snapshot(), s.kore.requests) for s in stacks]
    results = {
        label: _samples(targets, moments[i], *seen[i], scale)
        for i, (label, _) in enumerate(POLICIES)
    }
    return _outcome(ctx, targets, results, env)


#: Per stack, per target: the (start, end) moments (time.time()) of each run.
Moments = list[dict[str, list[tuple[float, float]]]]


def _play(targets: Sequence[Target], stacks: Sequence[Stack], scale: float) -> Moments:
    """Run every target's script (one thread each) on both fakes at the same moments."""
    moments: Moments = [{t.alias: [] for t in targets} for _ in stacks]

    def play(target: Target) -> None:
        for run in target.runs:
            starts = [_flip(s, target.bot, "in-progress") for s in stacks]
            time.sleep(run.duration / scale)
            ends = [_flip(s, target.bot, "success") for s in stacks]
            for i, (start, end) in enumerate(zip(starts, ends, strict=True)):
                moments[i][target.alias].append((start, end))
            time.sleep(IDLE / scale)

    threads = [threading.Thread(target=play, args=(t,), daemon=True) for t in targets]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return moments


def _flip(s: Stack, bot: str, status: str) -> float:
    """Make the fake answer ``status`` from now on, modified now (time.time() returned).

    As Kore.ai does, ``modifiedOn`` stays put until the next change: the fake's default
    (the time of each answer) would make every idle poll a new run.
    """
    at = time.time()
    s.kore.script(bot, "en", Status(status, modified_on=datetime.fromtimestamp(at, UTC)))
    return at


def _samples(
    targets: Sequence[Target],
    moments: dict[str, list[tuple[float, float]]],
    posts: Sequence[Post],
    requests: Sequence[KoreRequest],
    scale: float,
) -> tuple[list[Sample], int]:
    """Each measured run's status calls (from its start to its thread message) and delay
    (from its end to the message); and how many measured runs got no message."""
    samples: list[Sample] = []
    missing = 0
    for target in targets:
        announced = {
            p.ts: p.at
            for p in posts
            if p.channel == target.channel and p.method == "chat.postMessage" and p.ok
            if not p.thread_ts and p.ts
        }
        replies = sorted(
            (p for p in posts if p.channel == target.channel and p.thread_ts in announced),
            key=lambda p: p.at,
        )
        replies = [p for p in replies if p.ok and p.method == "chat.postMessage"]
        calls = sorted(
            r.at
            for r in requests
            if f"/bot/{target.bot}/faqs/train/status" in r.path and r.method == "GET"
        )
        spans = moments[target.alias]
        for k, (run, (start, end)) in enumerate(zip(target.runs, spans, strict=True)):
            if not run.measured:
                continue
            after = spans[k + 1][0] if k + 1 < len(spans) else float("inf")
            reply = next(
                (p for p in replies if p.at >= end and announced[p.thread_ts or ""] >= start),
                None,
            )
            if reply is None:
                missing += 1
                continue
            made = sum(1 for at in calls if start <= at <= min(reply.at, after))
            seen = next((at for at in calls if at >= end), reply.at)
            samples.append(
                Sample(target.usual, made, (reply.at - end) * scale, (seen - end) * scale)
            )
    return samples, missing


def _outcome(
    ctx: Context,
    targets: Sequence[Target],
    results: dict[str, tuple[list[Sample], int]],
    env: dict[str, str],
) -> Outcome:
    plan = ctx.plan
    (old, old_missing), (new, new_missing) = (results[label] for label, _ in POLICIES)
    complete = bool(old) and bool(new) and old_missing == new_missing == 0
    old_calls = sum(s.calls for s in old) / max(len(old), 1)
    new_calls = sum(s.calls for s in new) / max(len(new), 1)
    old_delays, new_delays = [s.delay for s in old], [s.delay for s in new]
    runs = f"{len(new)} and {len(old)} measured runs, {new_missing + old_missing} missing"
    outcome = Outcome()
    outcome.rows += [
        Row(
            "history_calls",
            f"{new_calls:.1f} calls per run from history vs {old_calls:.1f} adaptive "
            f"({new_calls / old_calls - 1:+.0%}; {runs})"
            if old_calls
            else f"not measured ({runs})",
            "fewer than adaptive polling, same runs",
            complete and new_calls < old_calls,
            label=f"(x{plan.hist_scale:g} time-scaled)",
        ),
        Row(
            "history_delay",
            f"median {secs(median(new_delays))} from history vs {secs(median(old_delays))} "
            f"adaptive (p90 {secs(percentile(new_delays, 90))} vs "
            f"{secs(percentile(old_delays, 90))}, max {secs(max(new_delays, default=0))} vs "
            f"{secs(max(old_delays, default=0))})",
            "lower median than adaptive polling, same runs",
            complete and median(new_delays) < median(old_delays),
            label=f"(x{plan.hist_scale:g} time-scaled)",
        ),
    ]
    usuals = sorted({t.usual for t in targets})
    lines = [
        "| usual duration | policy | runs | calls per run | delay p50 | p90 | max "
        "| end to the poll that saw it, p50 |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for usual in usuals:
        for label, _ in POLICIES:
            mine = [s for s in results[label][0] if s.usual == usual]
            delays = [s.delay for s in mine]
            per_run = sum(s.calls for s in mine) / len(mine) if mine else float("nan")
            lines.append(
                f"| {usual / 60:g} min | {label} | {len(mine)} | {per_run:.1f} | "
                f"{secs(median(delays))} | {secs(percentile(delays, 90))} | "
                f"{secs(max(delays, default=float('nan')))} | "
                f"{secs(median([s.seen for s in mine]))} |"
            )
    per_target = plan.hist_warmups + plan.hist_runs
    outcome.details += [
        f"Two app processes side by side, `KOREBOT_POLL_FROM_HISTORY=false` (adaptive, today's "
        "backoff) and `true`, each with its own fake Kore.ai and fake Slack, driven by one "
        f"script at the same moments: {len(targets)} trainings (one bot each) that usually "
        f"take {', '.join(f'{u / 60:g}' for u in usuals)} minutes ({plan.hist_targets} each), "
        f"every run's duration drawn uniformly within ±{plan.hist_spread:.0%} of that "
        f"(seeded, the same for both), {IDLE / 60:g} minutes idle between runs. Each "
        "training is subscribed from one channel, so every run gets its own watch and thread "
        f"message; each runs {plan.hist_warmups} warm-up runs (the history the pace is taken "
        f"from) and then {plan.hist_runs} measured ones ({per_target} in all). Durations, "
        f"rate limits and Kore.ai's latency are time-scaled by 1/{plan.hist_scale:g} "
        f"(`{' '.join(f'{k}={v}' for k, v in env.items())}`); figures are unscaled seconds. "
        "Calls per run: status calls at that policy's fake Kore.ai for the training from the "
        "run's scripted start to its thread message (so one idle subscription poll, the one "
        "that saw the start, is in both). Delay: from the scripted end (the fake starts "
        "answering success) to the thread message at the fake Slack; the last column is its "
        "polling part, to the first status call after the end. Both apps share the machine's "
        "cores. Scaling is not exact: a due poll waits for the app's next tick, every "
        "first interval / 8 but at least 50 ms, which is a sixth of the scaled first "
        "interval here (in production, 1 s of 30 s), so dense polling is a little thinner "
        "than in production, in both; a run's start is seen by the subscription's idle "
        "poll, up to its interval late, so its first-seen length is that much shorter; the "
        f"app's own time from a poll to its post (tens of ms) is also multiplied by "
        f"{plan.hist_scale:g} in these unscaled figures, in both.",
        "",
        *lines,
        "",
    ]
    return outcome
