"""The repository stands alone: nothing in it reads a path outside the repository.

A fresh clone with nothing beside it must test and run. This scans every text file of the
repository for references that climb out of it: the reference folder our own machines keep
beside the checkout, absolute paths of a workplace, and ``Path(__file__).parents[N]`` that
reaches above the repository root.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# Without git (an unpacked archive): folders that are not the repository's own sources.
SKIPPED_DIRS = {".git", ".venv", "venv", ".hypothesis", "build", "dist", "__pycache__"}
# The folder our own machines keep beside the checkout, spelt in two so that this file,
# which names what it hunts for, does not itself read as a reference to it.
FOLDER = "sh" + "ared"
OUTSIDE = [
    re.compile(rf"\.\./+{FOLDER}\b"),
    re.compile(rf"\b{FOLDER}/reference\b"),
    re.compile(rf"/\s*['\"]{FOLDER}['\"]"),  # Path(...) / "<folder>"
    re.compile(r"\bROOT\.parent\b"),
    re.compile(r"(?<![\w.-])/work/"),
]
PARENTS = re.compile(r"__file__\)\.resolve\(\)\.parents\[(\d+)\]")


def _repository_files() -> Iterator[Path]:
    """Every file of the repository (symlinks included), relative to its root.

    In a git checkout, what git tracks or would (not what it ignores: environments,
    caches, hypothesis's database).
    """
    try:
        listed = subprocess.run(
            ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],  # noqa: S607
            cwd=ROOT,
            capture_output=True,
            check=False,
        )
    except OSError:  # no git on this machine
        listed = None
    if listed is not None and listed.returncode == 0:
        names = {name for name in listed.stdout.decode().split("\0") if name}
        yield from (Path(name) for name in sorted(names) if (ROOT / name).exists())
        return
    for path in sorted(ROOT.rglob("*")):
        relative = path.relative_to(ROOT)
        if any(part in SKIPPED_DIRS or part.endswith("_cache") for part in relative.parts):
            continue
        if path.is_file() or path.is_symlink():
            yield relative


def _offences(relative: Path) -> list[str]:
    try:
        text = (ROOT / relative).read_text(encoding="utf-8")
    except (UnicodeDecodeError, OSError):
        return []  # binary data: no paths to read
    found = [
        f"{relative}:{text.count(chr(10), 0, match.start()) + 1}: {match.group(0)!r}"
        for pattern in OUTSIDE
        for match in pattern.finditer(text)
    ]
    # For tests/tier/x.py, parents[2] is the root: parents[len(parts)] and beyond are outside.
    for match in PARENTS.finditer(text):
        if int(match.group(1)) >= len(relative.parts):
            found.append(f"{relative}: parents[{match.group(1)}] climbs above the repository")
    return found


def test_no_file_reads_outside_the_repository() -> None:
    files = [f for f in _repository_files() if ROOT / f != Path(__file__).resolve()]
    assert Path("tests/unit/test_manifest.py") in files  # the scan does see the tests
    offences = [offence for f in files for offence in _offences(f)]
    assert offences == [], "paths outside the repository:\n" + "\n".join(offences)


def test_no_symlink_leaves_the_repository() -> None:
    outside = [
        str(f)
        for f in _repository_files()
        if (ROOT / f).is_symlink() and ROOT not in (ROOT / f).resolve().parents
    ]
    assert outside == []


@pytest.mark.parametrize(
    "line",
    [
        f'SCHEMA = ROOT.parent / "{FOLDER}" / "reference" / "schema.json"',
        f"open('../{FOLDER}/reference/kore-api.md')",
        f"open('tests/{FOLDER}/reference/x')",
        "cat /work/main/x",
    ],
    ids=["parent-join", "relative", "reference-folder", "workplace"],
)
def test_the_scan_catches_outside_paths(line: str) -> None:
    assert any(pattern.search(line) for pattern in OUTSIDE)
