"""The watch store on SQLAlchemy: the contract (``abc``) answered one table at a time.

Each port of the contract is the module of its table (``targets``, ``watches``,
``subscriptions``, ``slash_commands``, ``start_requests``, ``releases``, ``runs``, ``home_tabs``,
``kore_calls``), so the SQL of an operation is the method of that name there; the lease
is ``leases``, the rows ``tables``, the connection and transactions ``database``, and
``migrate`` brings the schema to the newest revision. ``Store`` puts them together over
one database. On PostgreSQL, due work is read ``FOR UPDATE SKIP LOCKED``, so processes
sharing the database never wait for each other's claims.
"""

from __future__ import annotations

from sqlalchemy import text

from korebot.watch.store import abc
from korebot.watch.store.database import Database
from korebot.watch.store.home_tabs import HomeTabs
from korebot.watch.store.kore_calls import KoreCalls
from korebot.watch.store.leases import Leases
from korebot.watch.store.releases import Releases
from korebot.watch.store.runs import Runs
from korebot.watch.store.slash_commands import SlashCommands
from korebot.watch.store.start_requests import StartRequests
from korebot.watch.store.subscriptions import Subscriptions
from korebot.watch.store.targets import Targets
from korebot.watch.store.watches import Watches

__all__ = ["Store"]


class Store(abc.Store):
    """Owns the SQLAlchemy engine and session factory, and one part per table on them."""

    def __init__(self, url: str) -> None:
        db = Database(url)
        self._db = db
        self.engine, self.session = db.engine, db.session
        self.targets = Targets(db)
        self.watches = Watches(db)
        self.subscriptions = Subscriptions(db)
        self.slash_commands = SlashCommands(db)
        self.start_requests = StartRequests(db)
        self.releases = Releases(db)
        self.runs = Runs(db)
        self.home_tabs = HomeTabs(db)
        self.kore_calls = KoreCalls(db)
        self.leases = Leases(db)

    @property
    def policy(self) -> abc.Policy:
        return self._db.policy

    def configure(self, policy: abc.Policy) -> None:
        self._db.policy = policy

    def healthy(self) -> bool:
        try:
            with self.engine.connect() as connection:
                connection.execute(text("SELECT 1"))
        except Exception:  # any driver error means "not healthy"; /healthz reports it
            return False
        return True

    def dispose(self) -> None:
        self.engine.dispose()
