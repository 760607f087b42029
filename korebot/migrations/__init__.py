"""Alembic migrations of korebot's tables, run by ``korebot.watch.store.migrate`` (no alembic.ini).

``python -m korebot.migrations "what changed"`` writes the next revision (see README,
Development).
"""
