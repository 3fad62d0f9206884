"""A uvicorn process of the app that tests can SIGKILL, restart and read the logs of."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from tests.e2e.server import free_port, reserved_socket, uvicorn_command
from tests.services import IN_CI


def rss_kb(pid: int) -> int:
    """Resident memory of a process in KiB (Linux)."""
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS")


class ServerProcess:
    """One uvicorn process on a fixed port; ``start`` again after ``kill`` or ``stop`` to
    restart it on the same port and database. Its stdout and stderr go to ``log_path``.
    The port's listening socket stays with the test while the server runs: each start
    serves on it; ``stop`` closes it (a later ``start`` binds the port again)."""

    def __init__(
        self, database_url: str, log_path: Path, *, env: dict[str, str] | None = None
    ) -> None:
        self.socket = reserved_socket()
        self.port = self.socket.getsockname()[1]
        self.base = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        self.env = {
            **os.environ,
            "PUNCHCLOCK_DATABASE_URL": database_url,
            "PUNCHCLOCK_LOG_LEVEL": "warning",
            **(env or {}),
        }
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def start(self, *, log_level: str = "warning", args: Sequence[str] = ()) -> None:
        if self.socket.fileno() == -1:  # stopped before: the port again
            self.socket = reserved_socket(self.port)
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                uvicorn_command(
                    self.socket,
                    "--log-level",
                    log_level,
                    "--ws-max-size",
                    self.env.get("PUNCHCLOCK_MAX_BODY_BYTES", str(1024 * 1024)),
                    *args,
                ),
                pass_fds=(self.socket.fileno(),),
                env={**self.env, "PUNCHCLOCK_LOG_LEVEL": log_level},
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 30
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited with {self.process.returncode}:\n{self.log()}")
            try:
                if httpx.get(self.base + "/healthz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("server did not come up within 30 s")
            time.sleep(0.1)

    def kill(self) -> None:
        """``kill -9``: no shutdown handler, no flush, no goodbye. Clients are then refused
        at once, as by a dead server: the listening socket is closed (a socket held open
        would queue their connections until they time out) and bound again, on the same
        port, for the next ``start``."""
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait()
        self.socket.close()
        self.socket = reserved_socket(self.port)

    def stop(self) -> None:
        try:
            if self.process is None or self.process.poll() is not None:
                return
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        finally:
            self.socket.close()

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


@contextmanager
def server_process(
    database_url: str,
    log_path: Path,
    *,
    env: dict[str, str] | None = None,
    log_level: str = "warning",
) -> Iterator[ServerProcess]:
    server = ServerProcess(database_url, log_path, env=env)
    try:
        server.start(log_level=log_level)
        yield server
    finally:
        server.stop()
        server.socket.close()


def _postgres_bin() -> Path | None:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: int(p.parts[-3]))
    return found[-1].parent if found else None


class PrivatePostgres:
    """A PostgreSQL cluster of the test's own, on a free port, to stop and start at will
    (the shared server is never touched). As root, the cluster runs as ``postgres``."""

    def __init__(self) -> None:
        binaries = _postgres_bin()
        if binaries is None:
            message = "PostgreSQL server binaries (initdb, pg_ctl) are not installed"
            if IN_CI:
                pytest.fail(message)
            pytest.skip(message)
        self.bin = binaries
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="pc-pg-"))
        self.data = self.dir / "data"
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"
        self._as = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        if os.geteuid() == 0:
            shutil.chown(self.dir, "postgres", "postgres")

    def _run(self, *args: str) -> None:
        subprocess.run(
            [*self._as, *args], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )

    def init(self) -> None:
        self._run(
            str(self.bin / "initdb"), "-D", str(self.data), "-U", "postgres",
            "--auth=trust", "-E", "UTF8", "--no-sync",
        )  # fmt: skip

    def start(self) -> None:
        options = (
            f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off "
            "-c max_connections=100"
        )
        self._run(
            str(self.bin / "pg_ctl"), "-D", str(self.data), "-o", options,
            "-l", str(self.dir / "postgres.log"), "-w", "-t", "30", "start",
        )  # fmt: skip

    def stop(self, mode: str = "immediate") -> None:
        """``immediate`` is a crash: no checkpoint, clients cut off."""
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "stop")

    def remove(self) -> None:
        with contextlib.suppress(subprocess.CalledProcessError):
            self.stop("immediate")
        shutil.rmtree(self.dir, ignore_errors=True)


@contextmanager
def private_postgres() -> Iterator[PrivatePostgres]:
    cluster = PrivatePostgres()
    try:
        cluster.init()
        cluster.start()
        yield cluster
    finally:
        cluster.remove()
