"""A pool of worker threads that can wait for its work under way.

Polling and delivery each run their work on one, without waiting for it in the tick.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from typing import Any


class Pool:
    def __init__(self, workers: int, name: str) -> None:
        self.workers = workers
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix=name)
        self._jobs: set[Future[None]] = set()
        self._lock = threading.Lock()

    def submit(self, work: Callable[..., None], *args: Any) -> None:
        job = self._executor.submit(work, *args)
        with self._lock:
            self._jobs.add(job)
        job.add_done_callback(self._forget)  # at once if it is done already

    def drain(self) -> None:
        """Wait for the work submitted so far, and the work it submitted (for tests)."""
        while True:
            with self._lock:
                jobs = list(self._jobs)
            if not jobs:
                return
            wait(jobs)

    def shutdown(self, *, cancel_queued: bool) -> None:
        """Let the work under way finish; with ``cancel_queued``, drop what waits for a worker."""
        self._executor.shutdown(wait=True, cancel_futures=cancel_queued)

    def _forget(self, job: Future[None]) -> None:
        with self._lock:
            self._jobs.discard(job)
