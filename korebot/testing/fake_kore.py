"""A fake Kore.ai server speaking real HTTP on 127.0.0.1, strict the way Kore.ai is.

It serves the FAQ and the ML training APIs (status ``GET`` and train ``POST`` of each),
the batch test APIs (run, run status, suites list; see `fake_batch`) and the bot publish APIs
(publish, publish status; see `fake_publish`), checks every request as Kore.ai would (path,
``auth`` JWT, the JWT app's scopes, bot, query, body or ``bot-language`` header, per-bot rate
limits shared by all kinds) and answers from per-bot scripts. Two JWT apps: the bot's App
Builder app (``client_id``) for every API but publishing, and an Admin Console app
(``admin_client_id``) for the publish APIs only. Used by the tests, the benchmarks and
``korebot demo``::

    with FakeKore(bots=[BOT]) as kore:
        kore.script(BOT, "en", Status("in-progress"), Status("success"))
        kore.script(BOT, "en", MlStatus("Inprogress"), MlStatus("Finished"), kind="ml")
        kore.batch_suites(BOT, BatchSuite("smoke tests", results=(PastRun("0.91"),)))
        kore.on_batch_run(BOT, "smoke tests", BatchScript(running_polls=2, f1="0.87"))
        kore.on_publish(BOT, PublishScript(running_polls=2, awaiting=("mortgage",)))
        ...  # point a client at kore.url with kore.client_id / kore.client_secret
        ...  # (publishing: kore.admin_client_id / kore.admin_client_secret)
        assert kore.count(BOT) == 2

Token expiry (``exp``/``iat``) is checked against real time, because clients mint tokens with
real time; the injected ``clock`` drives rate limits, ``KoreRequest.at`` and ``modifiedOn``.

This module holds `FakeKore` itself: its lifecycle, scripting, records and the order of the
checks. The pieces: `kore_http` (the server), `kore_checks` (path, JWT, scope, query and
body checks), `kore_rate_limit` (per-bot rate limits), `kore_script` (the steps and how
they are answered), `fake_ml` (the ML answer's shape), `fake_batch` (batch tests) and
`fake_publish` (bot publishing).
"""

from __future__ import annotations

import hashlib
import itertools
import json
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl

from korebot.testing import fake_batch, fake_ml, fake_publish
from korebot.testing.fake_batch import (
    BATCH_SCOPES,
    BatchPost,
    BatchScript,
    BatchSuite,
    LiveRun,
    PastRun,
)
from korebot.testing.fake_ml import MlStatus
from korebot.testing.fake_publish import (
    PUBLISH_SCOPES,
    PublishJob,
    PublishPost,
    PublishScript,
)
from korebot.testing.kore_checks import (
    SCOPES,
    Refused,
    check_auth,
    check_body,
    check_bot_id,
    check_ml_train,
    check_path,
    check_query,
    check_scope,
    check_state,
    route,
)
from korebot.testing.kore_http import HOST, Answer, Incoming, KoreRequest, KoreServer, error
from korebot.testing.kore_rate_limit import RateLimiter
from korebot.testing.kore_script import (
    Answerable,
    Delay,
    Drop,
    Fail,
    Script,
    Status,
    Step,
    group_steps,
    render,
)

__all__ = [
    "BatchPost",
    "BatchScript",
    "BatchSuite",
    "Delay",
    "Drop",
    "Fail",
    "FakeKore",
    "KoreRequest",
    "MlStatus",
    "PastRun",
    "PublishJob",
    "PublishPost",
    "PublishScript",
    "Status",
    "Step",
]

_KINDS = ("status", "train", "any", *fake_batch.KINDS, *fake_publish.KINDS)
_POLL_INTERVAL = 0.01  # how soon stop() takes effect (serve_forever polls for shutdown)


@dataclass(frozen=True)
class _Verdict:
    """The fake's decision for one request, plus what gets recorded about it."""

    answer: Answer
    path: str
    query: dict[str, str]
    claims: dict[str, Any] | None
    at: float


