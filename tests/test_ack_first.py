"""Work after an ack waits for the requests that arrived before it, not for later ones."""

from __future__ import annotations

import threading
from contextlib import ExitStack

from korebot.slack.ack_first import AckFirst, AckFirstExecutor


def test_work_waits_for_earlier_requests_only() -> None:
    acks = AckFirst()
    with ExitStack() as first, ExitStack() as second:
        first.enter_context(acks.request())
        second.enter_context(acks.request())
        horizon = acks.arrived()
        assert acks.pending(horizon)
        with acks.request():  # arrives later: the work does not wait for it
            first.close()
            assert acks.pending(horizon)
            second.close()
            assert not acks.pending(horizon)
            assert acks.pending(acks.arrived())


def test_waiting_work_starts_as_soon_as_the_earlier_requests_are_answered() -> None:
    acks = AckFirst(patience=600)  # far beyond the join below: only an answer can end it
    order: list[str] = []
    with ExitStack() as request:
        request.enter_context(acks.request())
        with AckFirstExecutor(acks, max_workers=1, thread_name_prefix="test") as executor:
            started = threading.Event()
            executor.submit(started.set)  # nothing wakes it: it waits its whole turn...
            work = executor.submit(order.append, "work")
            order.append("ack")
            request.close()  # ... until the request is answered
            work.result(timeout=60)
            assert started.is_set()
    assert order == ["ack", "work"]


def test_no_request_in_flight_means_no_wait() -> None:
    acks = AckFirst(patience=600)
    with AckFirstExecutor(acks, max_workers=1, thread_name_prefix="test") as executor:
        assert executor.submit(lambda: 42).result(timeout=60) == 42
