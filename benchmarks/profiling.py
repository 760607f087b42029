"""Optional sampling profiles of the app process with py-spy (``--profile DIR``).

py-spy is not a dependency of korebot; install it into the environment that runs the
benchmarks (``pip install py-spy``). Each profiled stack writes ``DIR/<name>.txt`` in py-spy's
"raw" (collapsed stacks) format; ``summarise`` turns one into the top entries.
"""

from __future__ import annotations

import contextlib
import shutil
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

# Frames of the project are shown relative to its root, wherever it is checked out.
_ROOT = Path(__file__).resolve().parents[1]


def py_spy() -> str | None:
    found = shutil.which("py-spy")
    if found:
        return found
    candidate = Path(sys.executable).parent / "py-spy"
    return str(candidate) if candidate.exists() else None


@contextlib.contextmanager
def record(pid: int, output: Path | None, rate: int = 100) -> Iterator[None]:
    """Sample ``pid`` with py-spy while the block runs (no-op without an output or py-spy)."""
    tool = py_spy()
    if output is None or tool is None:
        yield
        return
    output.parent.mkdir(parents=True, exist_ok=True)
    process = subprocess.Popen(  # noqa: S603  (py-spy on our own child process)
        [
            tool,
            "record",
            "--pid",
            str(pid),
            "--rate",
            str(rate),
            "--format",
            "raw",
            "--nonblocking",
            "--output",
            str(output),
        ],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        yield
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@dataclass(frozen=True)
class Summary:
    samples: int
    inclusive: list[tuple[str, int]]
    own: list[tuple[str, int]]


def summarise(path: Path, top: int = 12) -> Summary | None:
    """Top functions by inclusive and by own samples, from a py-spy raw file."""
    if not path.exists():
        return None
    inclusive: Counter[str] = Counter()
    own: Counter[str] = Counter()
    total = 0
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [_short(frame) for frame in stack.split(";")]
        frames = [f for f in frames if not f.startswith(("process ", "thread "))]
        if not frames:
            continue
        total += count
        own[frames[-1]] += count
        for frame in set(frames):
            inclusive[frame] += count
    # Thread plumbing is in every stack; what it runs is the interesting part.
    boring = ("(threading.py:", "(concurrent/futures/thread.py:")
    ranked = [(f, n) for f, n in inclusive.most_common() if not any(b in f for b in boring)]
    return Summary(total, ranked[:top], own.most_common(top))


def _short(frame: str) -> str:
    """``func (/long/path/site-packages/pkg/mod.py:12)`` -> ``func (pkg/mod.py:12)``."""
    name, _, where = frame.partition(" (")
    where = where.rstrip(")")
    for marker in ("site-packages/", "/lib/python3.11/", f"{_ROOT}/"):
        if marker in where:
            where = where.split(marker, 1)[1]
    return f"{name} ({where})" if where else name


def markdown(summary: Summary, title: str) -> list[str]:
    lines = [f"Profile of the app process, {title} ({summary.samples} samples, py-spy):", ""]
    lines += ["| share | inclusive (function and its callees) | share | own time |"]
    lines += ["| ---: | --- | ---: | --- |"]
    rows = max(len(summary.inclusive), len(summary.own))
    for i in range(rows):
        inc = summary.inclusive[i] if i < len(summary.inclusive) else ("", 0)
        own = summary.own[i] if i < len(summary.own) else ("", 0)
        lines.append(
            f"| {_pct(inc[1], summary.samples)} | `{inc[0]}` | "
            f"{_pct(own[1], summary.samples)} | `{own[0]}` |"
        )
    return [*lines, ""]


def _pct(n: int, total: int) -> str:
    return f"{100 * n / total:.0f}%" if total and n else ""
