"""Start real ``uvicorn`` processes of the app for end-to-end tests."""

from __future__ import annotations

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


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


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
    port = port or free_port()
    environment = {
        **os.environ,
        "PUNCHCLOCK_DATABASE_URL": database_url,
        "PUNCHCLOCK_LOG_LEVEL": "warning",
        **(env or {}),
    }
    command = [
        *serve_command(),
        "serve",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
    ]
    process = subprocess.Popen(
        command
        if serve
        else [
            sys.executable,
            "-m",
            "uvicorn",
            "gql.app:create_app",
            "--factory",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--log-level",
            "warning",
            # Deflating tiny JSON frames costs CPU per subscriber and saves next to nothing.
            "--ws-per-message-deflate",
            "false",
            "--http",
            "gql.httpguard:GuardedHttpToolsProtocol",
        ],
        env=environment,
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    base = Server(f"http://127.0.0.1:{port}")
    base.pid = process.pid
    try:
        deadline = time.monotonic() + 30
        while True:
            if process.poll() is not None:
                output = process.stdout.read().decode() if process.stdout else ""
                raise RuntimeError(f"server exited with {process.returncode}:\n{output}")
            try:
                if httpx.get(base + "/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("server did not come up within 30 s")
            time.sleep(0.1)
        yield base
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if process.stdout:
            process.stdout.close()
