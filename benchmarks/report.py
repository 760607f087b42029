"""The results page: machine, commit, command, the table, how each figure was measured.

Everything above ``MARKER`` is rewritten by each run; everything below it (the hand-written
analysis of missed goals) is kept.
"""

from __future__ import annotations

import hashlib
import os
import platform
import subprocess
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from benchmarks.plan import GOALS
from benchmarks.scenarios import ROOT, Outcome, Row

SECTIONS = {
    "startup": "Start-up",
    "ack": "Ack latency under a burst",
    "identical": "100 identical asks",
    "watchers": "W watchers over K trainings",
    "batch": "W channels running one batch test suite",
    "ratelimit": "Rate-limit compliance",
    "adaptive": "Training end to thread message; the 2-hour training",
    "resources": "Many active watches: memory, CPU, restart",
    "history": "Polling from history vs adaptive polling",
}
MARKER = (
    "<!-- Everything below this line is written by hand and kept when "
    "`python -m benchmarks` rewrites this file. -->"
)


@dataclass(frozen=True)
class Machine:
    cpu: str
    cores: int
    usable: int
    ram_gb: float
    system: str
    python: str

    def line(self) -> str:
        cores = f"{self.cores} cores" + (
            f" ({self.usable} usable)" if self.usable != self.cores else ""
        )
        return f"{self.cpu}, {cores}, {self.ram_gb:.1f} GB RAM; {self.system}; Python {self.python}"


def machine() -> Machine:
    cpu = platform.processor() or "unknown CPU"
    ram = 0.0
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                ram = int(line.split()[1]) * 1024 / 1e9
    except OSError:
        pass
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 0
    return Machine(
        cpu=cpu,
        cores=os.cpu_count() or 0,
        usable=usable or (os.cpu_count() or 0),
        ram_gb=ram,
        system=f"{platform.system()} {platform.release()}",
        python=platform.python_version(),
    )


def commit() -> str:
    def git(*args: str) -> str:
        return subprocess.run(  # noqa: S603
            ["git", *args],  # noqa: S607  (git from PATH, read-only)
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=20,
            check=True,
        ).stdout.strip()

    try:
        head = git("rev-parse", "--short=12", "HEAD")
        subject = git("log", "-1", "--format=%s")
        changed = [line[3:] for line in git("status", "--porcelain").splitlines() if line]
    except (OSError, subprocess.SubprocessError):
        return "unknown (not a git checkout)"
    text = f"`{head}` ({subject[:80]})"
    relevant = [path for path in changed if path.startswith(("korebot/", "app.py"))]
    if relevant:
        text += f", plus uncommitted changes to {', '.join(f'`{p}`' for p in relevant)}"
    return text


def code_fingerprint() -> str:
    """A short hash of the app's code as it is on disk now (korebot/ and app.py)."""
    digest = hashlib.sha1(usedforsecurity=False)
    for path in sorted([*ROOT.glob("korebot/**/*.py"), ROOT / "app.py"]):
        if path.is_file():
            digest.update(str(path.relative_to(ROOT)).encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()[:10]


def render(
    outcomes: dict[str, Outcome],
    *,
    code: str,
    fingerprints: dict[str, str],
    command: str,
    mode: str,
    started: datetime,
    runtime: float,
    other_load: float,
    missing: dict[str, str],
    previous: str | None,
) -> str:
    rows: list[Row] = [row for outcome in outcomes.values() for row in outcome.rows]
    lines = [
        "# Benchmarks",
        "",
        "Measurements of the real app process (`korebot.server`, as `python app.py` runs it) "
        "over 127.0.0.1, driven with signed slash commands, against the fake Kore.ai "
        "(real HTTP, JWT checks, per-bot rate limits of 60/min and 1800/h enforced, "
        "150-300 ms latency) and the fake Slack Web API from `korebot/testing/`. "
        "These are measurements, not tests; `tests/e2e/test_benchmarks_smoke.py` only keeps "
        "the suite working (`--quick`).",
        "",
        f"- **Command:** `{command}` ({mode} run, {_duration(runtime)})",
        f"- **Date:** {started.strftime('%Y-%m-%d %H:%M UTC')}",
        f"- **Commit:** {code}",
        f"- **Code measured:** {_code_line(fingerprints)}",
        f"- **Machine:** {machine().line()}; other processes used {other_load:.0%} of its "
        "CPU during the run",
        "",
        "## Results",
        "",
        "| Goal | Measured | Target | Met |",
        "| --- | --- | --- | --- |",
    ]
    by_goal: dict[str, list[Row]] = {}
    for row in rows:
        by_goal.setdefault(row.goal, []).append(row)
    for goal, title in GOALS.items():
        found = by_goal.get(goal)
        if not found:
            reason = missing.get(goal, "not run (see --only)")
            lines.append(f"| {title} | {_cell(reason)} | | not measured |")
            continue
        for row in found:
            name = f"{title} {row.label}".strip()
            lines.append(
                f"| {name} | {_cell(row.measured)} | {_cell(row.target)} | {_met(row.met)} |"
            )
    lines += ["", "## How each figure was measured", ""]
    for name, outcome in outcomes.items():
        if outcome.details:
            lines += [f"### {SECTIONS.get(name, name)}", "", *outcome.details]
    lines += [MARKER, ""]
    text = "\n".join(lines)
    if previous and MARKER in previous:
        kept = previous.split(MARKER, 1)[1].lstrip("\n")
        text += kept
    return text.rstrip("\n") + "\n"


def _code_line(fingerprints: dict[str, str]) -> str:
    """Which code each scenario's app process ran (each scenario starts its own process)."""
    distinct = list(dict.fromkeys(fingerprints.values()))
    if len(distinct) <= 1:
        first = distinct[0] if distinct else "?"
        return f"`{first}` (hash of korebot/*.py), the same for every scenario"
    parts = [f"{name}: `{print_}`" for name, print_ in fingerprints.items()]
    return (
        "**the code changed during the run**; hash of korebot/*.py when each scenario "
        "started: " + ", ".join(parts)
    )


def _met(met: bool | None) -> str:
    return "not measured" if met is None else ("yes" if met else "**no**")


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _duration(seconds: float) -> str:
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes} min {rest} s" if minutes else f"{rest} s"
