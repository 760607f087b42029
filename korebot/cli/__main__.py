"""``python -m korebot.cli``: the ``korebot`` command, as the console script runs it."""

from korebot.cli import main

main()
