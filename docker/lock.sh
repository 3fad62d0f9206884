#!/usr/bin/env bash
# Regenerates docker/requirements.lock: every runtime dependency and the build backend,
# pinned with the hashes of their files, for `pip install --require-hashes` in the image.
# Run it after changing pyproject.toml's dependencies (tests/test_docker.py checks that
# the lock still satisfies them). Needs pip-tools (pip install -e ".[dev]").
set -euo pipefail
cd "$(dirname "$0")/.."
# Only the public index: no machine-local wheel folders in a lock others install from.
env -u PIP_FIND_LINKS PIP_CONFIG_FILE=/dev/null "${PYTHON:-.venv/bin/python}" -m piptools compile \
  --quiet --generate-hashes --allow-unsafe --strip-extras --no-emit-index-url \
  --output-file docker/requirements.lock pyproject.toml docker/build.in
