"""korebot: Kore.ai FAQ training status in Slack and on the command line."""

__version__ = "0.1.0"
