"""``korebot publish``: the status read first, one publish POST (never sent again), the wait
and the verdict; and how a publish is judged and shown, which ``korebot status --kind
publish`` and ``korebot release`` use too."""

from __future__ import annotations

import json
import time
from dataclasses import replace
from datetime import UTC, datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer
from rich.console import Console

from korebot import config as config_module
from korebot.cli.common import (
    BotArg,
    Exit,
    IntervalOpt,
    TimeoutOpt,
    _admin_app,
    _ask,
    _bot,
    _elapsed,
    _fail,
    _loaded,
    _plain,
    _poll,
    _registry,
    _version_comment,
    _when,
    _within,
    err,
    out,
)
from korebot.kore import (
    InvalidInput,
    JobStatus,
    Kind,
    KoreError,
    KoreUnavailable,
    KoreUnreachable,
    Status,
    UnreadableResponse,
)
from korebot.kore.errors import BudgetExhausted
from korebot.kore.kinds import publish
from korebot.registry import Bot

if TYPE_CHECKING:
    from korebot.gateway import StatusGateway

#: ``korebot publish``'s version comment when none is given.
DEFAULT_COMMENT = "Published from the korebot CLI"


def register(app: typer.Typer) -> None:
    """Add ``korebot publish_bot`` to the app."""
    app.command(
        "publish",
        epilog='Example: korebot publish support --comment "Release 42" --wait --timeout 1800',
    )(publish_bot)


