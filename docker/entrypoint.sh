#!/bin/sh
# Migrations before start; then the command replaces this shell (signals reach it).
set -eu
if [ "${PUNCHCLOCK_MIGRATE:-true}" != "false" ]; then
  punchclock migrate
fi
exec "$@"
