"""The leases this process holds, renewed while their work runs (korebot.watch.store.abc).

Polling and delivery register each lease from acquiring it until releasing it (and the
Slack layer a slash command's, from its ack to its end); the engine's renewal job
extends them all, so a slow poll, post or command keeps its work. This is
the holder's list of what it holds, not a lock: the store alone decides who holds what.
"""

from __future__ import annotations

import logging
import threading

from korebot.errors import DatabaseUnavailable
from korebot.watch.store.abc import Leases
from korebot.watch.types import Lease

log = logging.getLogger(__name__)


class HeldLeases:
    def __init__(self, leases: Leases) -> None:
        self.leases = leases
        self._held: set[Lease] = set()
        self._lock = threading.Lock()

    def add(self, lease: Lease) -> None:
        with self._lock:
            self._held.add(lease)

    def discard(self, lease: Lease) -> None:
        with self._lock:
            self._held.discard(lease)

    def count(self, kind: str) -> int:
        with self._lock:
            return sum(1 for lease in self._held if lease.kind == kind)

    def of_kind(self, kind: str) -> list[Lease]:
        with self._lock:
            return [lease for lease in self._held if lease.kind == kind]

    def renew(self) -> None:
        """Extend every held lease (the engine's renewal job)."""
        with self._lock:
            held = list(self._held)
        if not held:
            return
        try:
            lost = self.leases.renew(held)
        except DatabaseUnavailable as error:
            log.warning("Database unavailable, could not renew leases: %s", error.orig)
            return
        with self._lock:  # those released since are not lost
            lost &= self._held
        for lease in lost:  # its release will find it gone, and change nothing
            log.warning("Lost the lease of %s %d (it expired)", lease.kind, lease.id)
