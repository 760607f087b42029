"""The installed ``korebot`` console script, run as a pipeline would: a subprocess in a
scratch directory (``doctor`` opens SQLite there), with the environment a test gives.

The test run's PYTHONPATH is passed on when the test's environment has none, so that a
checkout other than the installed one (a git worktree, PYTHONPATH=/path/to/it) runs its
own code: the editable install's finder comes after PYTHONPATH."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

KOREBOT = Path(sys.executable).parent / "korebot"
Run = subprocess.CompletedProcess[str]


@dataclass(frozen=True)
class Korebot:
    """Runs the console script in ``workdir``."""

    workdir: Path

    def __call__(self, args: Sequence[str], env: dict[str, str]) -> Run:
        if "PYTHONPATH" not in env and os.environ.get("PYTHONPATH"):
            env = {**env, "PYTHONPATH": os.environ["PYTHONPATH"]}
        return subprocess.run(  # noqa: S603 (our own console script, no shell)
            [str(KOREBOT), *args],
            env=env,
            cwd=self.workdir,
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )

    def all(self, runs: Sequence[tuple[Sequence[str], dict[str, str]]]) -> list[Run]:
        """Run independent commands at once; results in the order given."""
        with ThreadPoolExecutor(max_workers=len(runs)) as pool:
            return list(pool.map(lambda run: self(*run), runs))


def console_script(workdir: Path) -> Korebot:
    """The runner, once the console script is known to be installed (else the test fails)."""
    if not (KOREBOT.is_file() and os.access(KOREBOT, os.X_OK)):
        pytest.fail(
            f"the korebot console script is missing at {KOREBOT}; "
            "install the project into this interpreter's environment: pip install -e '.[test]'"
        )
    return Korebot(workdir)
