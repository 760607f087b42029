"""The benchmark suite still runs: ``python -m benchmarks --quick`` (the CI smoke run), one
scenario per test (``--only``), so that parallel workers run them at once.

Only that each completes and writes a row for every goal; the figures are measurements, not
assertions (docs/benchmarks.md holds a full run).
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # `benchmarks` is a top-level package of the checkout
    sys.path.insert(0, str(ROOT))

from benchmarks.__main__ import EPILOG, SCENARIOS  # noqa: E402
from benchmarks.plan import GOALS, Plan  # noqa: E402
from benchmarks.report import SECTIONS  # noqa: E402

HEADER = ("**Command:** `python -m benchmarks --quick --only", "**Commit:**", "**Machine:**")


def test_the_scenarios_cover_every_goal() -> None:
    """Run one scenario at a time (below, in parallel workers), they still measure every goal."""
    assert {goal for _, goals in SCENARIOS.values() for goal in goals} == set(GOALS)


@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_each_scenario_is_named_in_the_help_and_has_a_section(scenario: str) -> None:
    assert re.search(rf"^  {re.escape(scenario)} ", EPILOG, re.MULTILINE), EPILOG
    assert scenario in SECTIONS


@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_quick_benchmarks_write_a_row_per_goal(tmp_path: Path, scenario: str) -> None:
    out = tmp_path / "b.md"
    done = subprocess.run(  # noqa: S603  (our own interpreter and package)
        [sys.executable, "-m", "benchmarks", "--quick", "--only", scenario, "--out", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,  # under a minute alone; more on a busy machine
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-5000:]
    page = out.read_text()
    rows = [line for line in page.splitlines() if line.startswith("| ")]
    for title in (GOALS[goal] for goal in SCENARIOS[scenario][1]):
        matching = [row for row in rows if row.startswith(f"| {title}")]
        assert matching, f"no row for {title!r} in:\n{page}"
        assert all("not measured" not in row for row in matching), matching
    if scenario == "batch":  # each W's run POSTs, status and suite-list calls are counted
        (row,) = [row for row in rows if row.startswith(f"| {GOALS['batch_watchers']}")]
        for kind in ("run POSTs", "status calls", "suite-list calls"):
            listed = row.split(kind, 1)[1]
            assert all(f"W={w}: " in listed for w in Plan.quick().watchers), row
    for field in HEADER:
        assert field in page