class FakeKore:
    """A scripted, checking Kore.ai FAQ and ML training API on 127.0.0.1 (thread-safe).

    ``client_id`` and ``client_secret`` are public: clients under test mint tokens with them.
    ``scopes``: the kinds of training ("faq", "ml") the JWT app is granted, and the batch
    test scopes ("batch-run": Batch Tests Execution, "batch-manage": Batch Tests Management);
    the others' calls get Kore.ai's 401 "Permission denied. Scope is incorrect!".

    ``admin_client_id`` and ``admin_client_secret``: the Admin Console app, the only one the
    publish APIs accept; ``admin_scopes`` its publish scopes ("publish": Bot Publish >
    Publish, "publish-status": Bot Publish > Publish Status). Either app's JWT on the other
    app's APIs gets the 401 scope error (the App Builder app's on a publish API is how
    korebot learns that the admin credentials are missing or wrong).
    """

    def __init__(
        self,
        client_id: str = "cs-fake-client",
        client_secret: str = "fake-secret-do-not-use-in-production",  # noqa: S107 (a fake)
        *,
        bots: Iterable[str] = (),
        enforce_jti: bool = True,
        rate_limit: tuple[int, int] | None = (60, 1800),
        retry_after_on_limit: bool = True,
        latency: float = 0.0,
        clock: Callable[[], float] = time.time,
        port: int = 0,
        scopes: Iterable[str] = (*SCOPES, *BATCH_SCOPES),
        admin_client_id: str = "cs-fake-admin",
        admin_client_secret: str = "fake-admin-secret-do-not-use-in-production",  # noqa: S107
        admin_scopes: Iterable[str] = tuple(PUBLISH_SCOPES),
    ) -> None:
        self._rate_limiter = (
            None
            if rate_limit is None
            else RateLimiter(rate_limit, retry_after=retry_after_on_limit)
        )
        if latency < 0:
            raise ValueError("latency must not be negative")
        self.client_id = client_id
        self.client_secret = client_secret
        if admin_client_id == client_id:
            raise ValueError("the Admin Console app and the App Builder app must differ")
        self.admin_client_id = admin_client_id
        self.admin_client_secret = admin_client_secret
        self.admin_scopes = frozenset(admin_scopes)
        unknown = self.admin_scopes - set(PUBLISH_SCOPES)
        if unknown:
            raise ValueError(f"admin_scopes takes {tuple(PUBLISH_SCOPES)}, not {sorted(unknown)}")
        self._enforce_jti = enforce_jti
        self._latency = latency
        self._clock = clock
        self._port = port
        self.scopes = set(scopes)
        self._cond = threading.Condition()
        self._bots: set[str] = set()
        # Keyed by (kind, bot, language, state) and (kind, bot, language).
        self._scripts: dict[tuple[str, str, str, str], Script] = {}
        self._trains: dict[tuple[str, str, str], tuple[Step, ...]] = {}
        self._seen_jti: set[str] = set()
        # Batch tests: suites per bot, scripts per (bot, suite), runs by request ID, POSTs.
        self._suites: dict[str, list[BatchSuite]] = {}
        self._batch_scripts: dict[tuple[str, str], BatchScript] = {}
        self._runs: dict[str, LiveRun] = {}
        self._batch_posts: list[BatchPost] = []
        # Publishing: scripts, each bot's latest job, POSTs.
        self._publishes = fake_publish.Publishes()
        self._requests: list[KoreRequest] = []
        self._generation = itertools.count(1)
        self._server: KoreServer | None = None
        self._thread: threading.Thread | None = None
        for bot_id in bots:
            self.add_bot(bot_id)

    # -- lifecycle -------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """Base URL, ``http://127.0.0.1:PORT``; only valid after :meth:`start`."""
        if self._server is None:
            raise RuntimeError("FakeKore is not started")
        return f"http://{HOST}:{self._server.server_address[1]}"

    def start(self) -> FakeKore:
        """Bind 127.0.0.1 and serve from a daemon thread; returns self."""
        if self._server is not None:
            raise RuntimeError("FakeKore is already started")
        server = KoreServer(self, self._port)
        thread = threading.Thread(
            target=server.serve_forever, args=(_POLL_INTERVAL,), name="fake-kore", daemon=True
        )
        thread.start()
        self._server, self._thread = server, thread
        return self

    def stop(self) -> None:
        """Stop serving and close the socket (idempotent)."""
        server, thread = self._server, self._thread
        self._server, self._thread = None, None
        if server is not None:
            server.shutdown()
            server.server_close()
        if thread is not None:
            thread.join()

    def __enter__(self) -> FakeKore:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # -- scripting -------------------------------------------------------------------------

    def add_bot(self, bot_id: str) -> None:
        """Make a bot known (unknown bots get 404)."""
        check_bot_id(bot_id)
        with self._cond:
            self._bots.add(bot_id)

    def script(
        self,
        bot_id: str,
        language: str,
        *steps: Step,
        state: str = "configured",
        kind: str = "faq",
    ) -> None:
        """Replace the status script of the kind's (bot, language, state) training; the last
        step repeats forever. FAQ scripts take Status steps, ML ones MlStatus steps."""
        check_bot_id(bot_id)
        check_state(state)
        units = group_steps(steps, kind)
        with self._cond:
            self._bots.add(bot_id)
            key = (kind, bot_id, language.lower(), state)
            old = self._scripts.get(key)
            version = old.version if old else 1
            self._scripts[key] = Script(units, self._new_training_id(key), version=version)

    def on_train(self, bot_id: str, language: str, *steps: Step, kind: str = "faq") -> None:
        """Script what a train POST of the kind does.

        If the first non-Delay step is a Fail or Drop, every POST answers with it (after the
        leading Delays). Otherwise a POST answers as Kore.ai does (FAQ: in-progress; ML:
        "Training Queued.") and replaces the "configured" status script of (bot, language)
        with ``steps`` (ML: with the model's trainVersion one higher).
        """
        check_bot_id(bot_id)
        group_steps(steps, kind)
        with self._cond:
            self._bots.add(bot_id)
            self._trains[(kind, bot_id, language.lower())] = steps

    def batch_suites(self, bot_id: str, *suites: BatchSuite) -> None:
        """Replace the bot's batch test suites (listed in this order, with their results)."""
        check_bot_id(bot_id)
        names = [suite.name for suite in suites]
        if len(set(names)) != len(names):
            raise ValueError(f"suite names must differ: {names}")
        with self._cond:
            self._bots.add(bot_id)
            self._suites[bot_id] = list(suites)

    def on_batch_run(self, bot_id: str, suite: str, script: BatchScript) -> None:
        """Script what runs of the bot's suite do (default: ``BatchScript()``)."""
        check_bot_id(bot_id)
        with self._cond:
            self._batch_scripts[(bot_id, suite)] = script

    @property
    def batch_posts(self) -> list[BatchPost]:
        """A copy of every batch test run POST that reached a known path, in order."""
        with self._cond:
            return list(self._batch_posts)

    def on_publish(self, bot_id: str, script: PublishScript) -> None:
        """Script what the bot's publish POSTs do (default: ``PublishScript()``)."""
        check_bot_id(bot_id)
        with self._cond:
            self._bots.add(bot_id)
            self._publishes.set_script(bot_id, script)

    def start_publish_elsewhere(
        self,
        bot_id: str,
        script: PublishScript | None = None,
        requested_at: datetime | None = None,
        *,
        initiate_training: bool = True,
    ) -> PublishJob:
        """Start a publish as the builder does (no POST): it becomes the bot's current job,
        requested at ``requested_at`` (default: the clock's now; naive: UTC) by
        `BUILDER_USER`. ``script``: default the bot's (``on_publish``); its ``post`` plays
        no part. Returns the job (read its ``job_id``; the server moves the rest on)."""
        check_bot_id(bot_id)
        with self._cond:
            self._bots.add(bot_id)
            if script is None:
                script = self._publishes.script_for(bot_id)
            if requested_at is None:
                when = datetime.fromtimestamp(self._clock(), UTC)
            elif requested_at.tzinfo is None:
                when = requested_at.replace(tzinfo=UTC)  # naive: taken as UTC
            else:
                when = requested_at
            comment = "published from the builder"
            return self._new_publish(
                bot_id, script, when, fake_publish.BUILDER_USER, initiate_training, comment
            )

    def never_published(self, bot_id: str, answer: Fail | None = None) -> None:
        """Make the bot one never published (until a POST): its status call answers 200
        with ``{}`` (Kore.ai does not document this case), or ``answer`` if given."""
        check_bot_id(bot_id)
        with self._cond:
            self._bots.add(bot_id)
            self._publishes.never_published(bot_id, answer)

    @property
    def publish_posts(self) -> list[PublishPost]:
        """A copy of every publish POST that reached a known path, in order."""
        with self._cond:
            return list(self._publishes.posts)

    # -- inspection ------------------------------------------------------------------------

    @property
    def requests(self) -> list[KoreRequest]:
        """A copy of every request answered so far, in the order answered."""
        with self._cond:
            return list(self._requests)

    def count(
        self, bot_id: str | None = None, *, kind: str = "status", training: str | None = None
    ) -> int:
        """Count recorded requests (refused ones too) of a kind: "status", "train" or "any";
        of one kind of training ("faq", "ml") only, if ``training`` is given. The batch test
        calls count as "batch-run", "batch-status" and "batch-suites" (their ``training``:
        "batch"), the publish calls as "publish" and "publish-status" (``training``:
        "publish")."""
        if kind not in _KINDS:
            raise ValueError(f"kind must be one of {_KINDS}, not {kind!r}")
        total = 0
        for request in self.requests:
            batch = fake_batch.route(request.method, request.path)
            publish = fake_publish.route(request.method, request.path)
            if batch is not None:
                request_kind, request_bot = batch
                request_training = "batch"
            elif publish is not None:
                request_kind, request_bot = publish
                request_training = "publish"
            else:
                request_kind, request_training, request_bot = route(request.method, request.path)
            if kind != "any" and request_kind != kind:
                continue
            if training is not None and request_training != training:
                continue
            if bot_id is None or request_bot == bot_id:
                total += 1
        return total

    def wait_for_requests(self, n: int, timeout: float = 10.0) -> None:
        """Block until at least ``n`` requests were answered, else raise AssertionError."""
        with self._cond:
            if self._cond.wait_for(lambda: len(self._requests) >= n, timeout):
                return
            seen = [f"{r.method} {r.path} -> {r.http_status}" for r in self._requests]
        raise AssertionError(
            f"expected at least {n} requests within {timeout}s, saw {len(seen)}: {seen}"
        )

    # -- internals (called from handler threads) ----------------------------------------------

    def _new_training_id(self, key: tuple[str, ...]) -> str:
        seed = "|".join((*key, str(next(self._generation))))
        return hashlib.sha256(seed.encode()).hexdigest()[:24]

    def _check_auth(self, incoming: Incoming) -> dict[str, Any]:
        """The JWT's claims, if it is the App Builder app's or the Admin Console app's."""
        return check_auth(
            incoming,
            client_id=self.client_id,
            client_secret=self.client_secret,
            seen_jti=self._seen_jti if self._enforce_jti else None,
            others={self.admin_client_id: self.admin_client_secret},
        )

    def _builder_scopes(self, claims: dict[str, Any]) -> set[str]:
        """The App Builder scopes of the JWT's app (the Admin Console app has none)."""
        return set() if claims.get("appId") == self.admin_client_id else self.scopes

    def _record(self, request: KoreRequest) -> None:
        with self._cond:
            self._requests.append(request)
            self._cond.notify_all()

    def _decide(self, incoming: Incoming) -> _Verdict:
        """Run Kore's checks in order and pick the answer; all state under the one lock."""
        path, _, raw_query = incoming.target.partition("?")
        pairs = parse_qsl(raw_query, keep_blank_values=True)
        if fake_batch.route(incoming.method, path) is not None:
            return self._decide_batch(incoming, path, pairs)
        if fake_publish.route(incoming.method, path) is not None:
            return self._decide_publish(incoming, path, pairs)
        with self._cond:
            now = self._clock()
            claims: dict[str, Any] | None = None
            try:
                kind, training, bot_id = check_path(incoming.method, path)
                claims = self._check_auth(incoming)
                check_scope(training, self._builder_scopes(claims))
                if bot_id not in self._bots:
                    raise Refused(error(404, "Bot not found"))
                if kind == "status":
                    # ML's language is optional (the bot's default, here English).
                    language, state = check_query(pairs, required=training == "faq")
                elif training == "faq":
                    language, state = check_body(incoming.body), "configured"
                else:
                    language, state = check_ml_train(incoming), "configured"
                # One budget per bot, whatever the kind: Kore.ai counts training calls by bot.
                if self._rate_limiter is not None:
                    self._rate_limiter.check(bot_id, now)
                if kind == "status":
                    answer = self._status_answer((training, bot_id, language, state), now)
                else:
                    answer = self._train_answer(training, bot_id, language, now)
            except Refused as refused:
                answer = refused.answer
        return _Verdict(answer, path, dict(pairs), claims, now)

    def _script_for(self, key: tuple[str, str, str, str]) -> Script:
        script = self._scripts.get(key)
        if script is None:
            first: Answerable = Status() if key[0] == "faq" else MlStatus()
            script = Script([(0.0, first)], self._new_training_id(key))
            self._scripts[key] = script
        return script

    def _status_answer(self, key: tuple[str, str, str, str], now: float) -> Answer:
        script = self._script_for(key)
        delay, step = script.take()
        return render(step, script, now, delay)

    def _train_answer(self, training: str, bot_id: str, language: str, now: float) -> Answer:
        steps = self._trains.get((training, bot_id, language))
        if steps is None:
            steps = (
                (Status("in-progress"), Status("success"))
                if training == "faq"
                else (MlStatus("Inprogress"), MlStatus("Finished"))
            )
        delay, first = group_steps(steps, training)[0]
        key = (training, bot_id, language, "configured")
        if isinstance(first, Fail | Drop):
            return render(first, self._script_for(key), now, delay)
        version = self._script_for(key).version + 1
        script = Script(group_steps(steps, training), self._new_training_id(key), version=version)
        self._scripts[key] = script
        if isinstance(first, MlStatus):
            body = json.dumps(fake_ml.queued(script.training_id)).encode()
            return Answer(200, body)
        answer = Status("in-progress", training_id=first.training_id)
        return render(answer, script, now, 0.0)

    # -- batch tests ------------------------------------------------------------------------

    def _decide_batch(
        self, incoming: Incoming, path: str, pairs: list[tuple[str, str]]
    ) -> _Verdict:
        """The checks of the batch test APIs (as the trainings', plus ``bot-language``)."""
        with self._cond:
            now = self._clock()
            claims: dict[str, Any] | None = None
            post: dict[str, Any] | None = None
            try:
                target = fake_batch.parse_path(incoming.method, path)
                if target.kind == "batch-run":
                    post = {"bot_id": target.bot_id, "suite": target.suite, "version": None}
                    post |= {"engine": None, "language": incoming.bot_language}
                    post |= _run_body(incoming.body)
                claims = self._check_auth(incoming)
                check_scope(
                    "batch-manage" if target.kind == "batch-suites" else "batch-run",
                    self._builder_scopes(claims),
                )
                if target.bot_id not in self._bots:
                    raise Refused(error(404, "Bot not found"))
                language = fake_batch.check_language_header(incoming.bot_language)
                if target.kind == "batch-run":
                    fake_batch.check_run_body(incoming.body)
                if self._rate_limiter is not None:
                    self._rate_limiter.check(target.bot_id, now)
                answer = self._batch_answer(target, language, pairs, now, post)
            except Refused as refused:
                answer = refused.answer
            if post is not None:
                request_id = post.pop("request_id", None)
                self._batch_posts.append(
                    BatchPost(**post, http_status=answer.http_status, request_id=request_id)
                )
        return _Verdict(answer, path, dict(pairs), claims, now)

    def _batch_answer(
        self,
        target: fake_batch.Target,
        language: str,
        pairs: list[tuple[str, str]],
        now: float,
        post: dict[str, Any] | None,
    ) -> Answer:
        if target.kind == "batch-suites":
            for live in list(self._runs.values()):  # those only a list sees move on with it
                if live.bot_id == target.bot_id and not (live.followed or live.recorded):
                    self._look(live)
            suites = self._suites.get(target.bot_id, [])
            return Answer(200, json.dumps(fake_batch.page(suites, pairs)).encode())
        suites = self._suites.get(target.bot_id, [])
        suite = next((s for s in suites if target.suite in (s.name, s.key)), None)
        if suite is None:
            raise Refused(error(404, f"Test suite not found: {target.suite!r}"))
        if target.kind == "batch-run":
            assert post is not None
            script = self._batch_scripts.get((target.bot_id, suite.name), BatchScript())
            if script.post is not None:
                return fake_batch.refusal(script.post, now)
            request_id = "tr-" + self._new_training_id(("batch", target.bot_id, suite.name))
            self._runs[request_id] = LiveRun(
                request_id, target.bot_id, suite, script, language, post["version"]
            )
            post["request_id"] = request_id
            return Answer(200, json.dumps({"status": "accepted", "requestId": request_id}).encode())
        run = self._runs.get(target.request_id)
        if run is None or run.bot_id != target.bot_id or run.suite.name != suite.name:
            raise Refused(error(404, f"Test run not found: {target.request_id!r}"))
        run.followed = True
        return Answer(200, json.dumps(self._look(run)).encode())

    def _look(self, run: LiveRun) -> dict[str, Any]:
        """The run's status document after one more look; once completed, it is listed."""
        document = run.answer()
        if document["status"] == "completed" and not run.recorded:
            run.recorded = True
            self._record_result(run)
        return document

    def _record_result(self, run: LiveRun) -> None:
        """A completed run joins its suite's results in the list, newest first."""
        suites = self._suites.get(run.bot_id, [])
        for index, suite in enumerate(suites):
            if suite.name == run.suite.name:
                past = (fake_batch.recorded(run), *suite.results)
                suites[index] = BatchSuite(suite.name, suite.type, suite.description, past)
                run.suite = suites[index]

    # -- publishing -------------------------------------------------------------------------

    def _decide_publish(
        self, incoming: Incoming, path: str, pairs: list[tuple[str, str]]
    ) -> _Verdict:
        """The checks of the publish APIs: path, JWT of the Admin Console app with the API's
        scope, bot, body (POST) or no query (status), rate limit."""
        with self._cond:
            now = self._clock()
            claims: dict[str, Any] | None = None
            post: dict[str, Any] | None = None
            job: PublishJob | None = None
            try:
                kind, bot_id = fake_publish.parse_path(incoming.method, path)
                if kind == "publish":
                    post = {"bot_id": bot_id, **fake_publish.post_fields(incoming.body)}
                claims = self._check_auth(incoming)
                admin = claims.get("appId") == self.admin_client_id
                fake_publish.check_app(kind, admin=admin, admin_scopes=self.admin_scopes)
                if bot_id not in self._bots:
                    raise Refused(error(404, "Bot not found"))
                if kind == "publish":
                    comment, initiate_training = fake_publish.check_body(incoming.body)
                else:
                    fake_publish.check_status_query(pairs)
                if self._rate_limiter is not None:
                    self._rate_limiter.check(bot_id, now)
                if kind == "publish":
                    script = self._publishes.script_for(bot_id)
                    if script.post is not None:
                        answer = fake_publish.refusal(script.post, now)
                    else:
                        moment = datetime.fromtimestamp(now, UTC)
                        job = self._new_publish(
                            bot_id,
                            script,
                            moment,
                            fake_publish.ADMIN_USER,
                            initiate_training,
                            comment,
                        )
                        answer = Answer(200, json.dumps(job.post_answer()).encode())
                else:
                    answer, ended = self._publishes.status(bot_id, now)
                    if ended is not None and ended.trains:
                        self._train_published(bot_id, ended.script.languages)
            except Refused as refused:
                answer = refused.answer
            if post is not None:
                job_id = job.job_id if job is not None else None
                self._publishes.posts.append(
                    PublishPost(**post, http_status=answer.http_status, job_id=job_id)
                )
        return _Verdict(answer, path, dict(pairs), claims, now)

    def _new_publish(
        self,
        bot_id: str,
        script: PublishScript,
        requested_at: datetime,
        created_by: str,
        initiate_training: bool,
        version_comment: str,
    ) -> PublishJob:
        """A new job, now the bot's current publish."""
        seed = f"publish|{bot_id}|{next(self._generation)}"
        job_id = fake_publish.new_job_id(seed)
        job = PublishJob(
            job_id, bot_id, script, requested_at, created_by, initiate_training, version_comment
        )
        self._publishes.start(job)
        return job

    def _train_published(self, bot_id: str, languages: Iterable[str]) -> None:
        """A publish with training ended: the published version's FAQ and ML trainings of
        these languages answer in progress for one status call, then success."""
        steps: dict[str, tuple[Step, ...]] = {
            "faq": (Status("in-progress"), Status("success")),
            "ml": (MlStatus("Inprogress"), MlStatus("Finished")),
        }
        for language in languages:
            for kind, kind_steps in steps.items():
                key = (kind, bot_id, language.lower(), "published")
                old = self._scripts.get(key)
                version = old.version + 1 if old else 2
                units = group_steps(kind_steps, kind)
                self._scripts[key] = Script(units, self._new_training_id(key), version=version)


def _run_body(body: bytes) -> dict[str, Any]:
    """What a run POST's body says, as far as it is JSON (recorded even when refused)."""
    try:
        document = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return {}
    if not isinstance(document, dict):
        return {}
    return {"version": document.get("version"), "engine": document.get("engine")}
