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
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from korebot.testing.fake_kore import FakeKore

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


def kore_env(fake: FakeKore, bot: str, *, admin: bool = False, **overrides: str) -> dict[str, str]:
    """A clean environment: only what a command needs, pointed at the fake Kore.ai, with
    the bot called support; with ``admin``, the Admin Console app's credentials too."""
    env = {
        "PATH": os.environ.get("PATH", ""),
        "PYTHONIOENCODING": "utf-8",
        "COLUMNS": "100",
        "KORE_HOST": fake.url,
        "KORE_CLIENT_ID": fake.client_id,
        "KORE_CLIENT_SECRET": fake.client_secret,
        "KOREBOT_BOTS": f"support={bot}",
    }
    if admin:
        env["KORE_ADMIN_CLIENT_ID"] = fake.admin_client_id
        env["KORE_ADMIN_CLIENT_SECRET"] = fake.admin_client_secret
    return env | overrides


def assert_clean(result: Run, *secrets: str) -> None:
    """No traceback, none of the secrets, no terminal control codes (stdout is not a TTY)."""
    output = result.stdout + result.stderr
    assert "Traceback" not in output, result.stderr
    for secret in secrets:
        assert secret not in output
    assert "\x1b[" not in output
    assert "\r" not in output
