"""The goals the suite measures, and how big each measurement is in a full and a quick run."""

from __future__ import annotations

from dataclasses import dataclass, field

#: Goal key -> the row title in the results table (the smoke test looks for each title).
GOALS: dict[str, str] = {
    "ack": "Ack latency under a burst (p99 vs bare Bolt app)",
    "watchers": "Kore.ai calls vs number of watchers W",
    "batch_watchers": "Kore.ai calls vs W, batch test run",
    "identical": "Kore.ai calls for 100 identical asks in 1 s",
    "ratelimit": "429s from Kore.ai, many bots and watches",
    "memory": "Memory above idle, many active watches",
    "cpu": "CPU above idle, many active watches",
    "delay": "Training end to thread message",
    "long": "Kore.ai calls for a 2-hour training",
    "startup": "Start-up to a healthy /healthz",
    "history_calls": "Kore.ai calls per run, polling from history vs adaptive",
    "history_delay": "Run end to thread message, polling from history vs adaptive",
}


@dataclass(frozen=True)
class Plan:
    """Sizes and durations; ``full()`` is the run for docs/benchmarks.md, ``quick()`` for CI."""

    name: str
    # start-up
    startups: int
    # ack burst
    bursts: int
    burst_size: int
    # identical asks
    identical: int
    # W watchers over K trainings
    watchers: tuple[int, ...]
    trainings: int
    watch_length: float
    watch_env: dict[str, str] = field(default_factory=dict)
    # rate limit
    rl_bots: int = 50
    rl_languages: int = 4
    rl_channels: int = 5
    rl_length: float = 70.0
    rl_interval: float = 1.0
    # resources
    res_watches: int = 10_000
    res_idle: float = 15.0
    #: At most this long to create the watches (the app's speed decides how many).
    res_create: float = 420.0
    res_hold: float = 180.0
    # end-to-thread delay (intervals and limits time-scaled, real Kore.ai latency)
    delay_scale: float = 10.0
    delay_trainings: int = 24
    delay_channels: int = 2
    delay_window: float = 90.0
    # the 2-hour training (everything time-scaled)
    long_scale: float = 72.0
    # polling from history vs adaptive polling (everything time-scaled)
    hist_scale: float = 100.0
    #: Usual durations (minutes) of the scripted trainings, and trainings of each.
    hist_minutes: tuple[float, ...] = (2.0, 12.0, 40.0)
    hist_targets: int = 6
    hist_warmups: int = 3
    hist_runs: int = 3
    #: Each run lasts its training's usual duration within this fraction either way.
    hist_spread: float = 0.25

    @classmethod
    def full(cls) -> Plan:
        return cls(
            name="full",
            startups=3,
            bursts=5,
            burst_size=250,
            identical=100,
            watchers=(1, 10, 100, 1000),
            trainings=2,
            watch_length=60.0,
        )

    @classmethod
    def quick(cls) -> Plan:
        return cls(
            name="quick",
            startups=1,
            bursts=1,
            burst_size=200,
            identical=100,
            watchers=(1, 10, 100),
            trainings=2,
            watch_length=6.0,
            watch_env={"KOREBOT_POLL_INTERVAL": "2"},
            rl_bots=10,
            rl_length=10.0,
            res_watches=200,
            res_idle=3.0,
            res_hold=15.0,
            res_create=60.0,
            delay_scale=30.0,
            delay_trainings=8,
            delay_window=10.0,
            long_scale=600.0,
            hist_scale=300.0,
            hist_minutes=(2.0, 12.0),
            hist_targets=1,
            hist_runs=1,
        )
