"""``python -m korebot.migrations "what changed"`` writes the next revision (for developers)."""

from __future__ import annotations

import sys

from korebot.watch.store.migrate import new_revision


def main(words: list[str]) -> int:
    message = " ".join(words).strip()
    if not message:
        print('usage: python -m korebot.migrations "what changed"', file=sys.stderr)
        return 2
    print(f"Wrote {new_revision(message)}; review it before committing.")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
