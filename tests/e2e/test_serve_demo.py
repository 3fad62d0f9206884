"""The quick start: ``punchclock serve --demo`` on an empty SQLite file, as a newcomer runs it."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.e2e.server import free_port

pytestmark = pytest.mark.e2e


def test_serve_demo_from_scratch(tmp_path: Path) -> None:
    port = free_port()
    binary = shutil.which("punchclock", path=str(Path(sys.executable).parent)) or "punchclock"
    env = {**os.environ, "PUNCHCLOCK_DATABASE_URL": f"sqlite:///{tmp_path / 'demo.db'}"}
    process = subprocess.Popen(
        [binary, "serve", "--demo", "--port", str(port)],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: list[str] = []
    try:
        assert process.stdout is not None
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            line = process.stdout.readline()
            if not line and process.poll() is not None:
                break
            lines.append(line)
            if "Serving on" in line:
                break
        output = "".join(lines)
        tokens = re.findall(r"token: (pc_\S+)", output)
        assert len(tokens) == 3, output
        assert f"http://127.0.0.1:{port}/graphql" in output
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                assert time.monotonic() < deadline, output
                time.sleep(0.2)
        body = httpx.post(
            f"http://127.0.0.1:{port}/graphql",
            json={
                "query": """{ viewer { nickname }
            teams { name runningEntries { id } timeEntries(first: 1) { totalCount } } }"""
            },
            headers={"authorization": f"Bearer {tokens[2]}"},
        ).json()
        assert body["data"]["viewer"]["nickname"] == "Linus Member"
        [team] = body["data"]["teams"]
        assert team["name"] == "Punchclock Demo" and len(team["runningEntries"]) == 1
        assert team["timeEntries"]["totalCount"] > 1800
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if process.stdout:
            process.stdout.close()
    # uvicorn shuts down gracefully, then re-raises SIGTERM so the exit status tells why.
    assert process.returncode in (0, -signal.SIGTERM)
