"""``punchclock serve --workers 2``: two worker processes, both answering."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from store.db import Database
from store.migrate import upgrade
from tests.e2e.server import free_port
from tests.factories import add_entries, make_team

pytestmark = pytest.mark.e2e

PAGE = """query($t: ID!) { timeEntries(filter: {teamId: $t}, first: 3) {
  nodes { id user { nickname } task { title category { title } } } } }"""


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


async def test_two_workers_answer(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'workers.db'}"
    await upgrade(url)
    db = Database(url)
    world = await make_team(db, "Acme", prefix="a")
    await add_entries(
        db, team_id=world.id, user_id=world.member.id, task_id=world.tasks["T-1"], count=5
    )
    await db.dispose()

    port = free_port()
    script = shutil.which("punchclock", path=str(Path(sys.executable).parent))
    assert script is not None
    process = subprocess.Popen(
        [script, "serve", "--workers", "2", "--port", str(port)],
        env={**os.environ, "PUNCHCLOCK_DATABASE_URL": url, "PUNCHCLOCK_LOG_LEVEL": "warning"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, "serve exited"
            try:
                if httpx.get(base + "/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "no answer within 60 s"
            time.sleep(0.2)
        # uvicorn's supervisor and its two workers (plus the multiprocessing tracker).
        while len(_children(process.pid)) < 2:
            assert time.monotonic() < deadline, "fewer than two workers"
            time.sleep(0.2)
        headers = {"authorization": f"Bearer {world.member.token}"}
        for _ in range(20):  # a new connection each: the kernel spreads them over workers
            r = httpx.post(
                base + "/graphql",
                json={"query": PAGE, "variables": {"t": world.id}},
                headers=headers,
                timeout=10,
            )
            nodes = r.json()["data"]["timeEntries"]["nodes"]
            assert [n["task"]["category"]["title"] for n in nodes] == ["API"] * 3
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
