"""Releasing: each running release's next step, by the holder of its lease.

A release (``korebot_releases``) goes train → gate → publish → live. The engine's tick
leases the due ones (``Releases.acquire_releases``) and this module moves each as far as
it can now: it asks Kore.ai what it needs (through the gateway, sharing the polls'
calls and budget), POSTs what is due, writes what it learnt, has the Notifier show it,
and lets the release go, due again one poll interval later. So any process resumes a
release where the last one left it, and a stopped one ends at its next look.

At most once: a job's POST is written first (``JobPhase.POSTING``, committed with the
lease checked: a holder that lost the lease sends nothing). A holder that finds a job
still POSTING (the last one died around the POST), or whose answer was lost, never
POSTs again: the status says whether the job started, and if it cannot tell, the step
fails saying so.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta

from korebot.errors import DatabaseUnavailable, Undeliverable
from korebot.gateway import StatusGateway
from korebot.kore import (
    InvalidInput,
    JobStatus,
    Kind,
    KoreError,
    KoreUnavailable,
    KoreUnreachable,
    State,
    Status,
    UnreadableResponse,
    kinds,
)
from korebot.kore.errors import BudgetExhausted
from korebot.kore.kinds import batch, publish
from korebot.kore.models import TRAININGS
from korebot.registry import JobKey
from korebot.watch.held_leases import HeldLeases
from korebot.watch.store.abc import Releases
from korebot.watch.thread_pool import Pool
from korebot.watch.types import (
    JobPhase,
    Notifier,
    ReleaseClaim,
    ReleaseJob,
    ReleaseOutcome,
    ReleaseState,
    ReleaseStep,
    ReleaseView,
    StepState,
    StepView,
)

log = logging.getLogger(__name__)

#: The answers of a POST that may or may not have reached Kore.ai.
_LOST = (KoreUnreachable, KoreUnavailable, UnreadableResponse)
#: Seconds before a thread line Slack refused is tried again.
_SHOW_AGAIN = 5.0


class _LeaseLost(Exception):
    """The release's lease is another holder's now: write nothing more, send nothing."""


class _Ended(Exception):
    """The step ended the release."""

    def __init__(self, state: StepState, summary: str, outcome: ReleaseOutcome) -> None:
        super().__init__(summary)
        self.state, self.summary, self.outcome = state, summary, outcome


class Releasing:
    def __init__(
        self,
        releases: Releases,
        gateway: StatusGateway,
        notifier: Notifier,
        held: HeldLeases,
        *,
        interval: float,
        timeout: float,
        clock: Callable[[], datetime],
        stopping: threading.Event,
        workers: int = 2,
    ) -> None:
        self.releases, self.gateway, self.notifier, self.held = releases, gateway, notifier, held
        self.interval, self.timeout, self.clock = interval, timeout, clock
        self._stopping = stopping
        self._pool = Pool(workers, "korebot-release")
        self._capacity = 2 * workers
        self._lock = threading.Lock()

    def tick(self) -> None:
        """Lease the releases due now, up to capacity, and move each on a worker (the
        engine's scheduler job)."""
        with self._lock:
            room = self._capacity - self.held.count("release")
            if room <= 0 or self._stopping.is_set():
                return
            try:
                claims = self.releases.acquire_releases(room)
            except DatabaseUnavailable as error:
                log.warning("Database unavailable, will retry: %s", error.orig)
                return
            for claim in claims:
                self.held.add(claim.lease)
                self._pool.submit(self._guarded, claim)

    def drain(self) -> None:
        self._pool.drain()

    def shutdown(self) -> None:
        """Let the steps under way finish; the queued ones' leases expire (due to anyone)."""
        self._pool.shutdown(cancel_queued=True)

    def _guarded(self, claim: ReleaseClaim) -> None:
        try:
            _Advance(self, claim).run()
        except _LeaseLost:
            log.warning("Lost the lease of release %d; its next holder goes on", claim.lease.id)
        except DatabaseUnavailable as error:  # the lease expires: due again, to anyone
            log.warning("Database unavailable during release %d: %s", claim.lease.id, error.orig)
        except Exception:
            log.exception("Release %d failed a step; it is tried again", claim.lease.id)
        finally:
            self.held.discard(claim.lease)


class _Advance:
    """One look at one release: as far as it can go now, then shown and let go."""

    def __init__(self, releasing: Releasing, claim: ReleaseClaim) -> None:
        self.r, self.lease, self.view = releasing, claim.lease, claim.view
        self.claimed = claim.view
        self.gateway = releasing.gateway
        self.progress, self.step = claim.view.progress, claim.view.step
        self.polled: set[Kind] = set()  # asked about in this look already

    # -- the look --------------------------------------------------------------------------

    def run(self) -> None:
        outcome: ReleaseOutcome | None = None
        if self.view.state is ReleaseState.RUNNING:
            try:
                self._go()
            except _Pause:
                pass
            except _Ended as ended:
                self._end_step(ended.state, ended.summary)
                outcome = ended.outcome
        self._show(self._save(outcome=outcome))

    def _go(self) -> None:
        view = self.view
        if view.stopped_by is not None:
            raise _Ended(StepState.STOPPED, self._stopped(), ReleaseOutcome.STOPPED)
        started = view.started_at or view.created_at
        if self.r.clock() - started > timedelta(seconds=self.r.timeout):
            waited = f"gave up waiting after {self.r.timeout / 60:.0f} min{self._going_on()}"
            raise _Ended(StepState.STOPPED, waited, ReleaseOutcome.TIMED_OUT)
        try:
            bot = self.gateway.registry.resolve(view.bot_name, allow_raw_id=True)
        except InvalidInput as error:
            raise _Ended(StepState.FAILED, str(error), ReleaseOutcome.FAILED) from None
        if (bot.host, bot.bot_id) != (view.host, view.bot_id):
            summary = f"{bot.name} is configured differently now"
            raise _Ended(StepState.FAILED, summary, ReleaseOutcome.FAILED)
        self.bot = bot
        steps = {
            ReleaseStep.TRAIN: self._train,
            ReleaseStep.GATE: self._gate,
            ReleaseStep.PUBLISH: self._publish,
            ReleaseStep.LIVE: self._live,
        }
        while True:  # a step that ends lets the next one begin in the same look
            step = self.step
            self._begin_step()
            steps[step]()
            if self.step is step:
                return

    def _show(self, view: ReleaseView) -> None:
        """Have Slack show it if a step began or ended (or it is not all shown yet), then
        let the lease go: due at the next look, or never once it ended and every line is
        in the thread."""
        before = self.claimed
        changed = (
            view.progress.steps != before.progress.steps
            or view.state is not before.state
            or view.message_ts is None
            or _owed(view, view.progress.lines)
        )
        shown = None
        try:
            if changed:
                shown = self.r.notifier.release_changed(view)
        except Undeliverable as error:  # Slack will never take it: its steps go on unseen
            log.warning("Release %d cannot be shown in Slack: %s", view.release_id, error)
            changed = False
        except Exception:
            log.exception("Could not show release %d; tried again", view.release_id)
            changed = True  # still owed
        if shown is not None:
            self.progress = replace(self.progress, lines=shown.lines)
        owed = changed and (shown is None or _owed(view, self.progress.lines))
        if owed:
            due: datetime | None = self.r.clock() + timedelta(seconds=_SHOW_AGAIN)
        elif view.state is ReleaseState.RUNNING:
            due = self.r.clock() + timedelta(seconds=self.r.interval)
        else:
            due = None
        self._save(message=shown.message if shown else None, due=due, release=True)

    def _save(
        self,
        *,
        outcome: ReleaseOutcome | None = None,
        message: tuple[str, str] | None = None,
        due: datetime | None = None,
        release: bool = False,
    ) -> ReleaseView:
        """Write where the release is, the lease checked (committed: before any POST)."""
        view = self.r.releases.save_release(
            self.lease,
            self.progress,
            self.step,
            outcome=outcome,
            message=message,
            due=due,
            release=release,
        )
        if view is None:
            raise _LeaseLost
        self.view = view
        return view

    # -- steps and jobs --------------------------------------------------------------------

    def _begin_step(self) -> None:
        now = self.progress.step(self.step)
        if now.state is StepState.WAITING:
            self._set_step(replace(now, state=StepState.RUNNING, began_at=self.r.clock()))

    def _end_step(self, state: StepState, summary: str) -> None:
        now = self.progress.step(self.step)
        self._set_step(replace(now, state=state, summary=summary, ended_at=self.r.clock()))

    def _next(self, state: StepState, summary: str) -> None:
        """End this step, and make the next one current."""
        self._end_step(state, summary)
        order = list(ReleaseStep)
        self.step = order[order.index(self.step) + 1]

    def _set_step(self, view: StepView) -> None:
        steps = tuple(view if s.step is view.step else s for s in self.progress.steps)
        self.progress = replace(self.progress, steps=steps)

    def _job(self, kind: Kind) -> ReleaseJob:
        job = self.progress.job(kind)
        assert job is not None, kind
        return job

    def _set_job(self, job: ReleaseJob) -> None:
        others = tuple(j for j in self.progress.jobs if j.kind is not job.kind)
        self.progress = replace(self.progress, jobs=(*others, job))

    def _drop_job(self, kind: Kind) -> None:
        self.progress = replace(
            self.progress, jobs=tuple(j for j in self.progress.jobs if j.kind is not kind)
        )

    def _post(self, job: ReleaseJob, send: Callable[[], JobStatus]) -> None:
        """The job's one POST: written as being sent first (the lease checked, and not if
        the release was stopped meanwhile); a lost answer leaves it to the status, a
        refusal (nothing started) fails the step, a spent budget waits for the next look."""
        self._set_job(job)
        self._save()
        if self.view.stopped_by is not None:
            self._drop_job(job.kind)
            raise _Ended(StepState.STOPPED, self._stopped(), ReleaseOutcome.STOPPED)
        try:
            answer = send()
        except BudgetExhausted:  # spent before sending: nothing went out
            self._drop_job(job.kind)
            raise _Pause from None
        except _LOST:
            self._set_job(replace(job, phase=JobPhase.LOST))
            return
        except KoreError as error:
            self._drop_job(job.kind)
            what = _what(job.kind, self.view)
            summary = f"the {what} was not started: {error}{self._going_on()}"
            raise _Ended(StepState.FAILED, summary, ReleaseOutcome.FAILED) from None
        self._set_job(replace(job, phase=JobPhase.STARTED, last=answer))
        self._save()

    def _unsure(self, kind: Kind) -> _Ended:
        """A POST whose answer was lost, and nothing of it seen since: never sent again."""
        summary = (
            f"Kore.ai did not answer the request to start the {_what(kind, self.view)}, and "
            "nothing newer than it shows: it was not sent again"
        )
        return _Ended(StepState.FAILED, summary, ReleaseOutcome.FAILED)

    # -- train -----------------------------------------------------------------------------

    def _train(self) -> None:
        """FAQ and ML of the configured version, side by side: both statuses read first
        (nothing starts unless both can), a running one joined, else one POST each; done
        when both are, failed at the first that fails."""
        missing = [kind for kind in TRAININGS if self.progress.job(kind) is None]
        if missing:
            before = {kind: self._first(kind) for kind in missing}
            for kind in missing:
                if before[kind].status is Status.IN_PROGRESS:
                    job = ReleaseJob(kind, JobPhase.JOINED, before[kind], seen_running=True)
                    self._set_job(job)
                    continue
                posting = ReleaseJob(kind, JobPhase.POSTING, before[kind], posted_at=self.r.clock())
                self._post(posting, self._starter(kind))
            return  # looked at again after an interval
        for job in [self._job(kind) for kind in TRAININGS]:
            if job.phase in (JobPhase.POSTING, JobPhase.LOST):
                # Running now, or a run newer than the one seen before the POST: followed.
                now = self._status(job.kind, State.CONFIGURED)
                spec = kinds.spec(job.kind)
                seen = spec.run_of(job.last) if job.last is not None else None
                ran = now.status.is_final and spec.new_run(seen, spec.run_of(now))
                if now.status is not Status.IN_PROGRESS and not ran:
                    raise self._unsure(job.kind)
                self._set_job(replace(job, phase=JobPhase.STARTED, last=now, seen_running=True))
            elif not _done(job):
                self._set_job(_seen(job, self._status(job.kind, State.CONFIGURED)))
        trainings = [self._job(kind) for kind in TRAININGS]
        words = _trainings_words(trainings)
        if failed := _failed(trainings):
            summary = f"{failed} training failed: {words}"
            raise _Ended(StepState.FAILED, summary, ReleaseOutcome.FAILED)
        if all(_done(job) for job in trainings):
            self._next(StepState.SUCCEEDED, words)

    def _starter(self, kind: Kind) -> Callable[[], JobStatus]:
        bot, language = self.bot, self.view.language
        return lambda: self.gateway.start_training(bot, language, kind)

    def _first(self, kind: Kind) -> JobStatus:
        status = self._status(kind, State.CONFIGURED)
        if status.status is Status.UNKNOWN:
            summary = (
                f"Kore.ai reports the {_what(kind, self.view)} as {status.raw_status!r}, "
                "a status korebot does not know: nothing was started"
            )
            raise _Ended(StepState.FAILED, summary, ReleaseOutcome.FAILED)
        return status

    # -- gate ------------------------------------------------------------------------------

    def _gate(self) -> None:
        """The suite's one run on the configured version, judged against the bar."""
        view = self.view
        if not view.suite:
            self._next(StepState.SKIPPED, "no suite: no quality gate applies")
            return
        job = self.progress.job(Kind.BATCH)
        if job is None:
            self._run_suite()
            return
        if job.phase in (JobPhase.POSTING, JobPhase.LOST):
            # The run's ID was in the lost answer: the suite's list shows a new completed
            # run once it ended (until then, or the release's timeout, this step waits).
            now = self._status(Kind.BATCH, State.CONFIGURED)
            if not _new_result(job.last, now):
                return
            job = replace(job, phase=JobPhase.STARTED, last=now)
        else:
            job = replace(job, last=self._status(Kind.BATCH, State.CONFIGURED, last=job.last))
        self._set_job(job)
        last = job.last
        if last is None or last.batch is None or not last.status.is_final:
            return
        judged = batch.judge(last.batch, last.previous, _bar(view))
        f1 = last.batch.scores.f1
        score = "no F1 score" if f1 is None else f"F1 {f1:.2f}"
        if judged.verdict is batch.Verdict.PASSED:
            before = last.previous.scores.f1 if last.previous else None
            change = batch.change_words(judged.change, before)
            warning = f" (warning: {judged.warnings[0]})" if judged.warnings else ""
            self._next(
                StepState.SUCCEEDED, ", ".join(filter(None, ("passed", score, change))) + warning
            )
            return
        raise _Ended(StepState.FAILED, "; ".join(judged.reasons), ReleaseOutcome.FAILED)

    def _run_suite(self) -> None:
        view, bot = self.view, self.bot
        try:
            suites = self.gateway.suites(bot, view.language, "poll")
        except KoreError as error:
            if error.transient:
                raise _Pause from None
            raise _Ended(StepState.FAILED, str(error), ReleaseOutcome.FAILED) from None
        suite = batch.find(suites, view.suite)
        if suite is None:
            summary = f"{bot.name} has no batch test suite {view.suite!r} ({view.language})"
            raise _Ended(StepState.FAILED, summary, ReleaseOutcome.FAILED)
        previous = suite.previous(State.CONFIGURED, view.language)
        key = JobKey.of(bot, view.language, State.CONFIGURED, Kind.BATCH, view.suite)
        # Its last completed run before the POST: a lost answer is resolved by a newer one.
        listed = batch.latest(suites, view.suite, State.CONFIGURED, view.language)
        job = ReleaseJob(Kind.BATCH, JobPhase.POSTING, listed, posted_at=self.r.clock())
        self._post(job, lambda: self.gateway.run_suite(bot, key, previous))

    # -- publish and live ------------------------------------------------------------------

    def _publish(self) -> None:
        """Join a running publish, or POST one; then follow it (its POST answered the
        dialogs awaiting approval) until it ends."""
        job = self.progress.job(Kind.PUBLISH)
        if job is None:
            self._post_publish()
            return
        now = self._status(Kind.PUBLISH, publish.STATE, last=job.last)
        if job.phase in (JobPhase.POSTING, JobPhase.LOST):
            if now.publish is None or now.publish.posted_at is None:  # not korebot's yet
                raise self._unsure(Kind.PUBLISH)
            job = replace(job, phase=JobPhase.STARTED)
        self._set_job(replace(job, last=now))
        job_now = now.publish
        if job_now is None or not publish.status_of(job_now.raw_status).is_final:
            return
        if publish.status_of(job_now.raw_status) is not Status.SUCCESS:
            failed = ", ".join(r.name for r in job_now.failed_resources)
            summary = f"Kore.ai says {job_now.raw_status!r}" + (
                f"; failed: {failed}" if failed else ""
            )
            raise _Ended(StepState.FAILED, summary, ReleaseOutcome.FAILED)
        comment = job_now.comment
        how = (
            "joined: it was running"
            if job.phase is JobPhase.JOINED
            else f"published, comment \u201c{comment}\u201d"
        )
        if job_now.awaiting:
            names = ", ".join(a.name for a in job_now.awaiting)
            self._next(StepState.AWAITING_APPROVAL, f"{how}; awaiting approval: {names}")
        else:
            self._next(StepState.SUCCEEDED, how)

    def _post_publish(self) -> None:
        view, bot = self.view, self.bot
        before = self._status(Kind.PUBLISH, publish.STATE)
        if before.status is Status.UNKNOWN and before.raw_status != publish.NEVER:
            summary = (
                f"Kore.ai reports the latest publish as {before.raw_status!r}, which may be "
                "one still running: nothing was published"
            )
            raise _Ended(StepState.FAILED, summary, ReleaseOutcome.FAILED)
        languages = (view.language,)  # its published trainings, followed after success
        if before.status is Status.IN_PROGRESS and before.publish is not None:
            joined = publish.as_status(replace(before.publish, languages=languages))
            self._set_job(ReleaseJob(Kind.PUBLISH, JobPhase.JOINED, joined))
            return
        posted_at = self.r.clock() - publish.CLOCK_SKEW
        comment = self._comment()
        ours = publish.Publish(
            None, "inprogress", None, None, None, None, None, (),
            comment=comment, posted_at=posted_at, languages=languages,
            replaces=before.publish.job_id if before.publish else None,
        )  # fmt: skip
        job = ReleaseJob(
            Kind.PUBLISH, JobPhase.POSTING, publish.as_status(ours), posted_at=posted_at
        )

        def send() -> JobStatus:
            started = self.gateway.publish(bot, comment, train=True)
            return publish.as_status(replace(ours, awaiting=started.awaiting))

        self._post(job, send)

    def _live(self) -> None:
        """The published version's FAQ and ML trainings, which the publish's job follows
        (``publish.trained``) until both are done."""
        job = self._job(Kind.PUBLISH)
        if Kind.PUBLISH not in self.polled:  # the publish step asked just now otherwise
            job = replace(job, last=self._status(Kind.PUBLISH, publish.STATE, last=job.last))
            self._set_job(job)
        last = job.last
        published = last.publish if last is not None else None
        if last is None or published is None or not last.status.is_final:
            return
        words = ", ".join(
            f"{kinds.spec(Kind(t.kind)).label} {t.raw_status or 'not known'}"
            for t in published.trainings
        )
        if failed := published.failed_trainings:
            which = " and ".join(kinds.spec(Kind(t.kind)).label for t in failed)
            summary = f"the published {which} training failed: {words}"
            raise _Ended(StepState.FAILED, summary, ReleaseOutcome.FAILED)
        if published.awaiting:
            raise _Ended(StepState.SUCCEEDED, words, ReleaseOutcome.AWAITING_APPROVAL)
        raise _Ended(StepState.SUCCEEDED, words, ReleaseOutcome.LIVE)

    # -- Kore.ai ---------------------------------------------------------------------------

    def _status(self, kind: Kind, state: State, *, last: JobStatus | None = None) -> JobStatus:
        """A fresh status of the release's job of this kind. A passing fault (or the spent
        budget) ends this look, to ask again at the next; a lasting one fails the step."""
        view = self.view
        language = publish.LANGUAGE if kind is Kind.PUBLISH else view.language
        subject = view.suite if kind is Kind.BATCH else ""
        self.polled.add(kind)
        try:
            return self.gateway.status(
                self.bot, language, state, "poll", kind, subject=subject, last=last
            ).status
        except KoreError as error:
            if error.transient:
                raise _Pause from None
            summary = f"could not read the {_what(kind, view)}'s status: {error}"
            raise _Ended(StepState.FAILED, summary, ReleaseOutcome.FAILED) from None

    # -- words -----------------------------------------------------------------------------

    def _comment(self) -> str:
        """The version comment: the release and its scores."""
        view = self.view
        said = f"korebot release: FAQ and ML trained ({view.language})"
        if not view.suite:
            return publish.version_comment(f"{said}; no quality gate")
        run = self.progress.job(Kind.BATCH)
        scores = run.last.batch.scores if run and run.last and run.last.batch else None
        score = "passed" if scores is None or scores.f1 is None else f"F1 {scores.f1:.2f}"
        name = " ".join(view.suite.split())
        return publish.version_comment(f"{said}; {name} {score}")

    def _stopped(self) -> str:
        """A stopped step's summary (who stopped it is the release's ``stopped_by``)."""
        return self._going_on().removeprefix("; ")

    def _going_on(self) -> str:
        """What the release started at Kore.ai that goes on there (never undone)."""
        going = [
            _what(job.kind, self.view)
            for job in self.progress.jobs
            if job.phase in (JobPhase.STARTED, JobPhase.LOST)
            and (job.last is None or not job.last.status.is_final)
        ]
        return f"; started and going on in Kore.ai: {', '.join(going)}" if going else ""


class _Pause(Exception):
    """Kore.ai failed for a moment (or the budget is spent): this look ends here."""


def _tracked(job: ReleaseJob) -> publish.Published:
    """A training as ``publish.Published`` follows one: its first final answer after the
    POST may still be the last run's."""
    last = job.last or kinds.spec(job.kind).placeholder(None)
    return publish.Published(
        job.kind.value, "", last.raw_status, last.status, job.seen_running, job.finals
    )


def _done(job: ReleaseJob) -> bool:
    return job.last is not None and job.phase is not JobPhase.POSTING and _tracked(job).done


def _failed(trainings: list[ReleaseJob]) -> str:
    return " and ".join(
        kinds.spec(job.kind).label
        for job in trainings
        if _done(job) and job.last is not None and job.last.status is not Status.SUCCESS
    )


def _trainings_words(trainings: list[ReleaseJob]) -> str:
    """ "FAQ success, ML Inprogress (joined: it was running)"."""
    return ", ".join(
        f"{kinds.spec(job.kind).label} {job.last.raw_status if job.last else 'not known yet'}"
        + (" (joined: it was running)" if job.phase is JobPhase.JOINED else "")
        for job in trainings
    )


def _new_result(before: JobStatus | None, now: JobStatus) -> bool:
    """Whether the suite's list shows a completed run that it did not before the POST."""
    if now.batch is None:
        return False
    return before is None or before.batch is None or before.batch.request_id != now.batch.request_id


def _seen(job: ReleaseJob, now: JobStatus) -> ReleaseJob:
    """A training after one more answer."""
    seen = _tracked(job).seen(now.status, now.raw_status)
    return replace(job, last=now, seen_running=seen.seen_running, finals=seen.finals)


def _what(kind: Kind, view: ReleaseView) -> str:
    if kind is Kind.BATCH:
        return f"run of {view.suite!r}"
    if kind is Kind.PUBLISH:
        return f"publish of {view.bot_name}"
    return f"{kinds.spec(kind).label} training"


def _bar(view: ReleaseView) -> batch.Bar:
    """The bar confirmed with the release (the drop: Kore.ai's default if none was set)."""
    if view.max_drop is None:
        return batch.Bar(view.min_f1)
    return batch.Bar(view.min_f1, view.max_drop)


def _owed(view: ReleaseView, lines: tuple[str, ...]) -> bool:
    """Whether the thread still owes a line: an ended step's, or the end's."""
    ended = {s.step.value for s in view.progress.steps if s.ended}
    if view.state is ReleaseState.ENDED:
        ended.add("end")
    return not ended <= set(lines)
