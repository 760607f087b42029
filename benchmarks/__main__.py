"""``python -m benchmarks``: measure the real app against the issue's goals, write a results page.

Runs the app (``korebot.server``) as a child process on 127.0.0.1 against the fake Kore.ai
(real latency and rate limits) and the fake Slack, one scenario after the other, each with
its own fresh app, database and fakes, and writes the results table to ``--out``.
"""

from __future__ import annotations

import argparse
import shlex
import sys
import time
import traceback
from datetime import UTC, datetime
from pathlib import Path

from benchmarks.harness import MachineLoad, clean_environment
from benchmarks.history_polling import history
from benchmarks.plan import GOALS, Plan
from benchmarks.report import code_fingerprint, commit, render
from benchmarks.scenarios import SCENARIOS as MEASURED
from benchmarks.scenarios import Context, Outcome

SCENARIOS = {**MEASURED, "history": (history, ("history_calls", "history_delay"))}

EPILOG = """\
scenarios (in the order they run):
  startup    start-up time to a healthy /healthz
  ack        ack latency of a burst of signed commands, korebot vs benchmarks/bare_app.py
  identical  Kore.ai calls for 100 identical asks within one second
  watchers   Kore.ai calls for W watchers over K trainings, W = 1, 10, 100, 1000
  batch      Kore.ai calls (run POSTs, status, suite lists) for W channels running one
             batch test suite (/batch-test), W = 1, 10, 100, 1000
  ratelimit  429s at the fake Kore.ai with 50 bots and 1000 watches
  adaptive   training end to thread message; calls for a 2-hour training (time-scaled)
  resources  memory and CPU above idle with 10,000 active watches; restart time
  history    calls per run and end-to-thread delay, polling from history vs adaptive (scaled)

examples:
  python -m benchmarks                       full run (about 18 minutes), docs/benchmarks.md
  python -m benchmarks --quick --out /tmp/b.md   the CI smoke run (about 1-2 minutes)
  python -m benchmarks --only ack,identical --profile /tmp/prof
"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description=(__doc__ or "").split("\n\n")[0].strip(),
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="the small smoke version (what CI runs): fewer and shorter runs, about 1-2 min",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=Path("docs/benchmarks.md"),
        help="where to write the results page (default: docs/benchmarks.md); text below its "
        "hand-written-analysis marker is kept",
    )
    parser.add_argument(
        "--only",
        metavar="NAMES",
        help=f"comma-separated scenarios to run (default: all): {', '.join(SCENARIOS)}",
    )
    parser.add_argument(
        "--profile",
        metavar="DIR",
        type=Path,
        help="also sample the app process with py-spy (if installed) and summarise the "
        "profiles on the page; raw profiles go to DIR",
    )
    args = parser.parse_args(argv)
    names = list(SCENARIOS)
    if args.only:
        names = [name.strip() for name in args.only.split(",") if name.strip()]
        unknown = [name for name in names if name not in SCENARIOS]
        if unknown:
            parser.error(f"unknown scenario(s): {', '.join(unknown)}")

    clean_environment()
    plan = Plan.quick() if args.quick else Plan.full()
    ctx = Context(plan, profile_dir=args.profile)
    started, clock = datetime.now(UTC), time.perf_counter()
    whole = MachineLoad()
    code = commit()  # now: the tree may change while the suite runs
    fingerprints: dict[str, str] = {}
    outcomes: dict[str, Outcome] = {}
    missing: dict[str, str] = {}
    failed = False
    for index, name in enumerate(names, 1):
        work, goals = SCENARIOS[name]
        ctx.log(f"[{index}/{len(names)}] {name} ...")
        began = time.perf_counter()
        fingerprints[name] = code_fingerprint()
        load = MachineLoad()
        try:
            outcomes[name] = work(ctx)
            other, share = load.others()
            outcomes[name].details.insert(
                0,
                f"_While this ran, other processes on the machine used {share:.0%} of its CPU "
                f"({other:.0f} CPU-seconds)._\n",
            )
        except Exception as error:
            failed = True
            traceback.print_exc()
            for goal in goals:
                missing.setdefault(goal, f"not measured: {type(error).__name__}: {error}"[:300])
        ctx.log(f"[{index}/{len(names)}] {name} done in {time.perf_counter() - began:.0f} s")
    runtime = time.perf_counter() - clock
    other_share = whole.others()[1]
    command = shlex.join(["python", "-m", "benchmarks", *(sys.argv[1:] if argv is None else argv)])
    previous = args.out.read_text() if args.out.exists() else None
    page = render(
        outcomes,
        code=code,
        fingerprints=fingerprints,
        command=command,
        mode=plan.name,
        started=started,
        runtime=runtime,
        other_load=other_share,
        missing=missing,
        previous=previous,
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(page)
    table = page.split("## Results", 1)[1].split("## How", 1)[0].strip()
    print(table)
    print(f"\nwrote {args.out} ({plan.name} run, {runtime:.0f} s)")
    measured = {row.goal for outcome in outcomes.values() for row in outcome.rows}
    if not args.only and set(GOALS) - measured:
        failed = True
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