def publish_bot(
    bot: BotArg,
    comment: Annotated[
        str,
        typer.Option(
            help=f"The version comment (at most {publish.MAX_COMMENT} characters).",
        ),
    ] = DEFAULT_COMMENT,
    no_training: Annotated[
        bool,
        typer.Option(
            "--no-training",
            help="Do not have Kore.ai train the published version (it does by default).",
        ),
    ] = False,
    wait: Annotated[
        bool,
        typer.Option("--wait", help="Wait for the publish to end (or the --timeout)."),
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    interval: IntervalOpt = 10.0,
    timeout: TimeoutOpt = 3600.0,
) -> None:
    """Publish the bot (its Admin Console app: KORE_ADMIN_CLIENT_ID and
    KORE_ADMIN_CLIENT_SECRET, or the bot's admin_client_id and admin_client_secret_env).

    One POST, never sent again: a publish already running is reported (and waited for with
    --wait) instead; a lost answer is resolved by reading the status. Exit 0 published, 1
    failed (naming the failed resources), 3 still running or dialogs awaiting approval
    (without --wait a started publish is 3), 4 Kore.ai error (nothing published, or it
    cannot be told), 2 usage or missing admin credentials.
    """
    text = _version_comment(comment)
    with _loaded() as loaded:
        target = _bot(loaded.registry, bot)
        _admin_app(loaded.registry, target)
        run = _Publishing(target, as_json, timeout)
        run.start(loaded, text, train=not no_training, wait=wait, interval=interval)


# -- publishing ---------------------------------------------------------------------------


class PublishVerdict(StrEnum):
    """What a publish came to, for ``korebot publish`` and ``status --kind publish``."""

    PUBLISHED = "published"
    FAILED = "failed"
    NEVER_PUBLISHED = "never_published"
    RUNNING = "running"
    AWAITING_APPROVAL = "awaiting_approval"
    UNKNOWN = "unknown"

    @property
    def exit(self) -> Exit:
        return _VERDICT_EXITS[self][0]

    @property
    def meaning(self) -> str:
        return _VERDICT_EXITS[self][1]


_VERDICT_EXITS = {
    PublishVerdict.PUBLISHED: (Exit.SUCCESS, "the publish succeeded"),
    PublishVerdict.FAILED: (Exit.FAILURE, "the publish failed"),
    PublishVerdict.NEVER_PUBLISHED: (Exit.FAILURE, "the bot was never published"),
    PublishVerdict.RUNNING: (Exit.IN_PROGRESS, "the publish is still running"),
    PublishVerdict.AWAITING_APPROVAL: (
        Exit.IN_PROGRESS,
        "the publish ended, but dialogs await an admin's approval",
    ),
    PublishVerdict.UNKNOWN: (Exit.KORE_ERROR, "Kore.ai reported a status korebot does not know"),
}


def _publish_verdict(result: JobStatus) -> PublishVerdict:
    job = result.publish
    if result.status is Status.SUCCESS:
        awaiting = job is not None and bool(job.awaiting)
        return PublishVerdict.AWAITING_APPROVAL if awaiting else PublishVerdict.PUBLISHED
    if result.status is Status.FAILURE:
        return PublishVerdict.FAILED
    if result.status is Status.IN_PROGRESS:
        return PublishVerdict.RUNNING
    if result.raw_status == publish.NEVER:
        return PublishVerdict.NEVER_PUBLISHED
    return PublishVerdict.UNKNOWN


def _publish_status(name: str, as_json: bool) -> NoReturn:
    """``korebot status BOT --kind publish``: the bot's latest publish, one call."""
    with _registry() as registry:
        target = _bot(registry, name)
        result = _ask(
            lambda: publish.as_status(
                registry.client(target, admin=True).publish_status(target.bot_id)
            )
        )
        verdict = _publish_verdict(result)
        if as_json:
            out.print_json(json.dumps(_publish_data(target, result, verdict)))
        else:
            _print_publish(target, result, verdict)
        raise typer.Exit(verdict.exit)


class _Publishing:
    """``korebot publish``: the status read first (a running publish is joined, never
    POSTed over), one POST (never sent again), then the status; every call spends the
    bot's budget (the app's, when its database is there), as ``watch`` does."""

    def __init__(
        self,
        bot: Bot,
        as_json: bool,
        timeout: float,
        *,
        info: Console | None = None,
        began: float | None = None,
    ) -> None:
        self.bot = bot
        self.as_json = as_json
        #: Since when it has waited (``korebot release``: since the release began).
        self.began = time.monotonic() if began is None else began
        self.deadline = self.began + timeout
        #: When korebot POSTed, less the clock skew (None: no POST, a running one joined).
        self.posted_at: datetime | None = None
        #: The job the status showed before the POST (its ID and time): never the POST's.
        self.before: tuple[str | None, datetime | None] | None = None
        self.sent: publish.Started | None = None
        self.comment: str | None = None
        self.train = True
        self.answer_lost: str | None = None
        # Text goes to stdout; with --json, stdout is the one object and the rest stderr.
        self.info = info or (err if as_json else out)

    def start(
        self, loaded: config_module.Config, comment: str, *, train: bool, wait: bool,
        interval: float,
    ) -> NoReturn:  # fmt: skip
        from korebot.wiring import command_line_gateway  # SQLAlchemy, as for `watch`

        with command_line_gateway(loaded) as gateway:
            result = self.run(gateway, comment, train=train, wait=wait, interval=interval)
        self._verdict(result, waited=wait)

    def run(
        self, gateway: StatusGateway, comment: str, *, train: bool, wait: bool, interval: float
    ) -> JobStatus:
        """Join a running publish, or POST one; with ``wait``, until it ends (exit 3 at the
        deadline). The status as far as it is known to be this publish's."""
        bot = self.bot
        try:
            before = self._read(gateway)
        except InvalidInput as error:
            _fail(Exit.USAGE, str(error))
        except KoreError as error:
            _fail(
                Exit.KORE_ERROR,
                f"Nothing was published: korebot could not read {bot.name}'s publish "
                f"status first. {error}",
            )
        if before.status is Status.IN_PROGRESS:
            self._say(
                f"A publish of {bot.label} is already running: not publishing again"
                + (", waiting for it instead." if wait else ".")
            )
            result = before
        elif before.status is Status.UNKNOWN and before.raw_status != publish.NEVER:
            _fail(
                Exit.KORE_ERROR,
                f"Nothing was published: Kore.ai reports {bot.name}'s latest publish as "
                f"{_plain(before.raw_status)!r}, a status korebot does not know (it may "
                f"still be running). Check with `korebot status {bot.name} --kind "
                "publish` and the Kore.ai builder.",
            )
        else:
            if before.publish is not None and before.publish.requested_at is not None:
                self.before = (before.publish.job_id, before.publish.requested_at)
            result = self._post(gateway, comment, train)
        return self._wait(gateway, result, interval) if wait else result

    # -- the one POST ---------------------------------------------------------------------

    def _post(self, gateway: StatusGateway, comment: str, train: bool) -> JobStatus:
        bot = self.bot
        self.comment, self.train = comment, train
        while True:
            # Less the clock skew: Kore.ai's clock may be behind korebot's.
            self.posted_at = datetime.now(UTC) - publish.CLOCK_SKEW
            try:
                self.sent = gateway.publish(bot, comment, train=train)
            except BudgetExhausted as error:  # raised before anything is sent
                if time.monotonic() + error.retry_after > self.deadline:
                    _fail(Exit.KORE_ERROR, f"{error} Nothing was published.")
                time.sleep(error.retry_after)
                continue
            except (KoreUnreachable, KoreUnavailable, UnreadableResponse) as error:
                return self._lost(gateway, error)
            except InvalidInput as error:
                _fail(Exit.USAGE, f"Nothing was published: {error}")
            except KoreError as error:  # refused: nothing published
                _fail(Exit.KORE_ERROR, f"{bot.name} was not published: {error}")
            break
        self._report_sent(self.sent)
        try:
            now = self._read(gateway)
        except KoreError as error:
            self._say(f"korebot: could not read the publish's status yet: {error}", err)
            return self._ours(None)
        return self._ours(now)

    def _lost(self, gateway: StatusGateway, error: KoreError) -> JobStatus:
        """The POST may or may not have reached Kore.ai: never sent again; the status says."""
        bot = self.bot
        self.answer_lost = str(error)
        try:
            now = self._read(gateway)
        except KoreError as status_error:
            _fail(
                Exit.KORE_ERROR,
                f"Kore.ai did not answer the request to publish {bot.name} ({error}), and "
                f"korebot cannot tell whether it started ({status_error}). It was not sent "
                f"again: check with `korebot status {bot.name} --kind publish` before trying "
                "again.",
            )
        if not self._is_ours(now.publish):
            _fail(
                Exit.KORE_ERROR,
                f"Kore.ai did not answer the request to publish {bot.name} ({error}), and no "
                "publish newer than it shows: it was not sent again; run the command again "
                "if you want.",
            )
        self._say(
            f"Kore.ai did not answer the request to publish {bot.label} ({error}), but a "
            "publish newer than it shows: it started (the request was not sent again)."
        )
        return self._ours(now)

    def _ours(self, now: JobStatus | None) -> JobStatus:
        """The status as far as it is the POST's publish, with what the POST said of it;
        a placeholder (running, no job yet) while Kore.ai shows an older one."""
        job = now.publish if now is not None else None
        if job is None or not self._is_ours(job):
            job = publish.Publish(None, "inprogress", None, None, None, None, None, ())
        awaiting = self.sent.awaiting if self.sent is not None else ()
        return publish.as_status(replace(job, awaiting=awaiting, comment=self.comment))

    def _is_ours(self, job: publish.Publish | None) -> bool:
        """Whether the job is the one the POST started: not older than the POST (less the
        clock skew), and not the one the status showed before it."""
        if job is None or self.posted_at is None or not publish.ours(job, self.posted_at):
            return False
        return self.before is None or (job.job_id, job.requested_at) != self.before

    def _mine(self, result: JobStatus) -> bool:
        """Whether the status is of the publish this command follows."""
        if self.posted_at is None:
            return True  # joined: whatever the bot's latest publish is
        job = result.publish  # ``_ours``: the POST's job, or a placeholder requested never
        return job is not None and job.requested_at is not None

    # -- waiting --------------------------------------------------------------------------

    def _wait(self, gateway: StatusGateway, result: JobStatus, interval: float) -> JobStatus:
        bot = self.bot
        last = result
        shown = ""
        while not (self._mine(last) and last.status is not Status.IN_PROGRESS):
            line = self._progress(last)
            if line != shown:
                elapsed = _elapsed(time.monotonic() - self.began)
                err.print(f"[{elapsed}] {bot.name}: {line}", markup=False, emoji=False)
                shown = line
            pause = interval
            if time.monotonic() + pause > self.deadline:
                self._gave_up(last)
            time.sleep(pause)
            try:
                now = _poll(lambda: self._latest(gateway))
            except BudgetExhausted as error:
                if time.monotonic() + error.retry_after > self.deadline:
                    self._gave_up(last)
                time.sleep(max(0.0, error.retry_after - interval))
                continue
            if now is None:
                continue
            last = self._ours(now) if self.posted_at is not None else now
        return last

    def _progress(self, result: JobStatus) -> str:
        job = result.publish
        if not self._mine(result) or job is None:
            return "waiting for Kore.ai to show the publish"
        words = _plain(result.raw_status)
        if job.percent is not None:
            words += f", {job.percent} % complete"
        return words

    def _gave_up(self, last: JobStatus) -> NoReturn:
        took = _elapsed(self.deadline - self.began)
        seen = self._progress(last)
        if self.as_json:
            out.print_json(json.dumps(self.data(last, PublishVerdict.RUNNING)))
        _fail(
            Exit.IN_PROGRESS,
            f"Gave up waiting after {took}; last status: {seen}. The publish goes on in "
            f"Kore.ai: `korebot status {self.bot.name} --kind publish` tells how it ends.",
        )

    # -- the verdict ----------------------------------------------------------------------

    def _verdict(self, result: JobStatus, *, waited: bool) -> NoReturn:
        verdict = _publish_verdict(result)
        if not self._mine(result):
            verdict = PublishVerdict.RUNNING
        if self.as_json:
            out.print_json(json.dumps(self.data(result, verdict)))
        else:
            _print_publish(self.bot, result, verdict, known=self._mine(result))
            if verdict is PublishVerdict.RUNNING and not waited:
                out.print(
                    "Not waiting (--wait waits for it): `korebot status "
                    f"{self.bot.name} --kind publish` tells how it ends.",
                    markup=False,
                    emoji=False,
                )
        raise typer.Exit(verdict.exit)

    def data(self, result: JobStatus, verdict: PublishVerdict) -> dict[str, object]:
        """The publish as ``--json`` prints it."""
        data = _publish_data(self.bot, result, verdict, known=self._mine(result))
        sent = self.sent
        return data | {
            "posted": self.posted_at is not None,
            "joined": self.posted_at is None,
            "answer_lost": self.answer_lost,
            "comment": self.comment,
            "training": self.train if self.posted_at is not None else None,
            "sent": [_resource_data(r) for r in sent.resources] if sent is not None else None,
        }

    # -- words ----------------------------------------------------------------------------

    def _report_sent(self, sent: publish.Started) -> None:
        bot = self.bot
        training = "with training" if self.train else "without training"
        names = ", ".join(_resource_name(r) for r in sent.resources) or "none listed"
        self._say(
            f"Publishing {bot.label} ({training}, comment \u201c{_plain(self.comment or '')}"
            f"\u201d): Kore.ai took the request. Resources: {names}."
        )
        if sent.awaiting:
            self._say(_awaiting_line(sent.awaiting))

    def _say(self, text: str, console: Console | None = None) -> None:
        (console or self.info).print(text, markup=False, emoji=False, overflow="ignore", crop=False)

    def _read(self, gateway: StatusGateway) -> JobStatus:
        """A fresh status of the bot's latest publish, waiting for the bot's budget
        (within the deadline); KoreError as raised."""
        return _within(self.deadline, lambda: self._latest(gateway))

    def _latest(self, gateway: StatusGateway) -> JobStatus:
        """One status call: the bot's latest publish."""
        return gateway.status(
            self.bot, publish.LANGUAGE, publish.STATE, "poll", Kind.PUBLISH
        ).status


def _resource_name(resource: publish.Resource) -> str:
    kind = f" ({_plain(resource.type)})" if resource.type else ""
    return _plain(resource.name) + kind


def _resource_data(resource: publish.Resource) -> dict[str, object]:
    return {"name": resource.name, "type": resource.type, "status": resource.status}


def _approvals(awaiting: tuple[publish.Approval, ...]) -> str:
    return ", ".join(
        _plain(a.name) + (f" ({', '.join(_plain(x) for x in a.languages)})" if a.languages else "")
        for a in awaiting
    )


def _awaiting_line(awaiting: tuple[publish.Approval, ...]) -> str:
    return f"Awaiting approval: {_approvals(awaiting)}. They are published once {publish.UNBLOCK}."


_PUBLISH_MARKS = {
    PublishVerdict.PUBLISHED: "✔",
    PublishVerdict.FAILED: "✘",
    PublishVerdict.NEVER_PUBLISHED: "✘",
    PublishVerdict.RUNNING: "…",
    PublishVerdict.AWAITING_APPROVAL: "⚠",
    PublishVerdict.UNKNOWN: "?",
}


def _publish_headline(bot: Bot, result: JobStatus, verdict: PublishVerdict) -> str:
    return f"{_PUBLISH_MARKS[verdict]} {_publish_words(bot, result, verdict)}"


def _publish_words(bot: Bot, result: JobStatus, verdict: PublishVerdict) -> str:
    """What a publish came to, in a line: "support published", "Publishing support
    failed: Natural Language failed"…"""
    job = result.publish
    name = bot.name
    if verdict is PublishVerdict.PUBLISHED:
        return f"{name} published"
    if verdict is PublishVerdict.FAILED:
        failed = ", ".join(_plain(r.name) for r in (job.failed_resources if job else ()))
        return f"Publishing {name} failed" + (f": {failed} failed" if failed else "")
    if verdict is PublishVerdict.NEVER_PUBLISHED:
        return f"{name} has never been published"
    if verdict is PublishVerdict.RUNNING:
        percent = job.percent if job is not None else None
        done = f" ({percent} % complete)" if percent is not None else ""
        return f"Publishing {name} is still running{done}"
    if verdict is PublishVerdict.AWAITING_APPROVAL:
        waiting = _approvals(job.awaiting) if job is not None else ""
        return f"{name} published, except the dialogs awaiting approval: {waiting}"
    return (
        f"Kore.ai reports the latest publish of {name} as {_plain(result.raw_status)!r}, "
        "a status korebot does not know"
    )


def _print_publish(
    bot: Bot, result: JobStatus, verdict: PublishVerdict, *, known: bool = True
) -> None:
    """A publish as plain lines (never wrapped or cut): the verdict, then its details."""
    job = result.publish if known else None
    rows = [("Bot", bot.label)]
    if not known:
        rows.append(("State", "started; Kore.ai does not show it yet"))
    else:
        rows.append(("State", _plain(result.raw_status)))
    if job is not None:
        if job.job_id:
            rows.append(("Job ID", job.job_id))
        if job.requested_at:
            rows.append(("Requested", _when(job.requested_at)))
        if job.created_by:
            rows.append(("By", _plain(job.created_by)))
        if job.percent is not None:
            rows.append(("Complete", f"{job.percent} %"))
        if job.modified_at and job.modified_at != job.requested_at:
            rows.append(("Changed", _when(job.modified_at)))
        if job.comment:
            rows.append(("Comment", f"\u201c{_plain(job.comment)}\u201d"))
        if job.resources:
            rows.append(
                (
                    "Resources",
                    ", ".join(
                        f"{_plain(r.name)} " + (f"✘ {_plain(r.status or '')}" if r.failed else "✔")
                        for r in job.resources
                    ),
                )
            )
        if job.awaiting:
            rows.append(("Awaiting", f"{_approvals(job.awaiting)}: {publish.UNBLOCK}"))
    out.print(_publish_headline(bot, result, verdict), markup=False, emoji=False, crop=False)
    for label, value in rows:
        out.print(f"{label:<12} {value}", markup=False, emoji=False, overflow="ignore", crop=False)
    if verdict is PublishVerdict.UNKNOWN:
        err.print(
            f"korebot: Kore.ai reported an unknown publish status {result.raw_status!r}.",
            markup=False,
        )


def _publish_data(
    bot: Bot, result: JobStatus, verdict: PublishVerdict, *, known: bool = True
) -> dict[str, object]:
    job = result.publish if known else None
    return {
        "bot": bot.name,
        "bot_id": bot.bot_id,
        "kind": Kind.PUBLISH.value,
        "state": result.raw_status if known else None,
        "status": result.status.value,
        "job_id": job.job_id if job else None,
        "requested_at": _iso(job.requested_at) if job else None,
        "requested_by": job.created_by if job else None,
        "modified_at": _iso(job.modified_at) if job else None,
        "percent_complete": job.percent if job else None,
        "resources": [_resource_data(r) for r in job.resources] if job else [],
        "failed_resources": [r.name for r in job.failed_resources] if job else [],
        "awaiting_approval": [
            {"name": a.name, "languages": list(a.languages)} for a in job.awaiting
        ]
        if job
        else [],
        "verdict": verdict.value,
        "exit_code": int(verdict.exit),
        "meaning": verdict.meaning,
    }


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None
