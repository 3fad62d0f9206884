"""Start real ``uvicorn`` processes of the app for end-to-end tests."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families


def free_port() -> int:
    """A port free at this instant; another process may take it before it is bound (the
    servers started here get a socket instead: :func:`reserved_socket`)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def reserved_socket(port: int = 0) -> socket.socket:
    """A listening socket on a free loopback port (or on ``port``), held by the test
    process and handed to each server process as a file descriptor (``uvicorn --fd``): no
    other process can take the port between choosing it and serving on it, and a server
    restarted on it finds it still there."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # rebinding our own port
    # uvicorn takes an --fd socket for a Unix one and leaves Nagle's algorithm on, which
    # with delayed ACKs holds every small answer 40 ms; accepted sockets inherit this.
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.bind(("127.0.0.1", port))
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def uvicorn_command(sock: socket.socket, *args: str) -> list[str]:
    """``uvicorn`` serving the app on ``sock`` as ``punchclock serve`` runs it."""
    return [
        sys.executable,
        "-m",
        "uvicorn",
        "gql.server.app:create_app",
        "--factory",
        "--fd",
        str(sock.fileno()),
        # Deflating tiny JSON frames costs CPU per subscriber and saves next to nothing.
        "--ws-per-message-deflate",
        "false",
        "--http",
        "gql.server.httpguard:GuardedHttpToolsProtocol",
        *args,
    ]


ADDRESS_IN_USE = "address already in use"


async def metric(base: str, name: str, **labels: str) -> float:
    """The sum of a server's ``/metrics`` samples of ``name`` with ``labels``."""
    async with httpx.AsyncClient() as client:
        text = (await client.get(base + "/metrics")).text
    total = 0.0
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and labels.items() <= sample.labels.items():
                total += sample.value
    return total


async def until_live(base: str, count: int, timeout: float = 30) -> None:
    """Wait until the server runs exactly ``count`` subscriptions (so a subscription is
    registered before the change a test makes, or ended when it should)."""
    deadline = time.monotonic() + timeout
    while (live := await metric(base, "punchclock_live_subscriptions")) != count:
        if time.monotonic() > deadline:
            raise AssertionError(f"{live} subscriptions, not {count}, after {timeout} s")
        await asyncio.sleep(0.05)


def serve_command() -> list[str]:
    """The ``punchclock`` command of this environment."""
    script = shutil.which("punchclock", path=str(Path(sys.executable).parent))
    return [script] if script else [sys.executable, "-m", "gql.cli"]


class Server(str):
    """The base URL of a running server, which also knows the server's process id."""

    pid: int


@contextmanager
def running_server(
    database_url: str,
    *,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
    serve: bool = False,
    port: int | None = None,
) -> Iterator[Server]:
    """A uvicorn process serving the app on a free port (or ``port``: a restart of a server
    its clients reconnect to); yields its base URL.

    ``serve=True`` starts it as production does, with ``punchclock serve``.
    """
    wanted = port or 0
    environment = {
        **os.environ,
        "PUNCHCLOCK_DATABASE_URL": database_url,
        "PUNCHCLOCK_LOG_LEVEL": "warning",
        **(env or {}),
    }
    with contextlib.ExitStack() as stack:
        for _ in range(5):  # `serve` binds a port itself: retry if another process took it
            if serve:
                port = wanted or free_port()
                command = [
                    *serve_command(),
                    *("serve", "--host", "127.0.0.1", "--port", str(port)),
                ]
                fds: tuple[int, ...] = ()
            else:
                sock = stack.enter_context(reserved_socket(wanted))
                port = sock.getsockname()[1]
                command = uvicorn_command(sock, "--log-level", "warning")
                fds = (sock.fileno(),)
            process = subprocess.Popen(
                command,
                env=environment,
                cwd=cwd,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                pass_fds=fds,
            )
            try:
                _wait_until_up(process, f"http://127.0.0.1:{port}")
            except _PortTaken:
                continue
            except BaseException:
                _stop(process)
                raise
            break
        else:
            raise RuntimeError("no free port after 5 tries")
        base = Server(f"http://127.0.0.1:{port}")
        base.pid = process.pid
        try:
            yield base
        finally:
            _stop(process)


class _PortTaken(Exception):
    pass


def _wait_until_up(process: subprocess.Popen[bytes], base: str) -> None:
    deadline = time.monotonic() + 60
    while True:
        if process.poll() is not None:
            output = process.stdout.read().decode() if process.stdout else ""
            if ADDRESS_IN_USE in output.lower():
                raise _PortTaken(output)
            raise RuntimeError(f"server exited with {process.returncode}:\n{output}")
        try:
            if httpx.get(base + "/healthz", timeout=5).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError("server did not come up within 60 s")
        time.sleep(0.1)


def _stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
    if process.stdout:
        process.stdout.close()
