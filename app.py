"""Entry point for platforms: `python app.py` serves the Slack app on $PORT (see Procfile)."""

import sys

from korebot.server import serve

if __name__ == "__main__":
    sys.exit(serve())
