#!/usr/bin/env bash
# Install the system services the tests need, each only if it is missing (fast when present):
#   chromium    headless browser of the MLflow UI test (tests/test_tracking_ui.py)
#   postgresql  initdb/pg_ctl under /usr/lib/postgresql/*/bin: the tests start a throw-away
#               server on loopback as the `postgres` user (the team-setup tests)
# Debian packages via apt-get. Run by `make test` and `.ci/run` (through make test).
set -euo pipefail

missing=()
if ! command -v chromium >/dev/null 2>&1 && ! command -v chromium-browser >/dev/null 2>&1; then
  missing+=(chromium)
fi
if ! compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null \
   || ! compgen -G "/usr/lib/postgresql/*/bin/pg_ctl" >/dev/null \
   || ! id postgres >/dev/null 2>&1; then
  missing+=(postgresql)
fi

if [ "${#missing[@]}" -eq 0 ]; then
  echo "setup-services: chromium and postgresql already installed"
  exit 0
fi

sudo=()
if [ "$(id -u)" -ne 0 ]; then
  if ! command -v sudo >/dev/null 2>&1; then
    echo "setup-services: missing ${missing[*]}; as root run:" >&2
    echo "  apt-get update && apt-get install -y ${missing[*]}" >&2
    exit 1
  fi
  sudo=(sudo)
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "setup-services: missing ${missing[*]} and no apt-get here; install them by hand" >&2
  exit 1
fi

echo "setup-services: installing ${missing[*]} (Debian packages)"
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
echo "setup-services: installed ${missing[*]}"
