"""`korebot demo` end to end: the installed console script, the real app, the fakes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from korebot.demo import ASKER, SAYS, readable

KOREBOT = Path(sys.executable).parent / "korebot"


def test_demo_shows_the_whole_conversation() -> None:
    finished = subprocess.run(  # noqa: S603  (our own console script)
        [str(KOREBOT), "demo", "--interval", "0.2", "--steps", "2"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert finished.returncode == 0, finished.stdout + finished.stderr
    assert finished.stderr == ""  # e.g. no "the app ... was killed" note
    lines = finished.stdout.splitlines()

    def line_after(after: int, prefix: str, text: str) -> int:
        for index in range(after + 1, len(lines)):
            if lines[index].startswith(prefix) and text in lines[index]:
                return index
        raise AssertionError(f"no {prefix!r} line with {text!r} after line {after}:\n{lines}")

    ended = -1
    for command, kind in (("/faq-status", "FAQ"), ("/ml-status", "ML")):
        asked = line_after(ended, f"you {SAYS} ", f"{command} demo en")
        training = f"{kind} training for demo (en)"
        progress = line_after(asked, f"korebot {SAYS} ", f"{training} is in progress")
        reply = line_after(
            progress, f"  └ korebot (in thread) {SAYS} @you", f"{training} succeeded"
        )
        ended = line_after(reply, "korebot ✎ updated its message: ", f"{training} succeeded")
    # It ends with a release: the click, a thread line per step, the releaser mentioned.
    asked = line_after(ended, f"you {SAYS} ", "/publish-status release demo en")
    clicked = line_after(asked, f"you {SAYS} ", "[ Release ]")
    step = clicked
    for done in ("Train FAQ and ML (en)", "Batch test", "Publish", "Published version trained"):
        step = line_after(step, f"  └ korebot (in thread) {SAYS} ✅ ", done)
    line_after(step, f"  └ korebot (in thread) {SAYS} @you 🚀", "demo is live (en)")


def test_readable_resolves_slack_markup() -> None:
    text = (
        f"<@{ASKER}> <@U0OTHER> :white_check_mark: done "
        "<!date^1700000000^{date_short_pretty}|2023-11-14 22:13 UTC> in <#C0GENERAL> "
        "<https://example.com|the docs> &lt;tag&gt; &amp; <!here> :unknown_emoji:"
    )
    assert readable(text) == (
        "@you @U0OTHER ✅ done 2023-11-14 22:13 UTC in #C0GENERAL "
        "the docs <tag> & @here :unknown_emoji:"
    )
