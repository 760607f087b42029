"""Runs the real app (``python app.py``'s code) as a child process, as a platform would.

Used by the end-to-end tests, the demo and the benchmarks. It picks a free port and
passes it as PORT; the app is ready when ``GET /healthz`` answers (200, or 503 if the
app started unhealthy), and has failed to start if it exits first. The process logs to
stderr; every line is kept (``logs``) for tests that scan them.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Mapping
from types import TracebackType

import httpx

# How often a starting app is asked for /healthz (a log line or its exit wakes it sooner).
_READY_POLL = 0.05


class AppProcess:
    def __init__(self, env: Mapping[str, str], *, python: str = sys.executable) -> None:
        self.env = dict(env)
        self.python = python
        self.logs: list[str] = []
        self.port: int | None = None
        self._process: subprocess.Popen[str] | None = None
        self._changed = threading.Condition()

    @property
    def url(self) -> str:
        if self.port is None:
            raise RuntimeError("the app is not running")
        return f"http://127.0.0.1:{self.port}"

    @property
    def events_url(self) -> str:
        return self.url + "/slack/events"

    @property
    def pid(self) -> int:
        if self._process is None:
            raise RuntimeError("the app was never started")
        return self._process.pid

    def start(self, timeout: float = 30.0) -> AppProcess:
        port = _free_port()
        env = {**os.environ, **self.env, "PORT": str(port)}
        self._process = subprocess.Popen(  # noqa: S603  (our own interpreter and module)
            [self.python, "-c", "import sys; from korebot.server import serve; sys.exit(serve())"],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        threading.Thread(target=self._read, args=(self._process,), daemon=True).start()
        self.port = port
        ready = self._wait_ready(timeout)
        if not ready:
            reason = "timed out" if self.returncode is None else f"exited with {self.returncode}"
            self.stop()
            with self._changed:
                logs = "\n".join(self.logs)
            raise RuntimeError(f"app did not start ({reason}):\n" + logs)
        return self

    def _wait_ready(self, timeout: float) -> bool:
        """Whether /healthz answered before the process exited and the timeout passed."""
        deadline = time.monotonic() + timeout
        with httpx.Client(timeout=2.0, trust_env=False) as client:  # no proxy for 127.0.0.1
            while time.monotonic() < deadline and not self._exited():
                try:
                    if client.get(self.url + "/healthz").status_code in (200, 503):
                        return True
                except httpx.TransportError:
                    pass  # not listening yet
                with self._changed:
                    self._changed.wait(_READY_POLL)
        return False

    def _read(self, process: subprocess.Popen[str]) -> None:
        assert process.stdout is not None
        for line in process.stdout:
            with self._changed:
                self.logs.append(line.rstrip("\n"))
                self._changed.notify_all()
        process.wait()
        with self._changed:
            self._changed.notify_all()

    def _exited(self) -> bool:
        return self._process is not None and self._process.poll() is not None

    @property
    def returncode(self) -> int | None:
        return None if self._process is None else self._process.poll()

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 15.0) -> int:
        """Send a signal and wait for the exit; returns the exit code."""
        if self._process is None:
            return 0
        if self._process.poll() is None:
            self._process.send_signal(sig)
            try:
                self._process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        code = self._process.returncode
        self.port = None
        return code

    def kill(self) -> int:
        return self.stop(signal.SIGKILL)

    def __enter__(self) -> AppProcess:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def _free_port() -> int:
    """A port free on 127.0.0.1 now (the app binds it a moment later)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
