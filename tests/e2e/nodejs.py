"""Node.js packages the end-to-end tests run (each folder pins its own in a lock file)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.services import IN_CI

TESTS = Path(__file__).parent.parent


def node_for(folder: str, package: str) -> str:
    """The ``node`` binary, with ``tests/<folder>`` installed by ``npm ci`` if needed."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        message = f"node and npm are needed for tests/{folder}"
        if IN_CI:
            pytest.fail(message + "; CI=true, so this fails instead of skipping")
        pytest.skip(message)
    if not (TESTS / folder / "node_modules" / package).is_dir():
        subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund"],
            cwd=TESTS / folder,
            check=True,
            capture_output=True,
        )
    return node
