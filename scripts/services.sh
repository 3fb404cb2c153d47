#!/usr/bin/env bash
# Test services: install PostgreSQL, Redis, Chromium and its WebDriver (chromedriver) from the
# distribution's packages when missing, start private instances (own data directory under a temp
# dir, free loopback ports), and stop them again. The browser tests start headless Chromium
# themselves through chromedriver. Sourced by scripts/test.sh; also usable by hand:
#   scripts/services.sh start   # prints the export lines for PARLEY_TEST_*_URL
#   scripts/services.sh stop DIR
set -euo pipefail

# More services plug in as scripts/services.d/NAME.sh, each adding NAME to SERVICE_PLUGINS and
# defining `packages_NAME` (prints the Debian packages it needs that are missing),
# `start_NAME` (starts it under $SERVICES_DIR/NAME unless its env var is already set, exports
# that var), `stop_NAME DIR` and `exports_NAME` (prints the names of the vars it exports).
SERVICE_PLUGINS=()
for plugin in "$(dirname "${BASH_SOURCE[0]}")"/services.d/*.sh; do
  [ -e "$plugin" ] || continue
  # shellcheck source=/dev/null
  source "$plugin"
done

services_need_root_install() {
  local missing=()
  [ -x "$(pg_bindir)/initdb" ] || missing+=(postgresql)
  command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
  if [ -z "${PARLEY_TEST_CHROMEDRIVER_URL:-}" ]; then
    command -v chromedriver >/dev/null 2>&1 || missing+=(chromium-driver)
    command -v chromium >/dev/null 2>&1 || missing+=(chromium)
  fi
  local plugin
  for plugin in "${SERVICE_PLUGINS[@]}"; do
    # shellcheck disable=SC2207
    missing+=($("packages_$plugin"))
  done
  if [ ${#missing[@]} -gt 0 ]; then
    echo "services: installing ${missing[*]} with apt-get" >&2
    local sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >&2
  fi
}

pg_bindir() {
  local dir
  dir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
  echo "${dir:-/usr/lib/postgresql/none/bin}"
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# Runs a command as the unprivileged postgres user when we are root (initdb refuses root).
as_pg() {
  if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

# start_services: sets SERVICES_DIR, PARLEY_TEST_POSTGRES_URL, PARLEY_TEST_REDIS_URL,
# PARLEY_TEST_CHROMEDRIVER_URL.
start_services() {
  services_need_root_install
  SERVICES_DIR=$(mktemp -d /tmp/parley-services.XXXXXX)
  chmod 755 "$SERVICES_DIR"
  local bin; bin=$(pg_bindir)

  if [ -z "${PARLEY_TEST_POSTGRES_URL:-}" ]; then
    local pg_port; pg_port=$(free_port)
    mkdir -p "$SERVICES_DIR/pg"
    [ "$(id -u)" -ne 0 ] || chown postgres: "$SERVICES_DIR/pg"
    as_pg "$bin/initdb" -D "$SERVICES_DIR/pg/data" -A trust -U postgres --no-sync -E UTF8 >"$SERVICES_DIR/pg/initdb.log" 2>&1 \
      || { cat "$SERVICES_DIR/pg/initdb.log" >&2; return 1; }
    # fsync off: a test cluster is thrown away; this only speeds up CREATE DATABASE per test.
    as_pg "$bin/pg_ctl" -D "$SERVICES_DIR/pg/data" -l "$SERVICES_DIR/pg/server.log" -w -t 60 \
      -o "-p $pg_port -k $SERVICES_DIR/pg -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off -c max_connections=400" start >/dev/null \
      || { cat "$SERVICES_DIR/pg/server.log" >&2; return 1; }
    echo "$pg_port" >"$SERVICES_DIR/pg.port"
    export PARLEY_TEST_POSTGRES_URL="postgres://postgres@127.0.0.1:$pg_port/postgres"
    echo "services: PostgreSQL on 127.0.0.1:$pg_port ($SERVICES_DIR/pg)" >&2
  fi

  if [ -z "${PARLEY_TEST_REDIS_URL:-}" ]; then
    local redis_port; redis_port=$(free_port)
    redis-server --port "$redis_port" --bind 127.0.0.1 --save '' --appendonly no --daemonize yes \
      --dir "$SERVICES_DIR" --pidfile "$SERVICES_DIR/redis.pid" --logfile "$SERVICES_DIR/redis.log" >/dev/null
    for _ in $(seq 1 50); do [ -s "$SERVICES_DIR/redis.pid" ] && break; sleep 0.1; done
    export PARLEY_TEST_REDIS_URL="redis://127.0.0.1:$redis_port/"
    echo "services: Redis on 127.0.0.1:$redis_port" >&2
  fi

  if [ -z "${PARLEY_TEST_CHROMEDRIVER_URL:-}" ]; then
    local driver_port; driver_port=$(free_port)
    mkdir -p "$SERVICES_DIR/chromedriver"
    (cd "$SERVICES_DIR/chromedriver" && exec chromedriver --port="$driver_port" --allowed-ips=127.0.0.1 \
      >"$SERVICES_DIR/chromedriver/driver.log" 2>&1 </dev/null) &
    echo $! >"$SERVICES_DIR/chromedriver.pid"
    local ready=""
    for _ in $(seq 1 100); do
      if python3 -c 'import sys,urllib.request; urllib.request.urlopen(sys.argv[1], timeout=1)' \
        "http://127.0.0.1:$driver_port/status" 2>/dev/null; then ready=1; break; fi
      sleep 0.1
    done
    [ -n "$ready" ] || { cat "$SERVICES_DIR/chromedriver/driver.log" >&2; return 1; }
    export PARLEY_TEST_CHROMEDRIVER_URL="http://127.0.0.1:$driver_port"
    echo "services: chromedriver on 127.0.0.1:$driver_port" >&2
  fi

  local plugin
  for plugin in "${SERVICE_PLUGINS[@]}"; do "start_$plugin"; done
}

stop_services() {
  local dir="${1:-${SERVICES_DIR:-}}"
  [ -n "$dir" ] && [ -d "$dir" ] || return 0
  local plugin
  for plugin in "${SERVICE_PLUGINS[@]}"; do "stop_$plugin" "$dir" || true; done
  if [ -d "$dir/pg/data" ]; then
    as_pg "$(pg_bindir)/pg_ctl" -D "$dir/pg/data" -m fast -w -t 60 stop >/dev/null 2>&1 || true
  fi
  if [ -s "$dir/chromedriver.pid" ]; then
    local driver_pid; driver_pid=$(cat "$dir/chromedriver.pid")
    kill "$driver_pid" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$driver_pid" 2>/dev/null || break; sleep 0.1; done
  fi
  if [ -s "$dir/redis.pid" ]; then
    local redis_pid; redis_pid=$(cat "$dir/redis.pid")
    kill "$redis_pid" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$redis_pid" 2>/dev/null || break; sleep 0.1; done
  fi
  # A server that is still exiting may write one last file while the tree is removed; try again
  # rather than fail a run whose tests passed. Stopping never changes the exit status.
  for _ in 1 2 3 4 5; do
    rm -rf "$dir" 2>/dev/null && return 0
    sleep 1
  done
  echo "services: could not remove $dir" >&2
  return 0
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  case "${1:-}" in
    start)
      start_services
      echo "export SERVICES_DIR=$SERVICES_DIR"
      echo "export PARLEY_TEST_POSTGRES_URL=${PARLEY_TEST_POSTGRES_URL}"
      echo "export PARLEY_TEST_REDIS_URL=${PARLEY_TEST_REDIS_URL}"
      echo "export PARLEY_TEST_CHROMEDRIVER_URL=${PARLEY_TEST_CHROMEDRIVER_URL}"
      for plugin in "${SERVICE_PLUGINS[@]}"; do
        for var in $("exports_$plugin"); do echo "export $var=${!var}"; done
      done
      ;;
    stop) stop_services "${2:?usage: services.sh stop DIR}" ;;
    *) echo "usage: scripts/services.sh start | stop DIR" >&2; exit 2 ;;
  esac
fi
