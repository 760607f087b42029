"""Work after an ack waits for the requests that arrived before it, not for later ones."""

from __future__ import annotations

import threading
from contextlib import ExitStack

from slack_bolt import Ack, BoltRequest
from slack_bolt.authorization import AuthorizeResult

from korebot.slack.ack_first import AckFirst, AckFirstExecutor
from korebot.slack.app import AckCountingApp


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


def test_the_app_counts_each_request_until_its_ack() -> None:
    # Over HTTP and Socket Mode alike, Bolt hands each request to dispatch.
    acks = AckFirst()

    def authorize(enterprise_id: str | None, team_id: str | None) -> AuthorizeResult:
        return AuthorizeResult(enterprise_id=enterprise_id, team_id=team_id, bot_token="xoxb-x")

    app = AckCountingApp(acks, signing_secret="unused", authorize=authorize)
    counted: list[bool] = []

    @app.command("/x")
    def acknowledge(ack: Ack) -> None:
        counted.append(acks.pending(acks.arrived()))
        ack()

    command = {"command": "/x", "team_id": "T1", "user_id": "U1", "channel_id": "C1", "text": ""}
    response = app.dispatch(BoltRequest(mode="socket_mode", body=command))
    assert response.status == 200
    assert counted == [True]  # counted while its ack ran...
    assert acks.arrived() == 1
    assert not acks.pending(1)  # ... and no more once acked
