"""The quick start, as a newcomer runs it: ``punchclock serve --demo`` on an empty SQLite file."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO

import httpx
import pytest

from tests.e2e.server import free_port

pytestmark = pytest.mark.e2e

QUERY = """{ viewer { nickname }
  teams { name runningEntries { id } timeEntries(first: 1) { totalCount } } }"""


def _collect(stream: IO[str], lines: list[str]) -> None:
    # A thread drains the pipe: the test never blocks on a silent server, and a chatty
    # one never fills the pipe and stalls.
    for line in stream:
        lines.append(line)


def _wait_for(what: str, ready: Callable[[], bool], lines: list[str], deadline: float) -> None:
    while not ready():
        assert time.monotonic() < deadline, f"no {what} within the time limit:\n{''.join(lines)}"
        time.sleep(0.1)


def test_serve_demo_from_scratch(tmp_path: Path) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    script = shutil.which("punchclock", path=str(Path(sys.executable).parent)) or "punchclock"
    env = {
        **os.environ,
        "PUNCHCLOCK_DATABASE_URL": f"sqlite:///{tmp_path / 'demo.db'}",
        "PUNCHCLOCK_HOST": "127.0.0.1",
    }
    process = subprocess.Popen(
        [script, "serve", "--demo", "--port", str(port)],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: list[str] = []
    reader = threading.Thread(target=_collect, args=(process.stdout, lines), daemon=True)
    reader.start()
    try:
        deadline = time.monotonic() + 60

        def up() -> bool:
            assert process.poll() is None, "".join(lines)
            try:
                return httpx.get(f"{base}/healthz", timeout=1).status_code == 200
            except httpx.HTTPError:
                return False

        _wait_for(
            "GraphiQL URL", lambda: any("GraphiQL:" in line for line in lines), lines, deadline
        )
        _wait_for("/healthz", up, lines, deadline)
        output = "".join(lines)
        assert f"{base}/graphql" in output
        found = dict(re.findall(r"^\s*(OWNER|ADMIN|MEMBER)\b.*token: (pc_\S+)$", output, re.M))
        assert set(found) == {"OWNER", "ADMIN", "MEMBER"}, output

        response = httpx.post(
            f"{base}/graphql",
            json={"query": QUERY},
            headers={"authorization": f"Bearer {found['MEMBER']}"},
        )
        body = response.json()
        assert response.status_code == 200 and "errors" not in body, body
        assert body["data"]["viewer"]["nickname"] == "Linus Member"
        [team] = body["data"]["teams"]
        assert team["name"] == "Punchclock Demo" and len(team["runningEntries"]) == 1
        assert 1800 <= team["timeEntries"]["totalCount"] <= 2200
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        reader.join(timeout=5)
        if process.stdout:
            process.stdout.close()
    # uvicorn shuts down gracefully on SIGTERM (it may re-raise the signal to say why).
    assert process.returncode in (0, -signal.SIGTERM), "".join(lines)
    assert "Traceback" not in "".join(lines)
