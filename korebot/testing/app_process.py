"""Runs the real app (``python app.py``'s code) as a child process, as a platform would.

Used by the end-to-end tests, the demo and the benchmarks. The process logs to
stderr; every line is kept, and readiness is the "listening on" line, so nothing
waits on a timer.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Mapping
from types import TracebackType

_LISTENING = re.compile(r"korebot listening on http://[^:]+:(\d+)")


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

    def start(self, timeout: float = 30.0) -> AppProcess:
        env = {**os.environ, "PORT": "0", **self.env}
        self.port = None
        self._process = subprocess.Popen(  # noqa: S603  (our own interpreter and module)
            [self.python, "-c", "import sys; from korebot.server import serve; sys.exit(serve())"],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        threading.Thread(target=self._read, args=(self._process,), daemon=True).start()
        with self._changed:
            ready = self._changed.wait_for(
                lambda: self.port is not None or self._exited(), timeout=timeout
            )
        if self.port is None:
            self.stop()
            reason = "timed out" if not ready else f"exited with {self.returncode}"
            raise RuntimeError(f"app did not start ({reason}):\n" + "\n".join(self.logs))
        return self

    def _read(self, process: subprocess.Popen[str]) -> None:
        assert process.stdout is not None
        for line in process.stdout:
            with self._changed:
                self.logs.append(line.rstrip("\n"))
                match = _LISTENING.search(line)
                if match:
                    self.port = int(match.group(1))
                self._changed.notify_all()
        process.wait()
        with self._changed:
            self._changed.notify_all()

    def _exited(self) -> bool:
        return self._process is not None and self._process.poll() is not None

    @property
    def returncode(self) -> int | None:
        return None if self._process is None else self._process.poll()

    def wait_for_log(self, text: str, timeout: float = 10.0) -> None:
        with self._changed:
            if not self._changed.wait_for(
                lambda: any(text in line for line in self.logs), timeout=timeout
            ):
                raise AssertionError(f"no log line with {text!r}:\n" + "\n".join(self.logs))

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
