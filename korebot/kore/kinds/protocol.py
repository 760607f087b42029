"""What every kind's module offers (``Spec``), and what a training's adds (``Training``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from korebot.kore.models import JobStatus, State, Status


@dataclass(frozen=True)
class Request:
    """One call to Kore.ai: the path under the host, and what goes with it."""

    method: str
    path: str
    params: dict[str, str] | None = None
    json: dict[str, str | bool] | None = None
    headers: dict[str, str] = field(default_factory=dict)


class Spec(Protocol):
    """Reading and keeping a kind's answers, and telling its runs apart."""

    #: What people call it: "FAQ", "ML", "batch test".
    label: str
    #: The JWT app's scope its APIs need, as the App Builder and the Admin Console name it.
    scope: str
    admin_scope: str
    #: The key of a status answer that makes it this API's (a body without it is unshaped).
    status_field: str
    #: Whether its calls need the Admin Console app's JWT (publishing), not the bot's app.
    admin_app: bool

    def parse(self, data: Any) -> JobStatus:
        """A status answer (or what ``as_json`` wrote); UnreadableResponse if it is not one."""
        ...

    def status_of(self, raw: str) -> Status:
        """korebot's status for a raw status of this kind (unknown ones: UNKNOWN)."""
        ...

    def placeholder(self, raw_status: str | None) -> JobStatus:
        """What is known of a training from its last recorded raw status alone."""
        ...

    def as_json(self, status: JobStatus) -> dict[str, Any]:
        """Kore.ai's own shape, so that ``parse(as_json(status))`` gives it back."""
        ...

    def run_of(self, status: JobStatus) -> str | None:
        """What identifies the run this answer is about, as the store keeps it."""
        ...

    def calls(self, last: JobStatus | None) -> int:
        """The Kore.ai calls the next poll makes, after answer ``last`` (each spends the
        bot's budget)."""
        ...

    def new_run(self, before: str | None, now: str | None) -> bool:
        """Whether a final answer of run ``now`` is another run than ``before``'s."""
        ...


class Training(Spec, Protocol):
    """A training kind (FAQ, ML): one status call per (bot, language, state), one POST."""

    def status_request(self, bot_id: str, language: str, state: State) -> Request: ...

    def train_request(self, bot_id: str, language: str) -> Request: ...

    def parse_train(self, data: Any) -> JobStatus:
        """The answer to starting a training."""
        ...


def one_call(last: JobStatus | None) -> int:
    """``Spec.calls`` of a kind whose poll is one call, whatever it knew before."""
    return 1
