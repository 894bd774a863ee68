#!/usr/bin/env bash
# One set-up for a fresh machine, safe to run again: Debian packages, the Python environment, the JVM jars.
#   bash scripts/setup.sh          (what `make setup`, `make demo` and `make test` run first)
# Each step is skipped when what it would produce is already there and up to date.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
PYTHON=${PYTHON:-python3.11}
command -v "$PYTHON" >/dev/null || PYTHON=python3
STAMP_DIR=.venv/.stamps

say() { printf '\n== %s\n' "$*"; }

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

# --- Debian packages: servers the platform and its tests start on loopback (scripts/services.sh) ----
need_pkgs=()
[ -x /usr/lib/postgresql/15/bin/postgres ] || need_pkgs+=(postgresql-15 postgresql-client-15)
command -v redis-server >/dev/null || need_pkgs+=(redis-server)
command -v mvn >/dev/null || need_pkgs+=(maven)
command -v chromium >/dev/null || need_pkgs+=(chromium)
if [ ${#need_pkgs[@]} -gt 0 ]; then
  say "installing Debian packages: ${need_pkgs[*]}"
  export DEBIAN_FRONTEND=noninteractive
  as_root apt-get update -q
  # Package scripts must not start system-wide servers: services.sh starts its own on other ports.
  printf '#!/bin/sh\nexit 101\n' | as_root tee /usr/sbin/policy-rc.d >/dev/null
  as_root chmod +x /usr/sbin/policy-rc.d
  as_root apt-get install -y -q --no-install-recommends "${need_pkgs[@]}"
  as_root rm -f /usr/sbin/policy-rc.d
fi

# --- Python environment ----------------------------------------------------------------------------
want=$(cat pyproject.toml constraints.txt | sha256sum | cut -c1-16)
if [ ! -f "$STAMP_DIR/python-$want" ]; then
  say "Python environment (.venv) from pyproject.toml + constraints.txt"
  [ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
  .venv/bin/python -m pip install -q --upgrade pip wheel setuptools
  .venv/bin/python -m pip install -q -c constraints.txt --config-settings editable_mode=compat -e ".[test]"
  mkdir -p "$STAMP_DIR" && rm -f "$STAMP_DIR"/python-* && touch "$STAMP_DIR/python-$want"
fi

# --- JVM jars for Spark, resolved from Maven Central into .jars/ -----------------------------------
want=$(sha256sum jvm/pom.xml | cut -c1-16)
if [ ! -f ".jars/.resolved-$want" ]; then
  say "JVM jars (.jars/) from jvm/pom.xml"
  rm -rf .jars && mkdir -p .jars
  mvn -q -B -f jvm/pom.xml dependency:copy-dependencies
  touch ".jars/.resolved-$want"
fi

say "set-up complete ($ROOT)"
