#!/usr/bin/env bash
# The whole test suite, on both store backends, against real PostgreSQL, Redis and Chromium.
# Installs them (and chromedriver) with apt-get when missing, starts private instances on free
# loopback ports, runs `cargo test --workspace --all-targets`, and stops what it started.
# Arguments replace those (e.g. `scripts/test.sh --test api_admin`). To use servers you already
# run, set PARLEY_TEST_POSTGRES_URL (a role that may CREATE DATABASE) and/or
# PARLEY_TEST_REDIS_URL.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/services.sh

start_services
trap 'status=$?; stop_services || true; exit $status' EXIT

# With arguments, exactly those (`--all-targets` would override a `--test NAME`); without, all.
if [ $# -gt 0 ]; then
  cargo test "$@"
else
  cargo test --workspace --all-targets
fi
